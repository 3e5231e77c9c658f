import math

import numpy as np
import pandas as pd
import pytest

from ddb.algorithms.benchmark_conventions import train_weighted_accuracy, urbancars_gaps
from ddb.algorithms.detection import binary_auroc, precision_recall
from ddb.algorithms.metrics import classification_metrics, group_accuracies, selection_score

# label, bias, prediction: 2 classes x 2 biases, aligned = (label == bias)
LABEL = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
BIAS = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
PRED = np.array([0, 0, 1, 1, 1, 1, 1, 0, 1, 0])


def test_group_accuracies_hand_computed():
    groups = group_accuracies(PRED, LABEL, BIAS).set_index(["label", "bias"])
    assert groups.loc[(0, 0), "acc"] == pytest.approx(2 / 3)
    assert groups.loc[(0, 1), "acc"] == 0.0
    assert groups.loc[(1, 1), "acc"] == 1.0
    assert groups.loc[(1, 0), "acc"] == pytest.approx(1 / 3)
    assert groups["n"].tolist() == [3, 1, 3, 3]


def test_classification_metrics_hand_computed():
    m = classification_metrics(PRED, LABEL, BIAS, LABEL == BIAS)
    assert m["avg_acc"] == pytest.approx(6 / 10)
    assert m["worst_group_acc"] == 0.0
    assert m["aligned_acc"] == pytest.approx(5 / 6)  # 2/3 of (0,0) and 3/3 of (1,1)
    assert m["conflicting_acc"] == pytest.approx(1 / 4)  # 0/1 of (0,1) and 1/3 of (1,0)
    assert m["unbiased_acc"] == pytest.approx((2 / 3 + 0 + 1 + 1 / 3) / 4)  # cell mean, not sample mean
    assert m["worst_class_acc"] == pytest.approx(min(2 / 4, 4 / 6))


def test_metrics_without_bias_labels_are_nan():
    m = classification_metrics(PRED, LABEL)
    assert m["avg_acc"] == pytest.approx(0.6)
    assert math.isnan(m["worst_group_acc"]) and math.isnan(m["conflicting_acc"])


def test_auroc_hand_computed_with_ties():
    # positives {0.8, 0.4}, negatives {0.4, 0.1}: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 half) (0.4>0.1) -> 3.5/4
    assert binary_auroc([0.8, 0.4, 0.4, 0.1], [True, True, False, False]) == pytest.approx(3.5 / 4)
    assert binary_auroc([1, 2, 3], [False, False, True]) == 1.0
    assert binary_auroc([3, 2, 1], [False, False, True]) == 0.0
    assert math.isnan(binary_auroc([1, 2], [True, True]))


def test_precision_recall_hand_computed():
    precision, recall = precision_recall([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert precision == pytest.approx(2 / 3) and recall == pytest.approx(2 / 3)


def test_selection_modes():
    assert selection_score("label_free", PRED, LABEL) == pytest.approx(0.5)
    assert selection_score("oracle", PRED, LABEL, BIAS) == 0.0
    with pytest.raises(ValueError, match="needs bias labels"):
        selection_score("oracle", PRED, LABEL, None)


def test_train_weighted_accuracy_is_the_waterbirds_average():
    # test cells: (0,0) 1.0, (0,1) 0.5, (1,0) 0.0, (1,1) 1.0; training shares 0.7295/0.0384/0.0117/0.2204 (Waterbirds)
    groups = pd.DataFrame({"label": [0, 0, 1, 1], "bias": [0, 1, 0, 1], "n": [2, 2, 2, 2], "acc": [1.0, 0.5, 0.0, 1.0]})
    counts = {(0, 0): 3498, (0, 1): 184, (1, 0): 56, (1, 1): 1057}
    label = np.repeat([k[0] for k in counts], list(counts.values()))
    bias = np.repeat([k[1] for k in counts], list(counts.values()))
    expected = (3498 * 1.0 + 184 * 0.5 + 56 * 0.0 + 1057 * 1.0) / 4795
    assert train_weighted_accuracy(groups, label, bias) == pytest.approx(expected)
    assert train_weighted_accuracy(groups.iloc[:3], label, bias) == pytest.approx((3498 + 92) / 4795)  # absent cell: 0


def test_pseudo_group_selection_is_worst_cell_of_label_by_amplifier_prediction():
    pred = np.array([0, 0, 1, 1, 1, 0])
    label = np.array([0, 0, 0, 1, 1, 1])
    amp_pred = np.array([0, 0, 1, 1, 1, 0])  # cells (0,0): 2/2, (0,1): 0/1, (1,1): 2/2, (1,0): 0/1
    assert selection_score("label_free_pseudo_group", pred, label, amp_pred=amp_pred) == 0.0
    amp_pred = np.array([0, 0, 0, 1, 1, 1])  # cells (0,0): 2/3, (1,1): 2/3
    assert selection_score("label_free_pseudo_group", pred, label, amp_pred=amp_pred) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="amplifier's predictions"):
        selection_score("label_free_pseudo_group", pred, label)


def test_urbancars_gaps_hand_computed():
    # label 1 = urban car; bias = 2 * bg + co_occur_obj
    label = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    bias = np.array([3, 1, 2, 0, 0, 2, 1, 3])  # aligned, bg conflicts, co-obj conflicts, both; twice
    pred = np.array([1, 0, 1, 0, 0, 0, 1, 0])  # correct: aligned 2/2, bg-only 1/2, co-only 1/2, both 1/2
    gaps = urbancars_gaps(pred, label, bias, id_acc=0.9)
    assert gaps == pytest.approx({"bg_gap": 0.5 - 0.9, "coobj_gap": 0.5 - 0.9, "bg_coobj_gap": 0.5 - 0.9})
    pred = np.array([1, 1, 0, 0, 0, 0, 1, 1])  # bg-only 2/2, co-only 0/2, both 0/2
    assert urbancars_gaps(pred, label, bias, id_acc=0.9) == pytest.approx(
        {"bg_gap": 0.1, "coobj_gap": -0.9, "bg_coobj_gap": -0.9})
