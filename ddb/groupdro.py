"""GroupDRO (Sagawa et al., ICLR 2020, Algorithm 1) as a loss module, apart from any training loop.

Notation: B per-sample losses l_i with group ids g_i in {0..G-1}; q = adversarial group weights (q in simplex).
Per batch:
  1. L_g = sum_{i: g_i = g} l_i / max(1, |{i: g_i = g}|)           (absent groups: L_g = 0)
  2. q_g <- q_g * exp(eta * L_g)  (detached), then q <- q / sum(q)
  3. loss = sum_g q_g * L_g
"""

from __future__ import annotations

import torch
from torch import nn


def group_mean_losses(per_sample_loss: torch.Tensor, groups: torch.Tensor, num_groups: int):
    """(L_g, counts): mean loss of each group in the batch, shape (G,); 0 for groups absent from the batch."""
    one_hot = torch.nn.functional.one_hot(groups, num_groups).to(per_sample_loss.dtype)  # (B, G)
    counts = one_hot.sum(0)
    return per_sample_loss @ one_hot / counts.clamp(min=1), counts


class GroupDROLoss(nn.Module):
    def __init__(self, num_groups: int, step_size: float = 0.01):
        super().__init__()
        self.num_groups, self.step_size = num_groups, step_size
        self.register_buffer("group_weights", torch.full((num_groups,), 1.0 / num_groups))

    def forward(self, per_sample_loss: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        group_loss, _ = group_mean_losses(per_sample_loss, groups, self.num_groups)
        with torch.no_grad():
            weights = self.group_weights * torch.exp(self.step_size * group_loss.detach())
            self.group_weights.copy_(weights / weights.sum())
        return (self.group_weights * group_loss).sum()


def group_balanced_weights(groups: torch.Tensor) -> torch.Tensor:
    """Per-sample sampling weights 1/n_g, so that every group is drawn equally often (with replacement)."""
    counts = torch.bincount(groups)
    return 1.0 / counts[groups].double()


def pseudo_groups(label: torch.Tensor, amp_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Recipe I pseudo-group of each sample: (label, amplifier-predicted class) -> label * K + amp_pred."""
    return label * num_classes + amp_pred


def compact_ids(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Renumber the ids that occur to 0..G'-1 (empty pseudo-groups would otherwise hold GroupDRO weight)."""
    present, compact = torch.unique(ids, return_inverse=True)
    return compact, present
