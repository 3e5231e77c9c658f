"""Recipe II and LfF: per-sample reweighting by relative difficulty (Nam et al., NeurIPS 2020; DDB Sec. 3).

  W(x) = L_amp(x) / (L_amp(x) + L_model(x) + eps)      (detached: no gradient flows through W)
  loss = (1/B) * sum_i W(x_i) * CE(f_model(x_i), y_i)

LfF options (both switchable for DDB-II): the per-sample losses are first smoothed by an EMA over visits,
e_i <- alpha e_i + (1 - alpha) l_i (the first visit stores l_i), then divided by the largest current value of the
sample's class over the whole training set. In LfF the biased model is trained jointly with GCE; in DDB it is the
frozen amplifier.

A sample the amplifier gets wrong (high L_amp: bias-conflicting) gets W near 1; one it gets right (bias-aligned)
gets W near 0 once the model also fits it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddb.algorithms.objective import Objective


def relative_difficulty(amp_loss: torch.Tensor, model_loss: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """W = L_amp / (L_amp + L_model + eps), detached."""
    amp_loss, model_loss = amp_loss.detach(), model_loss.detach()
    return amp_loss / (amp_loss + model_loss + eps)


def reweighted_loss(model_loss: torch.Tensor, amp_score: torch.Tensor, model_score: torch.Tensor | None = None,
                    eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch mean of W * per-sample model CE, with W from the amplifier's and the model's scores: the raw
    per-sample losses by default, or their LfF-smoothed values. Returns the loss and the weights W."""
    model_score = model_loss if model_score is None else model_score
    weights = relative_difficulty(amp_score, model_score, eps)
    return (weights * model_loss).mean(), weights


class WeightMeter:
    """The mean of the per-sample weights W since the last logged row (kept on the device: no sync per step)."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, weights: torch.Tensor) -> None:
        self.total, self.count = self.total + weights.detach().float().sum(), self.count + len(weights)

    def diagnostics(self) -> dict[str, float]:
        if not self.count:
            return {}
        mean = float(self.total) / self.count
        self.total, self.count = 0.0, 0
        return {"mean_weight": mean}


class LossEMA:
    """EMA of each training sample's loss across its visits (LfF), with class-wise max normalisation; kept on the
    device of ``labels`` (the training device), where the batch losses are."""

    def __init__(self, labels: torch.Tensor, alpha: float):
        self.labels, self.alpha = labels, alpha
        self.num_classes = int(labels.max()) + 1  # once: reading it per batch would wait for the device
        self.values = torch.zeros(len(labels), device=labels.device)
        self.seen = torch.zeros(len(labels), dtype=torch.bool, device=labels.device)

    def update(self, idx: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """Fold the detached batch losses of samples ``idx`` in; return their smoothed values."""
        loss = loss.detach().float()
        old = self.values[idx]
        self.values[idx] = torch.where(self.seen[idx], self.alpha * old + (1 - self.alpha) * loss, loss)
        self.seen[idx] = True
        return self.values[idx]

    def state_dict(self) -> dict:
        return {"values": self.values, "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:  # a checkpoint arrives on the CPU
        self.values, self.seen = state["values"].to(self.labels.device), state["seen"].to(self.labels.device)

    def classwise_normalised(self, idx: torch.Tensor) -> torch.Tensor:
        """Values of ``idx`` divided by the current maximum over the training samples of the same class."""
        class_max = torch.zeros(self.num_classes, device=self.values.device).scatter_reduce(
            0, self.labels, self.values, "amax")
        return self.values[idx] / class_max[self.labels[idx]].clamp(min=1e-8)


def gce_loss(logits: torch.Tensor, labels: torch.Tensor, q: float = 0.7) -> torch.Tensor:
    """Per-sample generalised cross-entropy (1 - p_y^q) / q (Zhang & Sabuncu 2018), LfF's biased-model loss."""
    p_label = logits.softmax(1).gather(1, labels[:, None])[:, 0]
    return (1 - p_label.clamp(min=1e-8) ** q) / q


def _smoothed(ema: LossEMA | None, idx, loss, classwise: bool):
    """Per-sample losses after LfF's optional EMA and class-wise max normalisation."""
    if ema is None:
        return loss.detach()
    ema.update(idx, loss)
    values = ema.classwise_normalised(idx) if classwise else ema.values[idx]
    return values.to(loss.device)


class FrozenAmplifierReweighting(Objective):
    """DDB Recipe II: W = L_amp / (L_amp + L_model) with the frozen amplifier's loss on the same batch."""

    def __init__(self, amplifier: nn.Module, train_labels: torch.Tensor, settings: dict):
        self.amplifier, self.eps, self.classwise = amplifier, settings["eps"], settings["classwise_norm"]
        alpha = settings["ema_alpha"]
        # class-wise normalisation needs values for the whole training set: it implies the (possibly alpha=0) EMA
        track = alpha > 0 or self.classwise
        self.amp_ema = LossEMA(train_labels, alpha) if track else None
        self.model_ema = LossEMA(train_labels, alpha) if track else None
        self.weights = WeightMeter()

    def loss(self, idx, images, labels, per_sample_ce):
        with torch.no_grad():
            amp_loss = F.cross_entropy(self.amplifier(images), labels, reduction="none")
        amp = _smoothed(self.amp_ema, idx, amp_loss, self.classwise)
        model = _smoothed(self.model_ema, idx, per_sample_ce, self.classwise)
        loss, weights = reweighted_loss(per_sample_ce, amp, model, self.eps)
        self.weights.add(weights)
        return loss

    def diagnostics(self):
        return self.weights.diagnostics()

    def state_dict(self):
        return {name: ema.state_dict() for name, ema in (("amp", self.amp_ema), ("model", self.model_ema)) if ema}

    def load_state_dict(self, state):
        for name, ema in (("amp", self.amp_ema), ("model", self.model_ema)):
            if ema:
                ema.load_state_dict(state[name])


class LearningFromFailure(Objective):
    """LfF (Nam et al. 2020): a biased model trained jointly with GCE supplies L_B; the same W as Recipe II."""

    def __init__(self, biased_model: nn.Module, train_labels: torch.Tensor, settings: dict):
        self.biased, self.q = biased_model, settings["q"]
        self.extra_modules = (biased_model,)
        self.classwise = settings["classwise_norm"]
        self.biased_ema = LossEMA(train_labels, settings["ema_alpha"])
        self.model_ema = LossEMA(train_labels, settings["ema_alpha"])
        self.weights = WeightMeter()

    def loss(self, idx, images, labels, per_sample_ce):
        biased_logits = self.biased(images)
        biased_ce = F.cross_entropy(biased_logits, labels, reduction="none")
        biased = _smoothed(self.biased_ema, idx, biased_ce, self.classwise)
        model = _smoothed(self.model_ema, idx, per_sample_ce, self.classwise)
        reweighted, weights = reweighted_loss(per_sample_ce, biased, model)
        self.weights.add(weights)
        return gce_loss(biased_logits, labels, self.q).mean() + reweighted

    def diagnostics(self):
        return self.weights.diagnostics()

    def state_dict(self):  # the biased model's optimiser state is saved with the training loop's optimiser
        return {"biased": self.biased.state_dict(), "biased_ema": self.biased_ema.state_dict(),
                "model_ema": self.model_ema.state_dict()}

    def load_state_dict(self, state):
        self.biased.load_state_dict(state["biased"])
        self.biased_ema.load_state_dict(state["biased_ema"])
        self.model_ema.load_state_dict(state["model_ema"])
