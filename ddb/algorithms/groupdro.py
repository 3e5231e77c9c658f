"""GroupDRO (Sagawa et al., ICLR 2020, Algorithm 1) as a loss module, apart from any training loop.

Notation: B per-sample losses l_i with group ids g_i in {0..G-1}; q = adversarial group weights (q in simplex).
Per batch:
  1. L_g = sum_{i: g_i = g} l_i / max(1, |{i: g_i = g}|)           (absent groups: L_g = 0)
  2. q_g <- q_g * exp(eta * (L_g + C / sqrt(n_g)))  (detached), then q <- q / sum(q)
  3. loss = sum_g q_g * L_g
The group-size adjustment C / sqrt(n_g) (n_g = training count) enters the weight update only; the reference code
also adds it to the model's loss in place, which shifts the loss by a constant per group and is not copied here.
"""

from __future__ import annotations

import torch
from torch import nn

from ddb.algorithms.objective import Objective


def group_mean_losses(per_sample_loss: torch.Tensor, groups: torch.Tensor, num_groups: int):
    """(L_g, counts): mean loss of each group in the batch, shape (G,); 0 for groups absent from the batch. Computed
    in the loss's precision even under bf16 autocast (which would run the product in bf16)."""
    with torch.autocast(per_sample_loss.device.type, enabled=False):
        one_hot = torch.nn.functional.one_hot(groups, num_groups).to(per_sample_loss.dtype)  # (B, G)
        counts = one_hot.sum(0)
        return per_sample_loss @ one_hot / counts.clamp(min=1), counts


class GroupDROLoss(nn.Module):
    def __init__(self, num_groups: int, step_size: float = 0.01, adjustment: float = 0.0,
                 group_counts: torch.Tensor | None = None):
        super().__init__()
        self.num_groups, self.step_size = num_groups, step_size
        self.register_buffer("group_weights", torch.full((num_groups,), 1.0 / num_groups))
        if adjustment and group_counts is None:
            raise ValueError("the group adjustment C / sqrt(n_g) needs the training group counts")
        bonus = adjustment / group_counts.double().sqrt() if adjustment else torch.zeros(num_groups)
        self.register_buffer("size_adjustment", bonus.float())

    def forward(self, per_sample_loss: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        group_loss, _ = group_mean_losses(per_sample_loss, groups, self.num_groups)
        with torch.no_grad():
            weights = self.group_weights * torch.exp(self.step_size * (group_loss.detach() + self.size_adjustment))
            self.group_weights.copy_(weights / weights.sum())
        return (self.group_weights * group_loss).sum()


def group_balanced_weights(groups: torch.Tensor) -> torch.Tensor:
    """Per-sample sampling weights 1/n_g, so that every group is drawn equally often (with replacement)."""
    counts = torch.bincount(groups)
    return 1.0 / counts[groups].double()


def compact_ids(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Renumber the ids that occur to 0..G'-1 (empty pseudo-groups would otherwise hold GroupDRO weight)."""
    present, compact = torch.unique(ids, return_inverse=True)
    return compact, present


class GroupDRO(Objective):
    """GroupDRO over any group assignment: the true groups (oracle) or amplifier pseudo-groups (DDB Recipe I).

    ``settings``: ``step_size`` (eta), ``adjustment`` (C) and ``balanced_sampler`` (group-balanced batches drawn
    with replacement)."""

    def __init__(self, groups: torch.Tensor, settings: dict, device):
        self.groups, present = compact_ids(groups)  # empty groups would hold weight but never get a sample
        counts = torch.bincount(self.groups)
        self.group_sizes = dict(zip(present.tolist(), counts.tolist()))
        self.robust = GroupDROLoss(len(present), settings["step_size"], settings["adjustment"], counts).to(device)
        self.device_groups = self.groups.to(device)  # looked up per batch where the batch is
        if settings["balanced_sampler"]:
            self.sampling_weights = group_balanced_weights(self.groups)

    def loss(self, idx, images, labels, per_sample_ce):
        return self.robust(per_sample_ce, self.device_groups[idx])

    def state_dict(self):
        return {"robust": self.robust.state_dict()}

    def load_state_dict(self, state):
        self.robust.load_state_dict(state["robust"])
