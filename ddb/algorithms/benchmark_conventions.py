"""Reporting conventions of the benchmarks' papers, computed on the test split only (never for model selection).

- ``train_weighted_acc``: test cell accuracies weighted by the cells' shares of the *training* set (the Waterbirds
  "average" of GroupDRO / JTT / DFR; the in-distribution accuracy ID.ACC of UrbanCars). ``avg_acc`` is the plain one.
- UrbanCars' BG / CoObj / BG+CoObj gaps (Whac-A-Mole).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ddb.algorithms.metrics import accuracy


def train_weighted_accuracy(test_groups: pd.DataFrame, train_label, train_bias) -> float:
    """Sum over cells of (training share of the cell) x (test accuracy of the cell); cells absent from test count 0."""
    train = pd.DataFrame({"label": np.asarray(train_label), "bias": np.asarray(train_bias)})
    shares = train.value_counts(normalize=True).rename("share").reset_index()
    merged = shares.merge(test_groups[["label", "bias", "acc"]], on=["label", "bias"], how="left").fillna({"acc": 0.0})
    return float((merged["share"] * merged["acc"]).sum())


def urbancars_gaps(pred, label, bias, id_acc: float) -> dict:
    """UrbanCars (Whac-A-Mole): accuracy on the test images where the background only, the co-occurring object only,
    or both conflict with the car type, minus the in-distribution accuracy ``id_acc`` (negative = a drop).
    ``bias = 2 * background + co-occurring object`` (ddb/datasets/urbancars.py)."""
    pred, label, bias = np.asarray(pred), np.asarray(label), np.asarray(bias)
    bg_conflict, co_conflict = (bias // 2) != label, (bias % 2) != label
    def gap(mask):
        return accuracy(pred[mask], label[mask]) - id_acc
    return {"bg_gap": gap(bg_conflict & ~co_conflict), "coobj_gap": gap(~bg_conflict & co_conflict),
            "bg_coobj_gap": gap(bg_conflict & co_conflict)}
