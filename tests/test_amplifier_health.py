"""The label-free health verdict on an amplifier (ddb/algorithms/amplifier_health.py) and where it is written."""

import json

import numpy as np
import pandas as pd
import pytest

from ddb import evaluate_amplifier
from ddb.algorithms.amplifier_health import LIKELY_NOT, LIKELY_USEFUL, NOT_JUDGED, health_signals, health_verdict
from ddb.core.tables import write_table


def verdict(labels, misclassified, holdout_acc=1.0):
    return health_verdict(health_signals(labels, misclassified, holdout_acc))


def test_a_small_error_set_in_every_class_is_likely_useful():
    labels = np.repeat([0, 1], 50)
    misclassified = np.zeros(100, bool)
    misclassified[[0, 1, 50, 51, 52]] = True  # 5 % overall, 6 % of class 1
    assert health_signals(labels, misclassified, 0.9) == pytest.approx(
        {"real_error_rate": 0.05, "worst_class_error_rate": 0.06, "holdout_margin": 0.8})
    assert verdict(labels, misclassified) == LIKELY_USEFUL
    assert verdict(labels, misclassified, None) == LIKELY_USEFUL  # no held-out images: the error set decides


def test_a_large_error_set_is_likely_not():
    labels = np.repeat([0, 1], 50)
    misclassified = np.arange(100) % 5 == 0  # 20 % of each class: not a minority the bias explains
    assert verdict(labels, misclassified) == LIKELY_NOT


def test_an_error_set_that_is_much_of_one_class_is_likely_not_even_when_small_overall():
    labels = np.repeat(np.arange(10), 100)
    misclassified = np.zeros(1000, bool)
    misclassified[:30] = True  # 3 % overall, but 30 % of class 0: it fails that class
    assert health_signals(labels, misclassified, 1.0)["real_error_rate"] == 0.03
    assert verdict(labels, misclassified) == LIKELY_NOT


def test_an_amplifier_near_chance_on_its_own_held_out_images_is_likely_not():
    labels = np.repeat([0, 1], 50)
    misclassified = np.zeros(100, bool)  # a small error set, yet it cannot tell its own synthetic classes apart
    assert verdict(labels, misclassified, holdout_acc=0.7) == LIKELY_NOT  # 40 % of the way from 0.5 to 1
    assert verdict(labels, misclassified, holdout_acc=0.8) == LIKELY_USEFUL


def test_evaluate_amplifier_writes_the_verdict_without_bias_labels(tmp_path):
    n = 40
    scores = pd.DataFrame({
        "sample_id": [f"s{i}" for i in range(n)], "split": "train", "label": np.repeat([0, 1], n // 2),
        "bias": pd.array([pd.NA] * n, dtype="Int64"), "bias_aligned": pd.array([pd.NA] * n, dtype="boolean"),
        "amp_loss": np.float32(0.1), "amp_p_label": np.float32(0.9), "amp_pred": np.repeat([0, 1], n // 2),
        "amp_confidence": np.float32(0.9), "amp_misclassified": np.arange(n) == 0, "pseudo_group": 0})
    info = {"holdout_acc": 0.95, "trained_on": "synthetic"}
    write_table(scores, tmp_path / "scores.parquet", "scores", {"amplifier_info": info})
    out = tmp_path / "detection.json"
    evaluate_amplifier.main(["--scores", str(tmp_path / "scores.parquet"), "--dataset", "byo",
                             "--amplifier", "synthetic/base", "--out", str(out)])
    detection = json.loads(out.read_text())
    assert detection["health"] == LIKELY_USEFUL and detection["real_error_rate"] == 1 / n
    assert "amp_auroc" not in detection  # detection needs the bias labels this dataset lacks
    # a real-data amplifier is scored on its own training images: no verdict
    write_table(scores, tmp_path / "scores.parquet", "scores", {"amplifier_info": info | {"trained_on": "real"}})
    evaluate_amplifier.main(["--scores", str(tmp_path / "scores.parquet"), "--dataset", "byo",
                             "--amplifier", "real", "--out", str(out)])
    assert json.loads(out.read_text())["health"] == NOT_JUDGED


def test_the_documented_limits_are_the_code_s():
    from pathlib import Path

    from ddb.algorithms import amplifier_health as health

    text = (Path(__file__).resolve().parents[1] / "docs/amplifier-health.md").read_text().replace("\n", " ")
    assert (f"at most {100 * health.MAX_ERROR_RATE:.0f} % of the training images and at most "
            f"{100 * health.MAX_CLASS_ERROR_RATE:.0f} % of every class") in text
    assert f"at least {100 * health.MIN_HOLDOUT_MARGIN:.0f} % of the way from chance to perfect" in text
