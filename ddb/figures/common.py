"""Stage "report figures": the PNGs of the Snakemake report, each readable without the logs.

Subcommands (one figure each):

- ``synthetic-vs-real``: per class, a grid of synthetic images next to a grid of real training images (real
  bias-conflicting images framed in red where bias labels exist), so a reader sees the synthetic set's bias;
- ``amplifier-scores``: histograms of the amplifier's loss on the real training images, bias-aligned vs
  bias-conflicting (true labels, evaluation only), with the detection AUROC;
- ``training-curves``: diffusion loss, amplifier losses, classifier training loss and validation metrics, from the
  ``training_log.csv`` each training stage writes;
- ``group-accuracy``: test accuracy of each method on every (class, bias) group, mean and std over seeds.

The plotting functions take tables and arrays, not paths, so tests can call them directly.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ddb.atomic import atomic_file  # noqa: E402
from ddb.data import image_grid, load_image  # noqa: E402
from ddb.logs import start_stage  # noqa: E402
from ddb.tables import read_table  # noqa: E402

log = logging.getLogger("ddb.figures")

GRID_COLUMNS, GRID_ROWS = 8, 4  # images per grid: enough to see a colour/background bias, small enough to read
ALIGNED_COLOUR, CONFLICTING_COLOUR = "#4477aa", "#ee6677"


def save_figure(fig: plt.Figure, out: Path) -> None:
    """PNG written temp-then-rename, so an interrupted job leaves no half-written figure."""
    with atomic_file(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _sample(n: int, k: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=min(n, k), replace=False))


# ---- synthetic vs real ----
def synthetic_vs_real_figure(rows: list[dict]) -> plt.Figure:
    """``rows``: per class ``{"name", "synthetic" (N,H,W,3) uint8, "real" (M,H,W,3) uint8, "conflicting" (M,) bool
    or None}``; one figure row per class, synthetic grid left, real grid right."""
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 2.6 * len(rows)), squeeze=False)
    for (ax_syn, ax_real), row in zip(axes, rows):
        ax_syn.imshow(image_grid(row["synthetic"], GRID_COLUMNS, scale=1))
        ax_real.imshow(image_grid(row["real"], GRID_COLUMNS, scale=1, outline=row["conflicting"]))
        n_conf = "" if row["conflicting"] is None else f", {int(row['conflicting'].sum())} bias-conflicting (red)"
        ax_syn.set_title(f"{row['name']}: synthetic", fontsize=10)
        ax_real.set_title(f"{row['name']}: real training images{n_conf}", fontsize=10)
        for ax in (ax_syn, ax_real):
            ax.set_axis_off()
    fig.suptitle("Synthetic set (left) vs real training images (right), per class", fontsize=12)
    fig.tight_layout()
    return fig


def class_names(metadata: pd.DataFrame) -> dict[int, str]:
    return metadata.drop_duplicates("label").set_index("label")["label_name"].to_dict()


def synthetic_vs_real_rows(metadata: pd.DataFrame, root: Path, synthetic_dirs: list[Path], seed: int = 0) -> list[dict]:
    """A random sample of each class's synthetic images and real training images, at the synthetic size."""
    train = metadata[metadata["split"] == "train"]
    names = class_names(metadata)
    rows = []
    for k, folder in enumerate(synthetic_dirs):
        files = sorted(Path(folder).glob("*.png"))
        if not files:
            raise ValueError(f"no PNG images in {folder}; re-run the sample_synthetic stage for class {k}")
        synthetic = np.stack([load_image(files[i], None) for i in _sample(len(files), GRID_COLUMNS * GRID_ROWS, seed)])
        real_rows = train[train["label"] == k].iloc[_sample(int((train["label"] == k).sum()), GRID_COLUMNS * GRID_ROWS, seed)]
        real = np.stack([load_image(root / p, synthetic.shape[1]) for p in real_rows["path"]])
        known = real_rows["bias_aligned"].notna().all()
        conflicting = ~real_rows["bias_aligned"].to_numpy(dtype=bool) if known else None
        rows.append({"name": names.get(k, str(k)), "synthetic": synthetic, "real": real, "conflicting": conflicting})
    return rows


# ---- amplifier scores ----
def amplifier_scores_figure(train_scores: pd.DataFrame, detection: dict, title: str) -> plt.Figure:
    """Histogram of log10 amplifier loss on the training split, split by true bias alignment when known."""
    fig, ax = plt.subplots(figsize=(7, 4))
    loss = np.log10(train_scores["amp_loss"].to_numpy(dtype=float) + 1e-8)
    bins = np.linspace(loss.min(), loss.max() + 1e-6, 50)
    if train_scores["bias_aligned"].notna().all():
        aligned = train_scores["bias_aligned"].to_numpy(dtype=bool)
        for mask, name, colour in ((aligned, "bias-aligned", ALIGNED_COLOUR), (~aligned, "bias-conflicting", CONFLICTING_COLOUR)):
            if mask.any():  # density: the conflicting images are a small minority
                ax.hist(loss[mask], bins=bins, density=True, alpha=0.6, color=colour, label=f"{name} (n={int(mask.sum())})")
        ax.legend()
        ax.set_title(f"{title}\nAUROC {detection['amp_auroc']:.4f}, error set precision "
                     f"{100 * detection['amp_precision']:.1f} %, recall {100 * detection['amp_recall']:.1f} %", fontsize=10)
    else:
        ax.hist(loss, bins=bins, color="grey", label=f"all (n={len(loss)})")
        ax.set_title(f"{title}\n(no bias labels: detection quality unknown)", fontsize=10)
    ax.set_xlabel("log10 amplifier cross-entropy on the labelled class (high = predicted bias-conflicting)")
    ax.set_ylabel("density")
    fig.tight_layout()
    return fig


