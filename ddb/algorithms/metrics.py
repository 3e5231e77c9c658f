"""Evaluation metrics, plain functions of label / prediction / bias arrays (no files, no models).

Definitions (LfF / GroupDRO conventions):
- ``avg_acc``: plain accuracy over the split.
- group = (label, bias) cell; ``worst_group_acc`` = min over the cells present.
- ``aligned_acc`` / ``conflicting_acc``: accuracy over bias-aligned / bias-conflicting samples.
- ``unbiased_acc``: mean of the cell accuracies over the label x bias grid (not the sample accuracy when cells
  are unbalanced).
- ``worst_class_acc``: min over classes; needs no bias labels (label-free model selection).
- worst pseudo-group accuracy: min over (label, amplifier prediction) cells; label-free model selection too.
Validation (model selection) and the test split both use these; the benchmarks' own reporting conventions are in
ddb/algorithms/benchmark_conventions.py, the amplifier's detection quality in ddb/algorithms/detection.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def accuracy(pred, label) -> float:
    pred, label = np.asarray(pred), np.asarray(label)
    return float((pred == label).mean()) if len(label) else float("nan")


def group_accuracies(pred, label, bias) -> pd.DataFrame:
    """One row per (label, bias) cell present: n and accuracy."""
    df = pd.DataFrame({"label": np.asarray(label), "bias": np.asarray(bias), "correct": np.asarray(pred) == np.asarray(label)})
    out = df.groupby(["label", "bias"]).agg(n=("correct", "size"), acc=("correct", "mean")).reset_index()
    return out.astype({"label": "int64", "bias": "int64", "n": "int64", "acc": "float64"})


def worst_class_accuracy(pred, label) -> float:
    df = pd.DataFrame({"label": np.asarray(label), "correct": np.asarray(pred) == np.asarray(label)})
    return float(df.groupby("label")["correct"].mean().min())


def classification_metrics(pred, label, bias=None, bias_aligned=None) -> dict:
    """Every test metric; the bias metrics are NaN when bias labels are unknown."""
    metrics = {"avg_acc": accuracy(pred, label), "worst_class_acc": worst_class_accuracy(pred, label)}
    nan = float("nan")
    if bias is None:
        return metrics | {"worst_group_acc": nan, "aligned_acc": nan, "conflicting_acc": nan, "unbiased_acc": nan}
    groups = group_accuracies(pred, label, bias)
    aligned = np.asarray(bias_aligned, dtype=bool)
    pred, label = np.asarray(pred), np.asarray(label)
    return metrics | {
        "worst_group_acc": float(groups["acc"].min()),
        "aligned_acc": accuracy(pred[aligned], label[aligned]),
        "conflicting_acc": accuracy(pred[~aligned], label[~aligned]),
        "unbiased_acc": float(groups["acc"].mean()),
    }


SELECTION_MODES = ("label_free", "label_free_pseudo_group", "oracle")


def selection_score(mode: str, pred, label, bias=None, amp_pred=None) -> float:
    """Validation criterion for model selection: ``label_free`` = worst-class accuracy; ``label_free_pseudo_group``
    = worst accuracy over (label, amplifier prediction) cells; ``oracle`` = worst-group accuracy (bias labels)."""
    if mode == "label_free":
        return worst_class_accuracy(pred, label)
    if mode == "label_free_pseudo_group":
        if amp_pred is None:
            raise ValueError("label_free_pseudo_group selection needs the amplifier's predictions on the validation split")
        return float(group_accuracies(pred, label, amp_pred)["acc"].min())
    if mode == "oracle":
        if bias is None:
            raise ValueError("oracle model selection needs bias labels on the validation split")
        return float(group_accuracies(pred, label, bias)["acc"].min())
    raise ValueError(f"unknown selection mode {mode!r}; use one of {', '.join(SELECTION_MODES)}")
