"""What each method optimises: per-sample draw weights and a loss per batch (no files, no training loop).

Every objective gets the batch indices into the training set, the (augmented) batch, its labels, the model's
per-sample cross-entropy, and returns the scalar loss to minimise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddb.groupdro import GroupDROLoss, compact_ids, group_balanced_weights
from ddb.reweighting import LossEMA, gce_loss, reweighted_loss


class Objective:
    """Empirical risk: mean cross-entropy over uniformly shuffled batches."""

    sampling_weights: torch.Tensor | None = None  # per-sample draw weights; None = shuffled epochs
    extra_modules: tuple[nn.Module, ...] = ()  # trained jointly with the model (LfF's biased model)

    def loss(self, idx, images, labels, per_sample_ce) -> torch.Tensor:
        return per_sample_ce.mean()

    def state_dict(self) -> dict:
        """What changes during training besides the optimiser's parameters (for resumable checkpoints)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Upsampled(Objective):
    """Mean cross-entropy over batches drawn with replacement by fixed per-sample weights (JTT stage 2)."""

    def __init__(self, sampling_weights: torch.Tensor):
        self.sampling_weights = sampling_weights


class GroupDRO(Objective):
    """GroupDRO over any group assignment: true groups (oracle) or amplifier pseudo-groups (DDB Recipe I)."""

    def __init__(self, groups: torch.Tensor, settings: dict, device):
        self.groups, present = compact_ids(groups)  # empty groups would hold weight but never get a sample
        counts = torch.bincount(self.groups)
        self.group_sizes = dict(zip(present.tolist(), counts.tolist()))
        self.robust = GroupDROLoss(len(present), settings["step_size"], settings["adjustment"], counts).to(device)
        if settings["balanced_sampler"]:
            self.sampling_weights = group_balanced_weights(self.groups)

    def loss(self, idx, images, labels, per_sample_ce):
        return self.robust(per_sample_ce, self.groups[idx].to(per_sample_ce.device))

    def state_dict(self):
        return {"robust": self.robust.state_dict()}

    def load_state_dict(self, state):
        self.robust.load_state_dict(state["robust"])


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

    def loss(self, idx, images, labels, per_sample_ce):
        with torch.no_grad():
            amp_loss = F.cross_entropy(self.amplifier(images), labels, reduction="none")
        amp = _smoothed(self.amp_ema, idx, amp_loss, self.classwise)
        model = _smoothed(self.model_ema, idx, per_sample_ce, self.classwise)
        return reweighted_loss(per_sample_ce, amp, model, self.eps)

    def state_dict(self):
        return {name: ema.state_dict() for name, ema in (("amp", self.amp_ema), ("model", self.model_ema)) if ema}

    def load_state_dict(self, state):
        for name, ema in (("amp", self.amp_ema), ("model", self.model_ema)):
            if ema:
                ema.load_state_dict(state[name])


class LearningFromFailure(Objective):
    """LfF (Nam et al. 2020): a biased model trained jointly with GCE supplies L_B; same W as Recipe II."""

    def __init__(self, biased_model: nn.Module, train_labels: torch.Tensor, settings: dict):
        self.biased, self.q = biased_model, settings["q"]
        self.extra_modules = (biased_model,)
        self.classwise = settings["classwise_norm"]
        self.biased_ema = LossEMA(train_labels, settings["ema_alpha"])
        self.model_ema = LossEMA(train_labels, settings["ema_alpha"])

    def loss(self, idx, images, labels, per_sample_ce):
        biased_logits = self.biased(images)
        biased_ce = F.cross_entropy(biased_logits, labels, reduction="none")
        biased = _smoothed(self.biased_ema, idx, biased_ce, self.classwise)
        model = _smoothed(self.model_ema, idx, per_sample_ce, self.classwise)
        return gce_loss(biased_logits, labels, self.q).mean() + reweighted_loss(per_sample_ce, biased, model)

    def state_dict(self):  # the biased model itself is saved with the optimiser's parameters by the training loop
        return {"biased": self.biased.state_dict(), "biased_ema": self.biased_ema.state_dict(),
                "model_ema": self.model_ema.state_dict()}

    def load_state_dict(self, state):
        self.biased.load_state_dict(state["biased"])
        self.biased_ema.load_state_dict(state["biased_ema"])
        self.model_ema.load_state_dict(state["model_ema"])

