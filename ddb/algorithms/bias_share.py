"""Bias amplification, measured: rho, the share of bias-aligned images per class.

For the real training split rho follows from the bias labels (or from a bias classifier's predictions); for a
synthetic set, which has no bias labels, from a bias classifier's predictions on its images. DDB's first claim is
rho_synthetic > rho_real: the diffusion model turns a strong correlation into an even stronger one. Without a bias
(the bias independent of the class) rho is about 1 / (number of bias values). Evaluation only: it needs bias labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def aligned_bias_values(labels, bias, aligned) -> dict[int, int]:
    """Per class, the bias value its bias-aligned training images carry (the most frequent one among them; a class
    with no aligned image falls back to its most frequent bias value)."""
    rows = pd.DataFrame({"label": np.asarray(labels), "bias": np.asarray(bias), "aligned": np.asarray(aligned, bool)})
    values = {}
    for label, group in rows.groupby("label"):
        pool = group[group["aligned"]] if group["aligned"].any() else group
        values[int(label)] = int(pool["bias"].value_counts().sort_index().idxmax())  # ties: the smallest value
    return values


def bias_aligned_share(labels, bias, aligned_values: dict[int, int], num_classes: int) -> np.ndarray:
    """rho per class: the share of the images of class k whose bias (true or predicted) is class k's aligned value;
    NaN for a class without images."""
    labels, bias = np.asarray(labels), np.asarray(bias)
    share = np.full(num_classes, np.nan)
    for k in range(num_classes):
        mine = labels == k
        if mine.any() and k in aligned_values:
            share[k] = float((bias[mine] == aligned_values[k]).mean())
    return share


def bias_counts_per_class(labels, bias, num_classes: int, num_values: int) -> np.ndarray:
    """(num_classes, num_values) image counts per (class, bias value): where a class's images that are not aligned
    went, e.g. whether a synthetic set's off-bias images spread over every value or sit on one near the aligned one."""
    cells = np.asarray(labels, dtype=np.int64) * num_values + np.asarray(bias, dtype=np.int64)
    return np.bincount(cells, minlength=num_classes * num_values).reshape(num_classes, num_values)
