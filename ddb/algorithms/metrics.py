"""Evaluation metrics, plain functions of label / prediction / bias arrays (no files, no models).

Definitions (LfF / GroupDRO conventions):
- ``avg_acc``: plain accuracy over the split.
- group = (label, bias) cell; ``worst_group_acc`` = min over the cells present.
- ``aligned_acc`` / ``conflicting_acc``: accuracy over bias-aligned / bias-conflicting samples.
- ``unbiased_acc``: mean of the cell accuracies over the label x bias grid (not the sample accuracy when cells
  are unbalanced).
- ``worst_class_acc``: min over classes; needs no bias labels (label-free model selection).
- ``train_weighted_acc``: test cell accuracies weighted by the cells' shares of the *training* set (the Waterbirds
  "average" of GroupDRO / JTT / DFR; the in-distribution accuracy of UrbanCars). ``avg_acc`` is the plain one.
- worst pseudo-group accuracy: min over (label, amplifier prediction) cells; label-free model selection too.
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


def train_weighted_accuracy(test_groups: pd.DataFrame, train_label, train_bias) -> float:
    """Sum over cells of (training share of the cell) x (test accuracy of the cell); cells absent from test count 0."""
    train = pd.DataFrame({"label": np.asarray(train_label), "bias": np.asarray(train_bias)})
    shares = train.value_counts(normalize=True).rename("share").reset_index()
    merged = shares.merge(test_groups[["label", "bias", "acc"]], on=["label", "bias"], how="left").fillna({"acc": 0.0})
    return float((merged["share"] * merged["acc"]).sum())


def urbancars_gaps(pred, label, bias, id_acc: float) -> dict:
    """UrbanCars (Whac-A-Mole): accuracy on the test images where the background only, the co-occurring object only,
    or both conflict with the car type, minus the in-distribution accuracy ``id_acc`` (negative = a drop).
    ``bias = 2 * background + co-occurring object`` (ddb/sources.py)."""
    pred, label, bias = np.asarray(pred), np.asarray(label), np.asarray(bias)
    bg_conflict, co_conflict = (bias // 2) != label, (bias % 2) != label
    def gap(mask):
        return accuracy(pred[mask], label[mask]) - id_acc
    return {"bg_gap": gap(bg_conflict & ~co_conflict), "coobj_gap": gap(~bg_conflict & co_conflict),
            "bg_coobj_gap": gap(bg_conflict & co_conflict)}


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
