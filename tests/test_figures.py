"""Report figures and progress output: the numbers a figure shows and the texts a reader relies on."""

import logging

import numpy as np
import pandas as pd
import pytest

from ddb import collect
from ddb.figures import amplifier_scores, common, group_accuracy, synthetic_vs_real, training_curves
from ddb.tools import screenshot
from ddb.core.logs import Progress


def test_group_accuracy_averages_seeds_per_run_and_group():
    metrics = [
        {"run": "erm", "seed": 0, "per_group": [{"label": 0, "bias": 0, "n": 10, "acc": 1.0},
                                                {"label": 0, "bias": 1, "n": 10, "acc": 0.2}]},
        {"run": "erm", "seed": 1, "per_group": [{"label": 0, "bias": 0, "n": 10, "acc": 0.8},
                                                {"label": 0, "bias": 1, "n": 10, "acc": 0.6}]},
        {"run": "ddb_i/base", "seed": 0, "per_group": [{"label": 0, "bias": 1, "n": 10, "acc": 0.9}]},
    ]
    table = group_accuracy.group_accuracy_table(metrics).set_index(["run", "label", "bias"])
    assert table.loc[("erm", 0, 0)].tolist() == pytest.approx([0.9, 0.1])  # mean, population std
    assert table.loc[("erm", 0, 1)].tolist() == pytest.approx([0.4, 0.2])
    assert table.loc[("ddb_i/base", 0, 1)].tolist() == pytest.approx([0.9, 0.0])
    fig = group_accuracy.group_accuracy_figure(table.reset_index(), {(0, 0): True, (0, 1): False}, {0: "circle"}, "toy")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["ddb_i/base: bias-conflicting mean 90.0 %", "erm: bias-conflicting mean 40.0 %"]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["circle/0", "circle/1"]  # aligned group first


def test_group_accuracy_without_bias_labels_says_so():
    fig = group_accuracy.group_accuracy_figure(group_accuracy.group_accuracy_table([{"run": "erm", "seed": 0}]), {}, {}, "bar")
    assert "no bias labels" in fig.axes[0].texts[0].get_text()


def test_amplifier_histogram_title_reports_detection_and_health():
    scores = pd.DataFrame({"amp_loss": np.r_[np.full(9, 0.01), 5.0], "bias_aligned": [True] * 9 + [False]})
    health = {"health": "likely useful", "real_error_rate": 0.1}
    detection = {"amp_auroc": 1.0, "amp_precision": 0.5, "amp_recall": 1.0, **health}
    fig = amplifier_scores.amplifier_scores_figure(scores, detection, "toy: amplifier trained on synthetic/base")
    ax = fig.axes[0]
    assert "AUROC 1.0000, error set precision 50.0 %, recall 100.0 %" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bias-aligned (n=9)", "bias-conflicting (n=1)"]
    assert "health: likely useful (misclassifies 10.0 % of the training images)" in ax.get_title()
    unknown = amplifier_scores.amplifier_scores_figure(scores.assign(bias_aligned=pd.NA), health, "toy")
    assert "no bias labels" in unknown.axes[0].get_title()
    assert "health: likely useful" in unknown.axes[0].get_title()  # the verdict needs no bias label


def test_training_curves_average_seeds():
    runs = {"erm": [pd.DataFrame({"step": [1, 2], "train_loss": [1.0, 0.5], "val_selection_score": [0.2, 0.4]}),
                    pd.DataFrame({"step": [1, 2], "train_loss": [3.0, 1.5], "val_selection_score": [0.4, 0.6]})]}
    fig = training_curves.training_curves_figure(pd.DataFrame({"step": [1, 2], "loss": [0.5, 0.1]}), {}, runs)
    loss_line = fig.axes[2].get_lines()[0]
    assert loss_line.get_ydata().tolist() == pytest.approx([2.0, 1.0])
    assert fig.axes[3].get_lines()[0].get_ydata().tolist() == pytest.approx([0.3, 0.5])


def test_synthetic_vs_real_frames_the_conflicting_real_images(tmp_path):
    from PIL import Image

    rows = []
    for k in range(2):
        (tmp_path / f"syn{k}").mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / f"syn{k}/sample_{i:05d}.png")
        for i in range(40):
            Image.new("RGB", (16, 16), (0, 200, 0)).save(tmp_path / f"real_{k}_{i}.png")
            rows.append({"path": f"real_{k}_{i}.png", "label": k, "label_name": f"c{k}", "split": "train",
                         "bias_aligned": i != 0})
    grids = synthetic_vs_real.synthetic_vs_real_rows(pd.DataFrame(rows), tmp_path, [tmp_path / "syn0", tmp_path / "syn1"])
    assert [g["name"] for g in grids] == ["c0", "c1"]
    assert grids[0]["synthetic"].shape == (3, 8, 8, 3)
    assert grids[0]["real"].shape == (32, 8, 8, 3)  # a sample, resized to the synthetic resolution
    assert grids[0]["conflicting"].sum() <= 1
    with pytest.raises(ValueError, match="re-run the sample_synthetic stage"):
        (tmp_path / "empty").mkdir()
        synthetic_vs_real.synthetic_vs_real_rows(pd.DataFrame(rows), tmp_path, [tmp_path / "empty"])


