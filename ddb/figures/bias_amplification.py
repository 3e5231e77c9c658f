"""Figure "bias amplification and memorisation": DDB's two claims side by side, measured with bias labels for
evaluation only.

Left: rho, the share of bias-aligned images per class, of the real training split (from its bias labels and by the
bias classifier) and of every synthetic set (by the bias classifier): claim 1 is rho_synthetic > rho_real.
Right: how well each amplifier finds the bias-conflicting training images (AUROC of its loss, precision and recall
of its error set) against the epochs the real-data amplifier trained, with the synthetic amplifiers as lines: claim
2 is that the real-data amplifier gets worse as it memorises the conflicting images, the synthetic one cannot.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ddb.core.json_artifacts import BIAS_SHARE_KEYS, DETECTION_KEYS, read_json
from ddb.core.logs import start_stage
from ddb.figures.common import ALIGNED_COLOUR, CONFLICTING_COLOUR, plt, save_figure

log = logging.getLogger("ddb.figures.bias_amplification")
DETECTION = (("amp_auroc", "AUROC", "-"), ("amp_precision", "precision", "--"), ("amp_recall", "recall", ":"))


def bias_amplification_figure(real: dict | None, synthetic: list[dict], detections: list[dict],
                              title: str) -> plt.Figure:
    """``real`` / ``synthetic``: measure_bias outputs; ``detections``: evaluate_amplifier outputs."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    bars = []
    if real is not None:
        bars += [("real (labels)", real["rho_labels_per_class"], real["rho_labels"], "#999999"),
                 ("real (classifier)", real["rho_per_class"], real["rho"], ALIGNED_COLOUR)]
    palette = plt.get_cmap("autumn")
    for i, share in enumerate(synthetic):
        bars.append((share["measured"], share["rho_per_class"], share["rho"], palette(i / max(1, len(synthetic)))))
    if bars:
        k = len(bars[0][1])
        width = 0.8 / len(bars)
        for i, (name, per_class, mean, colour) in enumerate(bars):
            left.bar(np.arange(k + 1) + i * width, [*per_class, mean], width, color=colour,
                     label=f"{name}: mean {mean:.3f}")
        left.set_xticks(np.arange(k + 1) + 0.4 - width / 2, [*map(str, range(k)), "mean"])
        left.set_ylim(0, 1.05)
        left.legend(fontsize=8, loc="lower left")
        accuracy = real["classifier_holdout_acc"] if real else None
        left.set_title("rho = share of bias-aligned images per class"
                       + (f"\n(bias classifier held-out accuracy {100 * accuracy:.1f} %)" if accuracy is not None else ""),
                       fontsize=10)
    left.set_xlabel("class")
    real_runs = sorted((d for d in detections if d.get("trained_on") == "real" and d.get("epochs")),
                       key=lambda d: d["epochs"])
    for key, name, style in DETECTION:
        if real_runs:
            right.plot([d["epochs"] for d in real_runs], [d.get(key, np.nan) for d in real_runs], style, marker="o",
                       color=CONFLICTING_COLOUR, label=f"real-data amplifier, {name}")
        for d in detections:
            if d.get("trained_on") == "synthetic" and key in d:
                right.axhline(d[key], linestyle=style, color=ALIGNED_COLOUR, label=f"{d['amplifier']}, {name}")
    if real_runs:
        right.set_xscale("log")
        right.set_xticks([d["epochs"] for d in real_runs], [str(d["epochs"]) for d in real_runs])
    right.set_xlabel("epochs the real-data amplifier trained")
    right.set_ylim(0, 1.02)
    right.set_title("detection of the bias-conflicting training images", fontsize=10)
    right.legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real-share", type=Path, help="real_bias_share.json written by measure_bias")
    p.add_argument("--synthetic-shares", nargs="*", default=[], type=Path, help="bias_share.json per synthetic set")
    p.add_argument("--detection", nargs="*", default=[], type=Path, help="detection.json of every amplifier")
    p.add_argument("--title", required=True)
    p.add_argument("--out", required=True, type=Path, help="output PNG")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    real = read_json(args.real_share, BIAS_SHARE_KEYS) if args.real_share else None
    fig = bias_amplification_figure(real, [read_json(p, BIAS_SHARE_KEYS) for p in args.synthetic_shares],
                                    [read_json(p, DETECTION_KEYS) for p in args.detection], args.title)
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
