"""Stage "collect": every run's metrics into result tables.

- ``summary.csv`` / ``summary.md``: one row per (dataset, method, amplifier, seed). Rows of methods that use an
  amplifier carry that amplifier's detection quality on the training set; ``amplifier`` says what it was trained on:
  ``real`` or ``synthetic/<sampling variant>`` (``base`` = the ``sampling`` section, others from ``sweeps.sampling``).
- ``summary_mean.csv`` / ``summary_mean.md``: per (dataset, method, amplifier), mean and std over seeds.
- ``amplifiers.csv`` / ``amplifiers.md``: one row per (dataset, amplifier): what it was trained on and for how many
  epochs, its detection quality, and rho (share of bias-aligned images per class, by the evaluation-only bias
  classifier) of the real training split and of the synthetic set it was trained on.
- ``summary.html``: the tables on one page for the Snakemake report, without the columns no row fills.
``uses_bias_labels`` says whether the method or its model selection read any bias label. No finished run is lost
from the tables: besides the runs of the current config (its declared inputs), every other ``metrics.json`` under
``--results-root`` (another dataset, a method no longer configured) is kept, with ``in_config`` false.
"""

from __future__ import annotations

import argparse
import html
import logging
from pathlib import Path

import pandas as pd

from ddb.core.atomic import atomic_file, write_text
from ddb.core.integrity import DamagedArtifact
from ddb.core.json_artifacts import BIAS_SHARE_KEYS, DETECTION_KEYS, METRICS_KEYS, read_json
from ddb.core.logs import start_stage

log = logging.getLogger("ddb.collect")
METRICS = ["avg_acc", "train_weighted_acc", "worst_group_acc", "aligned_acc", "conflicting_acc", "unbiased_acc",
           "worst_class_acc", "bg_gap", "coobj_gap", "bg_coobj_gap", "val_acc", "amp_auroc", "amp_precision",
           "amp_recall"]
# measured by the evaluation-only bias classifier: rho of the real training split and of the run's synthetic set
RHO = ["rho_real", "rho_synthetic"]
# how each run trained (not percentages): steps until early stopping, mean update norm, Recipe II / LfF mean W
TRAINING = ["steps_trained", "mean_update_norm", "mean_weight"]
# what each run's training was computed on: on a CPU the thread count and CPU model change the floating-point sums
COMPUTE = ["device", "torch_threads"]
COLUMNS = ["dataset", "source", "method", "seed", "uses_bias_labels", "selection", "amplifier", "in_config", *METRICS,
           *RHO, *TRAINING, *COMPUTE]
# from detection.json: what the amplifier is, its label-free health, its detection (bias labels)
DETECTION_COLUMNS = ["dataset", "amplifier", "trained_on", "epochs", "kept_epoch", "health", "real_error_rate",
                     "worst_class_error_rate", "holdout_margin", "amp_auroc", "amp_precision", "amp_recall",
                     "n_conflicting", "n_predicted_conflicting"]
AMPLIFIER_COLUMNS = [*DETECTION_COLUMNS, "rho_real", "rho_real_labels", "rho_synthetic", "bias_classifier_acc"]
NOTE = ("Accuracies in % on the test split. Column conventions: avg_acc = plain accuracy (BAR's and SubpopBench's "
        "\"Avg.\"); train_weighted_acc = (label, bias) cell accuracies weighted by the cells' training shares "
        "(Waterbirds' \"Avg.\" in GroupDRO / JTT / DFR); worst_group_acc = WGA; aligned_acc / conflicting_acc = "
        "accuracy on bias-aligned / bias-conflicting images (BFFHQ's \"Confl.\"); unbiased_acc = mean over the "
        "label x bias cells (LfF's \"unbiased\", CMNIST / Corrupted CIFAR-10); worst_class_acc needs no bias labels; "
        "UrbanCars: train_weighted_acc is ID.ACC and bg_gap / coobj_gap / bg_coobj_gap are the BG / CoObj / BG+CoObj "
        "gaps (conflicting accuracy minus ID.ACC, negative as in Whac-A-Mole); ImageNet-9: avg_acc is ImageNet-A "
        "accuracy. val_acc = plain accuracy on the val split (no better than val's most frequent class: the model "
        "learnt nothing usable; evaluate warns). "
        "amp_* = detection of the bias-conflicting training images by the amplifier the method uses (AUROC of its "
        "loss; precision/recall of its error set), computed with true bias labels for evaluation only. "
        "uses_bias_labels: the method or its model selection read bias labels. in_config: the run belongs to the "
        "current config (false: a finished run of another dataset or of a method no longer configured). "
        "rho_real / rho_synthetic = share of bias-aligned images per class (mean over classes) of the real training "
        "split and of the synthetic set behind the run's amplifier, by a bias classifier trained on val bias labels "
        "(evaluation only). steps_trained = optimiser steps until early stopping; mean_update_norm = mean norm of a "
        "parameter update (the effective step size); mean_weight = mean per-sample weight W (Recipe II, LfF). device / "
        "torch_threads = what the run trained on: the same seed gives the same numbers on the same CPU model with "
        "the same thread count (a job's threads follow --cores).\n\n")


