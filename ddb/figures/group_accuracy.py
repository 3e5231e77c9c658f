"""Figure "group accuracy": test accuracy of each method on every (class, bias) group, mean and std over seeds.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ddb.core.json_artifacts import METRICS_KEYS, read_json
from ddb.core.logs import start_stage
from ddb.core.tables import read_table
from ddb.figures.common import ALIGNED_COLOUR, CONFLICTING_COLOUR, class_names, plt, run_name, save_figure

log = logging.getLogger("ddb.figures.group_accuracy")


def group_accuracy_table(metrics: list[dict]) -> pd.DataFrame:
    """Per (run, label, bias): mean and std of test accuracy over seeds (population std, as in the result tables)."""
    rows = [{"run": m["run"], "seed": m["seed"], **g} for m in metrics for g in m.get("per_group", [])]
    if not rows:
        return pd.DataFrame(columns=["run", "label", "bias", "mean", "std"])
    frame = pd.DataFrame(rows)
    return frame.groupby(["run", "label", "bias"])["acc"].agg(mean="mean", std=lambda a: a.std(ddof=0)).reset_index()


def group_accuracy_figure(table: pd.DataFrame, aligned: dict[tuple[int, int], bool], class_names: dict[int, str],
                          dataset: str) -> plt.Figure:
    """One panel per run, one bar per (class, bias) group: bias-aligned groups blue, bias-conflicting red, the same
    group order in every panel so panels compare at a glance."""
    if table.empty:
        fig, ax = plt.subplots(figsize=(7, 2))
        ax.text(0.5, 0.5, f"{dataset}: the test split has no bias labels, so there are no groups to show",
                ha="center", va="center")
        ax.set_axis_off()
        return fig
    groups = sorted({(int(r.label), int(r.bias)) for r in table.itertuples()},
                    key=lambda g: (g[0], not aligned.get(g, False), g[1]))
    runs = sorted(table["run"].unique())
    columns = min(3, len(runs))
    rows = -(-len(runs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(max(5.0, 0.22 * len(groups) + 1.5) * columns, 2.8 * rows),
                             squeeze=False, sharey=True)
    indexed = table.set_index(["run", "label", "bias"])
    colours = [ALIGNED_COLOUR if aligned.get(g) else CONFLICTING_COLOUR for g in groups]
    x = np.arange(len(groups))
    for ax, run in zip(axes.flat, runs):
        means = [100 * indexed["mean"].get((run, *g), np.nan) for g in groups]
        stds = [100 * indexed["std"].get((run, *g), np.nan) for g in groups]
        ax.bar(x, means, 0.8, yerr=stds, capsize=1.5, color=colours)
        conflicting = [m for m, g in zip(means, groups) if not aligned.get(g)]
        ax.set_title(f"{run}: bias-conflicting mean {np.nanmean(conflicting):.1f} %" if conflicting else run, fontsize=9)
        ax.set_xticks(x, [f"{class_names.get(y, y)}/{b}" for y, b in groups], rotation=90, fontsize=6)
        ax.set_ylim(0, 105)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)")
    for ax in list(axes.flat)[len(runs):]:
        ax.set_axis_off()
    fig.suptitle(f"{dataset}: test accuracy per group (class/bias value), mean ± std over seeds; "
                 "blue = bias-aligned, red = bias-conflicting", fontsize=11)
    fig.tight_layout()
    return fig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metrics", required=True, nargs="+", type=Path, help="metrics.json files written by evaluate")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet (class names, aligned groups)")
    p.add_argument("--debias-root", required=True, type=Path, help="results/<dataset>/debias")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, type=Path, help="output PNG")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    metadata = read_table(args.metadata, "metadata")
    metrics = [read_json(p, METRICS_KEYS) | {"run": run_name(p, args.debias_root)} for p in args.metrics]
    known = metadata.dropna(subset=["bias"])
    aligned = {(int(r.label), int(r.bias)): bool(r.bias_aligned)
               for r in known[known["split"] == "test"].drop_duplicates(["label", "bias"]).itertuples()}
    fig = group_accuracy_figure(group_accuracy_table(metrics), aligned, class_names(metadata), args.dataset)
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
