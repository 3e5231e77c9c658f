"""The one training loop of every classifier: the bias amplifier (on synthetic or on real images) and the target
model of every debiasing method. A method differs only in its objective (ddb/algorithms/objective.py).

Per step: draw a batch (shuffled epochs, or the objective's per-sample weights with replacement), augment it,
compute the model's per-sample cross-entropy, let the objective turn it into the loss, take one optimiser step.
Every ``eval_every`` steps the mean training loss, the mean size of a parameter update and the objective's own
diagnostics (Recipe II's mean weight) are logged and ``validate`` scores the model; the best-scoring weights are
kept (never chosen on the test split). With ``patience`` the loop stops once that many evaluations in a row have not
beaten the best score, so every method trains as long as its own validation score improves, within ``steps``.
With a checkpoint the whole state is saved periodically and a matching saved state is resumed.

Nothing in a step reads a value back to the host (on a GPU the host would wait for the device every step): the
batch and its indices reach the device through pinned memory, losses, gradient norms and update norms are summed
there, and the divergence check and the logged means are read once per logged row.
"""

from __future__ import annotations

import copy
import logging
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ddb.algorithms.objective import Objective
from ddb.core.images import ImageSet
from ddb.core.logs import Progress
from ddb.models.classifiers import build_classifier
from ddb.training.batches import BatchSampler
from ddb.training.checkpoint import Checkpoint, RandomState, TrainingRecord
from ddb.training.curves import Curves
from ddb.training.device import autocast, place, to_device, uses_bf16
from ddb.training.divergence import DivergenceWatch

log = logging.getLogger("ddb.training")


def build_optimizer(params, settings: dict) -> torch.optim.Optimizer:
    """``adam`` (default) or ``sgd`` with momentum 0.9 (the GroupDRO / JTT protocols), at ``lr`` and ``weight_decay``."""
    if settings.get("optimizer", "adam") == "sgd":
        return torch.optim.SGD(params, lr=settings["lr"], momentum=0.9, weight_decay=settings["weight_decay"])
    return torch.optim.Adam(params, lr=settings["lr"], weight_decay=settings["weight_decay"])


def new_classifier(settings: dict, num_classes: int, device: torch.device, pretrained_weights=None) -> nn.Module:
    """A freshly initialised classifier of a stage's ``settings`` (arch, pretrained, channels_last) on ``device``;
    ``pretrained_weights``: the staged folder of its ImageNet weights (rule stage_weights) when it uses them."""
    model = build_classifier(settings["arch"], num_classes, settings["pretrained"], pretrained_weights)
    return place(model, device, settings)


class UpdateNorm:
    """The norm of one optimiser step's change of the weights: the weights are copied into one buffer kept for the
    whole run and subtracted after the step, each with one multi-tensor (foreach) kernel call, so a step allocates
    nothing and launches a few kernels instead of three per parameter tensor."""

    def __init__(self, params):
        self.params = list(params)
        self.before = [torch.empty_like(p) for p in self.params]

    @torch.no_grad()
    def start(self) -> None:
        torch._foreach_copy_(self.before, self.params)

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        """The norm of the change since :meth:`start` (a tensor on the device)."""
        torch._foreach_sub_(self.before, self.params)
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(self.before)))


class BestKeeper:
    """Keeps a copy of the weights with the highest validation score (ties keep the earlier step), and counts the
    evaluations since that score was reached."""

    def __init__(self):
        self.score, self.step, self.state = -float("inf"), None, None
        self.evaluations_since_best = 0

    def state_dict(self) -> dict:
        return {"score": self.score, "step": self.step, "state": self.state,
                "evaluations_since_best": self.evaluations_since_best}

    def load_state_dict(self, state: dict) -> None:
        self.score, self.step, self.state = state["score"], state["step"], state["state"]
        self.evaluations_since_best = state["evaluations_since_best"]

    def offer(self, model: nn.Module, score: float, step: int) -> bool:
        if score > self.score:
            self.score, self.step, self.evaluations_since_best = score, step, 0
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return True
        self.evaluations_since_best += 1
        return False

    def patience_exhausted(self, patience: int) -> bool:
        """``patience`` evaluations in a row without a better score (0 = never)."""
        return patience > 0 and self.evaluations_since_best >= patience

    def stops_at(self, step: int, patience: int, min_steps: int) -> bool:
        """The stopping rule: patience exhausted, and at least ``min_steps`` steps trained."""
        return step >= min_steps and self.patience_exhausted(patience)


