"""Stage "evaluate amplifier": how well the frozen amplifier finds the bias-conflicting *training* images.

Uses the true bias labels of the training split, for evaluation only. Writes ``detection.json`` with
precision and recall of the error set (amplifier-misclassified = predicted conflicting) and the AUROC of the
amplifier loss as a "conflicting" score. Also, with no bias label, its health (ddb/algorithms/amplifier_health.py):
the share of real training images it misclassifies, overall and in its worst class, its held-out margin, and for an
amplifier trained on synthetic images the verdict they give ("likely useful" / "likely not"), written on datasets
without bias labels too.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ddb.algorithms.amplifier_health import (LIKELY_USEFUL, NOT_JUDGED, health_reason, health_signals,
                                             health_verdict)
from ddb.algorithms.detection import binary_auroc, precision_recall
from ddb.core.atomic import write_text
from ddb.core.logs import start_stage
from ddb.core.tables import read_table, table_provenance

log = logging.getLogger("ddb.evaluate_amplifier")


def detection_metrics(scores) -> dict:
    """Detection quality on the rows of ``scores`` (a scores table restricted to one split with known bias)."""
    conflicting = ~scores["bias_aligned"].to_numpy(dtype=bool)
    precision, recall = precision_recall(scores["amp_misclassified"].to_numpy(), conflicting)
    return {
        "n": int(len(scores)), "n_conflicting": int(conflicting.sum()),
        "n_predicted_conflicting": int(scores["amp_misclassified"].sum()),
        "amp_precision": precision, "amp_recall": recall,
        "amp_auroc": binary_auroc(scores["amp_loss"].to_numpy(), conflicting),
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scores", required=True, type=Path, help="scores.parquet written by score_real")
    p.add_argument("--dataset", required=True, help="dataset name, recorded in the output")
    p.add_argument("--amplifier", required=True,
                   help="what the scored amplifier was trained on (real, synthetic/<sampling variant>), recorded")
    p.add_argument("--out", required=True, type=Path, help="output detection.json")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    scores = read_table(args.scores, "scores")
    train = scores[scores["split"] == "train"]
    info = table_provenance(args.scores).get("amplifier_info", {})
    # how it was trained, for the memorisation sweep's detection-vs-epochs view
    result = {"dataset": args.dataset, "amplifier": args.amplifier, "split": "train",
              "trained_on": info.get("trained_on"), "epochs": info.get("settings", {}).get("epochs"),
              "kept_epoch": info.get("best_epoch")}
    health = health_signals(train["label"], train["amp_misclassified"], info.get("holdout_acc"))
    synthetic = info.get("trained_on") == "synthetic"
    result |= health | {"health": health_verdict(health) if synthetic else NOT_JUDGED}
    if synthetic:
        (log.info if result["health"] == LIKELY_USEFUL else log.warning)(
            "the %s amplifier of %s is %s: it %s", args.amplifier, args.dataset, result["health"],
            health_reason(health))
    if train["bias_aligned"].notna().all():
        result |= detection_metrics(train)
    else:
        log.warning("no bias labels on the training split: detection quality cannot be measured")
    log.info("amplifier detection: %s", json.dumps(result))
    write_text(args.out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
