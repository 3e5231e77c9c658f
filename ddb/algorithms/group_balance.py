"""Group-balanced data (Idrissi et al., CLeaR 2022, "simple data balancing"): every group equally represented,
whether the groups are the true (label, bias) groups or an amplifier's pseudo-groups. Empty groups are ignored.

``subsample`` keeps a random ``smallest group size`` of each group's members (SUBG; DFR's balanced subsets);
``upsample`` draws every sample with probability inversely proportional to its group's size (every group drawn
equally often, with replacement).
"""

from __future__ import annotations

import torch

from ddb.algorithms.objective import Objective


def group_balanced(groups: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of a subset where every non-empty group keeps a random ``min group size`` of its members."""
    members = [torch.nonzero(groups == g).flatten() for g in torch.unique(groups)]
    size = min(len(m) for m in members)
    picked = [m[torch.randperm(len(m), generator=generator, device=generator.device).to(m.device)[:size]]
              for m in members]
    return torch.sort(torch.cat(picked)).values


def inverse_group_size_weights(groups: torch.Tensor) -> torch.Tensor:
    """Per-sample draw weights 1 / (size of its group): each group's weights sum to 1."""
    _, index, sizes = torch.unique(groups, return_inverse=True, return_counts=True)
    return 1.0 / sizes[index].double()


class BalancedDraws(Objective):
    """Mean cross-entropy over batches drawn with replacement, every group equally likely (``upsample``)."""

    def __init__(self, groups: torch.Tensor):
        self.sampling_weights = inverse_group_size_weights(groups)
