"""Figure "training curves": diffusion loss, amplifier losses, classifier training loss and validation selection
score, from the ``training_log.csv`` each training stage writes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from ddb.core.logs import start_stage
from ddb.figures.common import amplifier_name, plt, run_name, save_figure

log = logging.getLogger("ddb.figures.training_curves")


def training_curves_figure(diffusion_log: pd.DataFrame | None, amplifier_logs: dict[str, pd.DataFrame],
                           run_logs: dict[str, list[pd.DataFrame]]) -> plt.Figure:
    """Four panels: diffusion loss; amplifier train/held-out loss per amplifier; classifier train loss and
    validation selection score per run (mean over seeds). Runs whose method fits the model itself (last-layer
    retraining: no training loop, no curve) are left out."""
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
    looped = {run: frames for run, frames in run_logs.items() if "train_loss" in frames[0]}
    for ax, column, title in ((axes[1, 0], "train_loss", "Debiased model: training loss (mean over seeds)"),
                              (axes[1, 1], "val_selection_score", "Validation model-selection score (mean over seeds)")):
        for run, frames in sorted(looped.items()):
            mean = pd.concat(frames).groupby("step")[column].mean()
            ax.plot(mean.index, mean.to_numpy(), label=run)
        ax.set(title=title, xlabel="step")
        if looped:
            ax.legend(fontsize=8)
    axes[1, 0].set_yscale("log")
    fig.tight_layout()
    return fig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--diffusion", type=Path, help="diffusion model folder (its training_log.csv)")
    p.add_argument("--amplifiers", nargs="*", default=[], type=Path, help="amplifier model folders")
    p.add_argument("--runs", nargs="*", default=[], type=Path, help="debiased model folders .../<run>/seed<s>/model")
    p.add_argument("--debias-root", required=True, type=Path, help="results/<dataset>/debias: run names are paths below it")
    p.add_argument("--out", required=True, type=Path, help="output PNG")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    diffusion_log = pd.read_csv(args.diffusion / "training_log.csv") if args.diffusion else None
    amplifier_logs = {amplifier_name(a): pd.read_csv(a / "training_log.csv") for a in args.amplifiers}
    run_logs: dict[str, list[pd.DataFrame]] = {}
    for model in args.runs:
        run_logs.setdefault(run_name(model, args.debias_root), []).append(pd.read_csv(model / "training_log.csv"))
    fig = training_curves_figure(diffusion_log, amplifier_logs, run_logs)
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