def fit(model: nn.Module, train: ImageSet, settings: dict, steps: int, generator: torch.Generator,
        device: torch.device, *, eval_every: int, objective: Objective | None = None,
        validate: Callable[[nn.Module], tuple[float, dict]] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        checkpoint: Checkpoint | None = None, what: str = "train", lr_setting: str = "classifier.lr",
        patience: int = 0, min_steps: int = 0, checkpoint_at_end: bool = False,
        curves: Curves | None = None) -> tuple[BestKeeper, list[dict]]:
    """Train ``model`` for at most ``steps`` steps on ``train``; ``settings`` gives batch_size, optimizer, lr,
    weight_decay and precision. ``validate(model) -> (score, logged values)`` runs every ``eval_every`` steps and
    the best-scoring weights are kept (higher is better); without it, the last weights. ``patience`` > 0 stops
    training after that many evaluations without a better score, once ``min_steps`` steps are done. ``augment``
    (ddb/training/augmentation.py) transforms each uint8 batch on the device before it is scaled to [0, 1]. A
    non-finite loss or gradient norm stops the stage (``lr_setting`` names the config key to lower).
    ``checkpoint_at_end`` saves the state after the last step too (a model the stage goes on to use, like JTT's
    identification model, so a job killed later does not train it again). ``curves`` also get each logged row
    (TensorBoard, when switched on). Returns the kept weights (``BestKeeper``) and the logged rows (the last row's
    step: steps trained)."""
    objective = objective or Objective()
    params = [*model.parameters(), *(p for m in objective.extra_modules for p in m.parameters())]
    optimizer = build_optimizer(params, settings)
    batches = BatchSampler(len(train), settings["batch_size"], generator, objective.sampling_weights)
    best, record = BestKeeper(), TrainingRecord()
    progress = Progress(steps, eval_every, what)
    first_step = 1
    if checkpoint:
        checkpoint.track(model=model, optimizer=optimizer, objective=objective, batches=batches, best=best,
                         random=RandomState(generator), record=record)
        first_step = checkpoint.restore() + 1
        if validate is not None and best.stops_at(first_step - 1, patience, min_steps):  # killed after stopping early
            first_step = steps + 1
    if curves:
        curves.start(first_step)

    for module in (model, *objective.extra_modules):
        module.train()
    bf16 = uses_bf16(device, settings["precision"])
    watch = DivergenceWatch(what, lr_setting, settings["lr"])
    update_norm = UpdateNorm(model.parameters())
    update_norms = []  # per step, left on the device: averaged once per logged row
    for step in range(first_step, steps + 1):
        idx = next(batches)
        images = to_device(train.images[idx], device)  # read from the store (or memory), augmented on the device
        if augment is not None:
            images = augment(images)
        images = images.float().div_(255)
        labels, device_idx = to_device(train.labels[idx], device), to_device(idx, device)
        with autocast(device, bf16):
            per_sample_ce = F.cross_entropy(model(images), labels, reduction="none")
            loss = objective.loss(device_idx, images, labels, per_sample_ce)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        watch.add(step, loss, torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
        update_norm.start()
        optimizer.step()
        update_norms.append(update_norm.finish())
        record.add(loss)
        stop = False
        if step % eval_every == 0 or step == steps:
            watch.check()
            # the mean update norm is the effective step size: a reweighted loss with mean weight W << 1 takes
            # smaller steps than ERM under SGD, not under Adam (which divides the gradient scale out)
            row = {"step": step, "train_loss": record.mean_running(),
                   "update_norm": torch.stack(update_norms).mean().item(), **objective.diagnostics()}
            update_norms = []
            if validate is not None:
                score, logged = validate(model)
                best.offer(model, score, step)
                row |= logged
                stop = best.stops_at(step, patience, min_steps)
            record.history.append(row)
            if curves:
                curves.add(row)
            progress(step, train_loss=row["train_loss"], **({"validation_score": score} if validate else {}))
        else:
            progress(step)
        if checkpoint and checkpoint.wanted(step, last_step=steps if checkpoint_at_end else None):
            watch.check()  # never a checkpoint of a diverged run
            checkpoint.save(step)
        if stop:
            log.info("%s: stopping at step %d, %d evaluations without a better validation score than step %d's",
                     what, step, patience, best.step)
            break
    watch.check()
    if curves:
        curves.close()
    if validate is None:
        best.offer(model, 0.0, steps)
    return best, record.history