def amplifier_table(detections: list[dict], bias_shares: list[dict]) -> pd.DataFrame:
    """One row per (dataset, amplifier) with its detection quality and the rho values that go with it."""
    amp = pd.DataFrame(detections).reindex(columns=DETECTION_COLUMNS)
    shares = pd.DataFrame(bias_shares).reindex(columns=["dataset", "measured", "rho", "rho_labels",
                                                        "classifier_holdout_acc"])
    real = shares[shares["measured"] == "real"].rename(columns={
        "rho": "rho_real", "rho_labels": "rho_real_labels", "classifier_holdout_acc": "bias_classifier_acc"})
    table = amp.merge(real[["dataset", "rho_real", "rho_real_labels", "bias_classifier_acc"]], on="dataset", how="left")
    synthetic = shares[shares["measured"] != "real"].rename(columns={"measured": "amplifier", "rho": "rho_synthetic"})
    table = table.merge(synthetic[["dataset", "amplifier", "rho_synthetic"]], on=["dataset", "amplifier"], how="left")
    return table[AMPLIFIER_COLUMNS].sort_values(["dataset", "amplifier"]).reset_index(drop=True)


AMPLIFIER_NOTE = ("health: the label-free verdict on the amplifier (\"likely useful\" / \"likely not\"; n/a for a "
                  "real-data amplifier), from real_error_rate, the share of real training images it misclassifies, "
                  "and worst_class_error_rate, the largest such share of one class, in %, and holdout_margin, its "
                  "accuracy on its held-out images from chance (0) to perfect (1) (docs/amplifier-health.md says "
                  "how far it can be trusted). Detection of the bias-conflicting training images (AUROC of the "
                  "amplifier loss, precision / recall of its error set, in %), with true bias labels for evaluation"
                  " only. epochs = epochs trained, kept_epoch = the epoch whose weights are the amplifier. rho = "
                  "share of bias-aligned images per class (mean over classes): rho_real of the real training split "
                  "by the bias classifier (rho_real_labels: from the bias labels), rho_synthetic of the synthetic "
                  "set the amplifier was trained on. bias_classifier_acc = the bias classifier's accuracy on "
                  "held-out val images (%).\n\n")


def summary_table(metrics: list[dict], amplifiers: pd.DataFrame) -> pd.DataFrame:
    """One row per run; ``in_config`` (default true) marks the runs of the current config."""
    runs = pd.DataFrame([{"in_config": True} | {k: v for k, v in m.items() if k != "per_group"} for m in metrics])
    measured = {"amp_auroc", "amp_precision", "amp_recall", *RHO}
    own = [c for c in COLUMNS if c not in measured and c not in runs.columns]  # e.g. from older metrics
    runs = runs.reindex(columns=[*runs.columns, *own])
    table = runs.merge(amplifiers[["dataset", "amplifier", "amp_auroc", "amp_precision", "amp_recall",
                                   "rho_synthetic"]], on=["dataset", "amplifier"], how="left")
    table = table.merge(amplifiers.groupby("dataset")["rho_real"].first().reset_index(), on="dataset", how="left")
    return table[COLUMNS].sort_values(["dataset", "method", "amplifier", "seed"]).reset_index(drop=True)


