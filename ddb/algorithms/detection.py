"""How well an amplifier finds the bias-conflicting training images: a score's AUROC, an error set's precision and
recall. Computed with true bias labels, for evaluation only."""

from __future__ import annotations

import numpy as np
import pandas as pd


def binary_auroc(scores, positives) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positives`` (Mann-Whitney U, ties count half)."""
    scores, positives = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_recall(predicted, actual) -> tuple[float, float]:
    """Precision and recall of the boolean prediction ``predicted`` against the boolean truth ``actual``."""
    predicted, actual = np.asarray(predicted, dtype=bool), np.asarray(actual, dtype=bool)
    tp = float((predicted & actual).sum())
    precision = tp / predicted.sum() if predicted.sum() else float("nan")
    recall = tp / actual.sum() if actual.sum() else float("nan")
    return precision, recall