# ---- training curves ----
def training_curves_figure(diffusion_log: pd.DataFrame | None, amplifier_logs: dict[str, pd.DataFrame],
                           run_logs: dict[str, list[pd.DataFrame]]) -> plt.Figure:
    """Four panels: diffusion loss; amplifier train/held-out loss per amplifier; classifier train loss and
    validation selection score per run (mean over seeds)."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    if diffusion_log is not None:
        ax.plot(diffusion_log["step"], diffusion_log["loss"], color="black")
        ax.set_yscale("log")
    ax.set(title="Diffusion model: denoising loss", xlabel="step", ylabel="MSE")
    ax = axes[0, 1]
    for name, frame in amplifier_logs.items():
        line, = ax.plot(frame["epoch"], frame["train_loss"], label=f"{name} train")
        if "holdout_loss" in frame:
            ax.plot(frame["epoch"], frame["holdout_loss"], "--", color=line.get_color(), label=f"{name} held out")
    ax.set(title="Bias amplifier: cross-entropy", xlabel="epoch", ylabel="loss")
    ax.set_yscale("log")
    if amplifier_logs:
        ax.legend(fontsize=8)
    for ax, column, title in ((axes[1, 0], "train_loss", "Debiased model: training loss (mean over seeds)"),
                              (axes[1, 1], "val_selection_score", "Validation model-selection score (mean over seeds)")):
        for run, frames in sorted(run_logs.items()):
            mean = pd.concat(frames).groupby("step")[column].mean()
            ax.plot(mean.index, mean.to_numpy(), label=run)
        ax.set(title=title, xlabel="step")
        if run_logs:
            ax.legend(fontsize=8)
    axes[1, 0].set_yscale("log")
    fig.tight_layout()
    return fig


# ---- per-group accuracy ----
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


# ---- command line ----
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="figure", required=True)
    s = sub.add_parser("synthetic-vs-real", help="grids of synthetic vs real training images per class")
    s.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    s.add_argument("--synthetic", required=True, nargs="+", type=Path, help="class_<k>/images folders, in class order")
    s = sub.add_parser("amplifier-scores", help="histogram of the amplifier's loss on real training images")
    s.add_argument("--scores", required=True, type=Path, help="scores.parquet written by score_real")
    s.add_argument("--detection", required=True, type=Path, help="detection.json written by evaluate_amplifier")
    s.add_argument("--title", required=True)
    s = sub.add_parser("training-curves", help="training curves of every stage of one dataset")
    s.add_argument("--diffusion", type=Path, help="diffusion model folder (its training_log.csv)")
    s.add_argument("--amplifiers", nargs="*", default=[], type=Path, help="amplifier model folders")
    s.add_argument("--runs", nargs="*", default=[], type=Path, help="debiased model folders .../<run>/seed<s>/model")
    s.add_argument("--debias-root", required=True, type=Path, help="results/<dataset>/debias: run names are paths below it")
    s = sub.add_parser("group-accuracy", help="bar chart of per-group test accuracy of every method")
    s.add_argument("--metrics", required=True, nargs="+", type=Path, help="metrics.json files written by evaluate")
    s.add_argument("--metadata", required=True, type=Path, help="metadata.parquet (class names, aligned groups)")
    s.add_argument("--debias-root", required=True, type=Path, help="results/<dataset>/debias")
    s.add_argument("--dataset", required=True)
    for s in sub.choices.values():
        s.add_argument("--out", required=True, type=Path, help="output PNG")
    return p.parse_args(argv)


def run_name(path: Path, debias_root: Path) -> str:
    """``<debias_root>/<run>/seed<s>/...`` -> ``<run>`` (``ddb_i/base``, ``erm``)."""
    parts = Path(path).relative_to(debias_root).parts
    return "/".join(parts[: next(i for i, part in enumerate(parts) if part.startswith("seed"))])


def amplifier_name(model_dir: Path) -> str:
    """``.../amplifier/synthetic/base/model`` -> ``synthetic/base``."""
    parts = Path(model_dir).parts
    return "/".join(parts[parts.index("amplifier") + 1 : -1])


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    if args.figure == "synthetic-vs-real":
        metadata = read_table(args.metadata, "metadata")
        fig = synthetic_vs_real_figure(synthetic_vs_real_rows(metadata, args.metadata.parent, args.synthetic))
    elif args.figure == "amplifier-scores":
        scores = read_table(args.scores, "scores")
        fig = amplifier_scores_figure(scores[scores["split"] == "train"], json.loads(args.detection.read_text()),
                                      args.title)
    elif args.figure == "training-curves":
        diffusion_log = pd.read_csv(args.diffusion / "training_log.csv") if args.diffusion else None
        amplifier_logs = {amplifier_name(a): pd.read_csv(a / "training_log.csv") for a in args.amplifiers}
        run_logs: dict[str, list[pd.DataFrame]] = {}
        for model in args.runs:
            run_logs.setdefault(run_name(model, args.debias_root), []).append(pd.read_csv(model / "training_log.csv"))
        fig = training_curves_figure(diffusion_log, amplifier_logs, run_logs)
    else:
        metadata = read_table(args.metadata, "metadata")
        metrics = [json.loads(p.read_text()) | {"run": run_name(p, args.debias_root)} for p in args.metrics]
        known = metadata.dropna(subset=["bias"])
        aligned = {(int(r.label), int(r.bias)): bool(r.bias_aligned)
                   for r in known[known["split"] == "test"].drop_duplicates(["label", "bias"]).itertuples()}
        fig = group_accuracy_figure(group_accuracy_table(metrics), aligned, class_names(metadata), args.dataset)
    save_figure(fig, args.out)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
