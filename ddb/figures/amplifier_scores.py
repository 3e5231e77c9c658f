"""Figure "amplifier scores": histograms of the amplifier's loss on the real training images, bias-aligned vs
bias-conflicting (true labels, evaluation only), with the detection AUROC and the error set's precision / recall,
and the label-free health verdict.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ddb.core.json_artifacts import DETECTION_KEYS, read_json
from ddb.core.logs import start_stage
from ddb.core.tables import read_table
from ddb.figures.common import ALIGNED_COLOUR, CONFLICTING_COLOUR, plt, save_figure

log = logging.getLogger("ddb.figures.amplifier_scores")


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
        quality = (f"AUROC {detection['amp_auroc']:.4f}, error set precision {100 * detection['amp_precision']:.1f} %, "
                   f"recall {100 * detection['amp_recall']:.1f} %")
    else:
        ax.hist(loss, bins=bins, color="grey", label=f"all (n={len(loss)})")
        quality = "no bias labels: detection quality unknown"
    health = (f"health: {detection['health']} (misclassifies {100 * detection['real_error_rate']:.1f} % of the "
              "training images)")
    ax.set_title(f"{title}\n{quality}\n{health}", fontsize=10)
    ax.set_xlabel("log10 amplifier cross-entropy on the labelled class (high = predicted bias-conflicting)")
    ax.set_ylabel("density")
    fig.tight_layout()
    return fig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scores", required=True, type=Path, help="scores.parquet written by score_real")
    p.add_argument("--detection", required=True, type=Path, help="detection.json written by evaluate_amplifier")
    p.add_argument("--title", required=True)
    p.add_argument("--out", required=True, type=Path, help="output PNG")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    scores = read_table(args.scores, "scores")
    fig = amplifier_scores_figure(scores[scores["split"] == "train"], read_json(args.detection, DETECTION_KEYS),
                                  args.title)
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
