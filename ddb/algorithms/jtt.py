"""JTT, "Just Train Twice" (Liu et al., ICML 2021): the error set of an early ERM model, upsampled.

Stage 1 trains ERM for T epochs; E = training samples it misclassifies. Stage 2 trains a fresh model on the
training set with every sample of E repeated ``upweight`` extra times (so it appears upweight + 1 times).
"""

from __future__ import annotations

import torch

from ddb.algorithms.objective import Objective


def upsampling_weights(error_set: torch.Tensor, upweight: int) -> torch.Tensor:
    """Per-sample draw weights equivalent to repeating each error-set sample ``upweight`` extra times."""
    return 1.0 + upweight * error_set.double()


def automatic_upweight(error_set: torch.Tensor) -> int:
    """JTT's ``up_weight = -1`` rule: int((N - |E|) / |E|) - 1, which balances E against the rest."""
    n_errors = int(error_set.sum())
    if n_errors == 0:
        raise ValueError("JTT's error set is empty: the identification model fits every training sample; "
                         "train it for fewer epochs (baselines.jtt.identification_epochs)")
    return max(0, int((len(error_set) - n_errors) / n_errors) - 1)


class Upsampled(Objective):
    """Mean cross-entropy over batches drawn with replacement by fixed per-sample weights (JTT stage 2)."""

    def __init__(self, sampling_weights: torch.Tensor):
        self.sampling_weights = sampling_weights
