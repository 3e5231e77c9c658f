"""The contract between a method and the training loop: what a method optimises, batch by batch.

The loop gets from an objective the per-sample draw weights of the training set (``sampling_weights``; None =
shuffled epochs), the modules trained jointly with the model (``extra_modules``, e.g. LfF's biased model), and for
each batch the scalar loss from the batch's indices into the training set, the (augmented) images, their labels and
the model's per-sample cross-entropy, all on the training device (an objective keeps what it looks up per batch
there, so a step never waits for a copy); ``diagnostics`` adds the objective's own values to the training log.
``Objective`` itself is empirical risk minimisation.
"""

from __future__ import annotations

import torch
from torch import nn


class Objective:
    """Empirical risk: mean cross-entropy over uniformly shuffled batches."""

    sampling_weights: torch.Tensor | None = None
    extra_modules: tuple[nn.Module, ...] = ()

    def loss(self, idx, images, labels, per_sample_ce) -> torch.Tensor:
        return per_sample_ce.mean()

    def diagnostics(self) -> dict[str, float]:
        """Values the loop logs with each training-log row, averaged since the previous row ({} = none)."""
        return {}

    def state_dict(self) -> dict:
        """What changes during training besides the optimiser's parameters (for resumable checkpoints)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