def mean_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and number of seeds per (dataset, method, amplifier)."""
    keys = ["dataset", "source", "method", "uses_bias_labels", "selection", "amplifier", "in_config"]
    labelled = table.astype({"amplifier": object, "source": object}).fillna({"amplifier": "-", "source": "-"})
    grouped = labelled.groupby(keys, sort=True)[[*METRICS, *RHO, *TRAINING]]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=0).add_suffix("_std"))
    return out.join(grouped.size().rename("n_seeds")).reset_index()


def markdown(table: pd.DataFrame, title: str) -> str:
    return f"# {title}\n\n" + NOTE + table.to_markdown(index=False) + "\n"


def percent(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    shown[METRICS] = (100 * shown[METRICS]).round(2)
    shown[RHO] = shown[RHO].round(4)
    shown[TRAINING] = shown[TRAINING].round(4)
    shown["amp_auroc"] = (100 * table["amp_auroc"]).round(4)  # detectors near 100 % differ in the 3rd decimal
    return shown


def mean_std_strings(means: pd.DataFrame) -> pd.DataFrame:
    """``81.30 ± 0.40`` cells (percent) for people; the CSV keeps the numbers."""
    shown = means[["dataset", "source", "method", "uses_bias_labels", "selection", "amplifier", "in_config",
                   "n_seeds"]].copy()
    for metric in METRICS:
        m, s = 100 * means[f"{metric}_mean"], 100 * means[f"{metric}_std"]
        digits = 4 if metric == "amp_auroc" else 2
        shown[metric] = [f"{a:.{digits}f} ± {b:.{digits}f}" if pd.notna(a) else "" for a, b in zip(m, s)]
    for column in (*RHO, *TRAINING):  # not percentages
        m, s = means[f"{column}_mean"], means[f"{column}_std"]
        digits = 0 if column == "steps_trained" else 4
        shown[column] = [f"{a:.{digits}f} ± {b:.{digits}f}" if pd.notna(a) else "" for a, b in zip(m, s)]
    return shown


def html_page(shown_means: pd.DataFrame, shown_runs: pd.DataFrame, shown_amplifiers: pd.DataFrame) -> str:
    """One self-contained page: the mean ± std table, the amplifiers, then every run (as in the Markdown tables);
    columns empty in every row are left out."""
    def html_table(frame: pd.DataFrame) -> str:
        frame = frame.replace("", pd.NA).dropna(axis=1, how="all")
        return frame.to_html(index=False, na_rep="", border=0, classes="results")

    style = ("body{font-family:sans-serif;margin:1em}table.results{border-collapse:collapse;font-size:13px}"
             "table.results th,table.results td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
             "table.results th{background:#f3f3f3}p{max-width:70em;font-size:13px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>DDB results</title><style>{style}</style>"
            f"</head><body><h2>Results, mean ± std over seeds</h2><p>{html.escape(NOTE.strip())}</p>"
            f"{html_table(shown_means)}<h2>Amplifiers: detection quality and bias amplification (rho)</h2>"
            f"{html_table(shown_amplifiers)}<h2>Results per run</h2>{html_table(shown_runs)}</body></html>\n")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metrics", required=True, nargs="+", type=Path, help="metrics.json files from evaluate")
    p.add_argument("--detection", nargs="*", default=[], type=Path, help="detection.json files from evaluate_amplifier")
    p.add_argument("--bias-share", nargs="*", default=[], type=Path, help="rho JSON files from measure_bias")
    p.add_argument("--results-root", type=Path,
                   help="also keep every other finished run below this folder (<dataset>/debias/**/metrics.json)")
    p.add_argument("--out-dir", required=True, type=Path, help="folder for summary{,_mean}.{csv,md} and summary.html")
    return p.parse_args(argv)


def other_results(root: Path, declared: list[Path], pattern: str) -> list[Path]:
    """Files matching ``pattern`` below ``root`` that are not among ``declared``."""
    known = {p.resolve() for p in declared}
    return sorted(p for p in root.glob(pattern) if p.resolve() not in known)


def read_other_results(paths: list[Path], keys: tuple[str, ...]) -> list[dict]:
    """Finished results the config does not name: a damaged one is reported and skipped, not fatal to the tables."""
    results = []
    for path in paths:
        try:
            results.append(read_json(path, keys))
        except DamagedArtifact as error:
            log.warning("left out of the tables: %s", error)
    return results


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    # the declared inputs were checked by check_results before this job deleted the previous tables
    metrics = [read_json(p, METRICS_KEYS) for p in args.metrics]
    detections = [read_json(p, DETECTION_KEYS) for p in args.detection]
    bias_shares = [read_json(p, BIAS_SHARE_KEYS) for p in args.bias_share]
    if args.results_root:
        others = other_results(args.results_root, args.metrics, "*/debias/**/metrics.json")
        metrics += [m | {"in_config": False} for m in read_other_results(others, METRICS_KEYS)]
        detections += read_other_results(
            other_results(args.results_root, args.detection, "*/amplifier/**/detection.json"), DETECTION_KEYS)
        for pattern in ("*/bias_classifier/real_bias_share.json", "*/synthetic/*/bias_share.json"):
            bias_shares += read_other_results(other_results(args.results_root, args.bias_share, pattern),
                                              BIAS_SHARE_KEYS)
        if others:
            log.info("kept %d finished runs that the current config does not name: %s", len(others),
                     ", ".join(map(str, others[:10])) + (" ..." if len(others) > 10 else ""))
    amplifiers = amplifier_table(detections, bias_shares)
    table = summary_table(metrics, amplifiers)
    means = mean_table(table)
    for name, frame in (("summary", table), ("summary_mean", means), ("amplifiers", amplifiers)):
        with atomic_file(args.out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    shown_runs, shown_means = percent(table), mean_std_strings(means)
    write_text(args.out_dir / "summary.md", markdown(shown_runs, "Results per run"))
    write_text(args.out_dir / "summary_mean.md", markdown(shown_means, "Results, mean ± std over seeds"))
    shown_amplifiers = amplifiers.copy()
    shown_amplifiers["amp_auroc"] = (100 * shown_amplifiers["amp_auroc"]).round(4)
    for column in ("amp_precision", "amp_recall", "bias_classifier_acc", "real_error_rate", "worst_class_error_rate"):
        shown_amplifiers[column] = (100 * shown_amplifiers[column]).round(2)
    write_text(args.out_dir / "amplifiers.md", "# Amplifiers\n\n" + AMPLIFIER_NOTE
               + shown_amplifiers.to_markdown(index=False) + "\n")
    write_text(args.out_dir / "summary.html", html_page(shown_means, shown_runs, shown_amplifiers))
    log.info("collected %d runs:\n%s", len(table), shown_means.to_string(index=False))


if __name__ == "__main__":
    main()
