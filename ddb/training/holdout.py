"""A classifier trained for a number of epochs with a held-out fraction of its training images: the bias amplifier
(on synthetic or on real images) and the evaluation-only bias classifier share it.

The held-out images pick the kept epoch (lowest held-out loss: accuracy saturates within a few epochs) or, with
``select_epoch: last``, only report on it (the real-data amplifier of the memorisation ablation is the model after
exactly ``epochs`` epochs). One evaluation and one resumable checkpoint per epoch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb.core.atomic import atomic_dir
from ddb.core.images import ImageSet
from ddb.core.integrity import write_manifest
from ddb.models.classifiers import predict_logits, save_classifier
from ddb.training.checkpoint import Checkpoint
from ddb.training.curves import Curves
from ddb.training.loop import fit, new_classifier

log = logging.getLogger("ddb.training")


def train_with_holdout(data: ImageSet, num_classes: int, settings: dict, device: torch.device, out: Path,
                       info: dict, fingerprint: dict, what: str, lr_setting: str,
                       pretrained_weights: Path | None = None) -> None:
    """Train a fresh classifier of ``settings`` (from the staged ``pretrained_weights`` where it uses them) on
    ``data`` for ``settings["epochs"]`` epochs, holding out ``settings["holdout_fraction"]``, and write it to
    ``out`` with ``info`` (plus the kept epoch and its held-out accuracy) and its ``training_log.csv``."""
    generator = torch.Generator().manual_seed(settings["seed"])
    order = torch.randperm(len(data), generator=generator, device=generator.device)
    n_holdout = int(round(settings["holdout_fraction"] * len(data)))
    holdout, train = data.subset(order[:n_holdout]), data.subset(order[n_holdout:])
    log.info("%s: %d images (%d classes, %d px): %d train, %d held out", what, len(train) + len(holdout),
             num_classes, train.images.shape[-1], len(train), len(holdout))

    def validate(model):
        logits = predict_logits(model, holdout.images, device)
        loss = F.cross_entropy(logits, holdout.labels).item()
        return -loss, {"holdout_loss": loss, "holdout_acc": (logits.argmax(1) == holdout.labels).float().mean().item()}

    model = new_classifier(settings, num_classes, device, pretrained_weights)
    steps_per_epoch = max(1, len(train) // settings["batch_size"])
    # a checkpoint after every epoch: a killed job resumes at the next epoch
    checkpoint = Checkpoint(out, fingerprint | {"settings": settings}, every=steps_per_epoch)
    curves = Curves(out)
    best, history = fit(model, train, settings, settings["epochs"] * steps_per_epoch, generator, device,
                        eval_every=steps_per_epoch, validate=validate if n_holdout else None, checkpoint=checkpoint,
                        what=what, lr_setting=lr_setting, curves=curves)
    log_table = pd.DataFrame(history)
    log_table.insert(0, "epoch", log_table["step"] // steps_per_epoch)
    if settings["select_epoch"] == "holdout_loss" and n_holdout:
        model.load_state_dict(best.state)
        kept = best.step // steps_per_epoch
    else:  # the last epoch's weights are the model
        kept = int(log_table["epoch"].iloc[-1])
    holdout_acc = float(log_table.set_index("epoch")["holdout_acc"].get(kept, float("nan"))) if n_holdout else None
    log.info("keeping epoch %d of %d (held-out accuracy %s)", kept, settings["epochs"], holdout_acc)
    with atomic_dir(out) as tmp:
        save_classifier(model, tmp, {"arch": settings["arch"], "num_classes": num_classes,
                                     "image_size": int(train.images.shape[-1]), **info, "best_epoch": kept,
                                     "holdout_acc": holdout_acc, "settings": settings})
        log_table.to_csv(tmp / "training_log.csv", index=False)
        curves.keep(tmp)
        write_manifest(tmp)  # readers check the weights against it
    checkpoint.remove()
    curves.remove()
