import math

import pytest

from ddb.collect import amplifier_table, mean_std_strings, mean_table, summary_table


def run(method, seed, conflicting, amplifier=None):
    return {"dataset": "d", "method": method, "seed": seed, "amplifier": amplifier, "uses_bias_labels": method == "groupdro_oracle",
            "selection": "label_free", "avg_acc": 0.5, "worst_group_acc": 0.1, "aligned_acc": 0.9,
            "conflicting_acc": conflicting, "unbiased_acc": 0.5, "worst_class_acc": 0.4, "per_group": []}


def test_rows_get_the_detection_of_the_amplifier_they_use_and_seeds_aggregate():
    metrics = [run("erm", 0, 0.2), run("erm", 1, 0.4), run("ddb_i", 0, 0.7, "synthetic/base"),
               run("ddb_i", 0, 0.6, "synthetic/guidance_w=3"), run("ddb_i_real_amplifier", 0, 0.5, "real")]
    detections = [{"dataset": "d", "amplifier": "synthetic/base", "amp_auroc": 0.99, "amp_precision": 0.8, "amp_recall": 1.0},
                  {"dataset": "d", "amplifier": "synthetic/guidance_w=3", "amp_auroc": 0.9, "amp_precision": 0.7, "amp_recall": 1.0},
                  {"dataset": "d", "amplifier": "real", "amp_auroc": 0.7, "amp_precision": 0.3, "amp_recall": 0.5}]
    amplifiers = amplifier_table(detections, [])
    table = summary_table(metrics, amplifiers).set_index(["method", "amplifier", "seed"])
    assert table.loc[("ddb_i", "synthetic/base", 0), "amp_auroc"] == 0.99
    assert table.loc[("ddb_i", "synthetic/guidance_w=3", 0), "amp_auroc"] == 0.9  # a sweep variant is its own row
    assert table.loc[("ddb_i_real_amplifier", "real", 0), "amp_auroc"] == 0.7
    assert math.isnan(table.reset_index().set_index(["method", "seed"]).loc[("erm", 0), "amp_auroc"])
    means = mean_table(summary_table(metrics, amplifiers)).set_index("method")
    assert len(means.loc["ddb_i"]) == 2
    assert means.loc["erm", "conflicting_acc_mean"] == pytest.approx(0.3)
    assert means.loc["erm", "conflicting_acc_std"] == pytest.approx(0.1)  # population std over seeds
    assert means.loc["erm", "n_seeds"] == 2
    shown = mean_std_strings(mean_table(summary_table(metrics, amplifiers))).set_index("method")
    assert shown.loc["erm", "conflicting_acc"] == "30.00 ± 10.00"


def test_rho_goes_to_the_amplifier_table_and_to_the_rows_of_the_runs_using_that_synthetic_set():
    metrics = [run("erm", 0, 0.2), run("ddb_i", 0, 0.7, "synthetic/base"), run("ddb_i_real_amplifier", 0, 0.5, "real/epochs=3")]
    detections = [{"dataset": "d", "amplifier": "synthetic/base", "trained_on": "synthetic", "epochs": 15,
                   "kept_epoch": 12, "health": "likely useful", "real_error_rate": 0.02, "worst_class_error_rate": 0.03,
                   "amp_auroc": 0.99, "amp_precision": 0.8, "amp_recall": 1.0},
                  {"dataset": "d", "amplifier": "real/epochs=3", "trained_on": "real", "epochs": 3, "kept_epoch": 3,
                   "amp_auroc": 0.9, "amp_precision": 0.5, "amp_recall": 0.6}]
    shares = [{"dataset": "d", "measured": "real", "rho": 0.98, "rho_labels": 0.99, "classifier_holdout_acc": 0.97},
              {"dataset": "d", "measured": "synthetic/base", "rho": 0.999, "classifier_holdout_acc": 0.97}]
    amplifiers = amplifier_table(detections, shares).set_index("amplifier")
    assert amplifiers.loc["synthetic/base", ["rho_real", "rho_real_labels", "rho_synthetic"]].tolist() == [0.98, 0.99, 0.999]
    assert math.isnan(amplifiers.loc["real/epochs=3", "rho_synthetic"])
    assert amplifiers.loc["real/epochs=3", "epochs"] == 3
    assert amplifiers.loc["synthetic/base", ["health", "real_error_rate"]].tolist() == ["likely useful", 0.02]
    table = summary_table(metrics, amplifiers.reset_index()).set_index("method")
    assert table["rho_real"].tolist() == [0.98] * 3  # a property of the dataset: every row
    assert table.loc["ddb_i", "rho_synthetic"] == 0.999 and math.isnan(table.loc["erm", "rho_synthetic"])
