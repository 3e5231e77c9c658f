"""The generator sweep's tool names only points its config plans, and the label-free health signals are what
their definitions say on a hand-made amplifier."""

import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from ddb.tools import generator_sweep, health_signal
from ddb.workflow.planning import REPO, SCHEMA, Plan


def test_every_point_of_the_sweep_is_planned_by_its_config():
    config = yaml.safe_load((REPO / "configs/generator_sweep.yaml").read_text())
    validate(config, str(SCHEMA))
    plan = Plan(config)
    for knob, dataset, variant, _ in generator_sweep.points():
        assert dataset in plan.datasets, (knob, dataset)
        assert variant in plan.sampling_variants, (knob, variant)


def test_health_signals_of_a_hand_made_amplifier():
    # 12 real training images of 3 classes: two errors of class 0 (both read as 1), two of class 2 (as 0 and as 1)
    scores = pd.DataFrame({"label": [0] * 4 + [1] * 4 + [2] * 4,
                           "amp_pred": [1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 2, 2],
                           "amp_confidence": [0.9, 0.7, 1, 1, 1, 1, 1, 1, 0.6, 0.8, 1, 1]})
    scores["amp_misclassified"] = scores["amp_pred"] != scores["label"]
    log = pd.DataFrame({"epoch": [1, 2], "holdout_loss": [0.5, 0.25]})
    got = health_signal.signals({"best_epoch": 2, "holdout_acc": 0.95}, log, scores)
    assert got["holdout_loss"] == 0.25 and got["holdout_acc"] == 0.95
    assert got["real_error_rate"] == pytest.approx(4 / 12)
    assert got["worst_class_error_rate"] == pytest.approx(0.5)
    assert got["class_error_spread"] == pytest.approx(0.5 / (4 / 12))
    assert got["error_confidence"] == pytest.approx((0.9 + 0.7 + 0.6 + 0.8) / 4)
    assert got["error_concentration"] == pytest.approx(3 / 4)  # class 0's pair holds 2, class 2's largest 1