@pytest.mark.parametrize("classes", [2, 10])
def test_synthetic_vs_real_title_clears_the_class_titles(classes):
    """Ten classes (CMNIST, Colored Fashion-MNIST, CIFAR-10) make a tall figure: its title must not cover the first
    row's titles."""
    grid = np.zeros((32, 8, 8, 3), dtype=np.uint8)
    rows = [{"name": f"class {k}", "synthetic": grid, "real": grid, "conflicting": np.zeros(32, bool)}
            for k in range(classes)]
    fig = synthetic_vs_real.synthetic_vs_real_figure(rows)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    [title] = [text.get_window_extent(renderer) for text in fig.texts if text.get_text() == fig.get_suptitle()]
    first_row = [ax.title.get_window_extent(renderer) for ax in fig.axes[:2]]
    assert all(title.y0 >= box.y1 for box in first_row)


def test_run_and_amplifier_names_come_from_paths():
    assert common.run_name("results/d/debias/ddb_i/base/seed2/model", "results/d/debias") == "ddb_i/base"
    assert common.run_name("results/d/debias/erm/seed0/metrics.json", "results/d/debias") == "erm"
    assert common.amplifier_name("results/d/amplifier/synthetic/guidance_w=3.0/model") == "synthetic/guidance_w=3.0"


def test_results_page_leaves_out_columns_no_row_fills():
    table = pd.DataFrame([{c: None for c in collect.COLUMNS} | {
        "dataset": "d", "source": "s", "method": "erm", "seed": 0, "uses_bias_labels": False, "selection": "label_free",
        "in_config": True,
        "avg_acc": 0.5, "worst_group_acc": 0.25}])
    amplifiers = collect.amplifier_table([], [])
    page = collect.html_page(collect.mean_std_strings(collect.mean_table(table)), collect.percent(table), amplifiers)
    assert "<th>avg_acc</th>" in page and "50.00 ± 0.00" in page and "<th>bg_gap</th>" not in page


def test_bias_amplification_figure_draws_rho_and_detection_against_epochs(tmp_path):
    from ddb.figures.bias_amplification import bias_amplification_figure

    real = {"measured": "real", "rho": 0.99, "rho_per_class": [0.99, 0.99], "rho_labels": 0.99,
            "rho_labels_per_class": [0.99, 0.99], "classifier_holdout_acc": 0.98}
    synthetic = [{"measured": "synthetic/base", "rho": 1.0, "rho_per_class": [1.0, 1.0]}]
    detections = [{"amplifier": "synthetic/base", "trained_on": "synthetic", "epochs": 15, "amp_auroc": 1.0,
                   "amp_precision": 0.9, "amp_recall": 1.0}] + [
        {"amplifier": f"real/epochs={n}", "trained_on": "real", "epochs": n, "amp_auroc": 1 - n / 100,
         "amp_precision": 0.5, "amp_recall": 0.5} for n in (1, 3, 10)]
    fig = bias_amplification_figure(real, synthetic, detections, "d")
    left, right = fig.axes
    assert len(left.patches) == 3 * 3  # real (labels), real (classifier), synthetic: 2 classes + the mean
    real_auroc = next(line for line in right.get_lines() if line.get_label() == "real-data amplifier, AUROC")
    assert real_auroc.get_xdata().tolist() == [1, 3, 10]
    common.save_figure(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0


def test_report_without_results_is_a_clear_error():
    with pytest.raises(SystemExit, match="snakemake --report"):
        screenshot.embedded("<html></html>", "results")


def test_progress_logs_periodic_lines_without_a_terminal(caplog):
    with caplog.at_level(logging.INFO, logger="ddb.progress"):
        progress = Progress(10, 4, "toy", bar=False)
        for step in range(1, 11):
            progress(step, loss=1.0 / step)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" (")[0] for line in lines] == ["toy step 4/10 loss=0.25", "toy step 8/10 loss=0.125",
                                                        "toy step 10/10 loss=0.1"]


def test_progress_draws_a_bar_on_a_terminal(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="ddb.progress"):
        progress = Progress(10, 4, "toy", bar=True)
        for step in range(1, 11):
            progress(step, loss=0.5)
    assert not caplog.records  # the bar replaces the log lines
    assert "toy: 100%" in capsys.readouterr().err
