"""Stage "collect": every run's metrics into ``summary.csv`` (numbers) and ``summary.md`` (a readable table).

One row per (dataset, method, seed). DDB rows carry the amplifier's detection quality on the training set;
``uses_bias_labels`` says whether the method or its model selection read any bias label.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from ddb.atomic import atomic_file, write_text
from ddb.logs import start_logging
from ddb.methods import METHODS

log = logging.getLogger("ddb.collect")
COLUMNS = ["dataset", "method", "seed", "uses_bias_labels", "selection", "avg_acc", "worst_group_acc",
           "aligned_acc", "conflicting_acc", "unbiased_acc", "worst_class_acc",
           "amp_auroc", "amp_precision", "amp_recall"]
PERCENT = ["avg_acc", "worst_group_acc", "aligned_acc", "conflicting_acc", "unbiased_acc", "worst_class_acc",
           "amp_auroc", "amp_precision", "amp_recall"]


def summary_table(metrics: list[dict], detections: list[dict]) -> pd.DataFrame:
    runs = pd.DataFrame([{k: v for k, v in m.items() if k != "per_group"} for m in metrics])
    amp = pd.DataFrame(detections)
    amp = amp.reindex(columns=["dataset", "amp_auroc", "amp_precision", "amp_recall"])
    table = runs.merge(amp, on="dataset", how="left")
    # The amplifier informs DDB methods only; other rows would otherwise suggest they used it.
    uses_amp = table["method"].map(lambda m: bool(METHODS[m]["needs"]))
    table.loc[~uses_amp, ["amp_auroc", "amp_precision", "amp_recall"]] = float("nan")
    return table[COLUMNS].sort_values(["dataset", "method", "seed"]).reset_index(drop=True)


def markdown(table: pd.DataFrame) -> str:
    shown = table.copy()
    for col in PERCENT:
        shown[col] = (100 * shown[col]).round(2)
    header = ("All accuracies in % on the test split; amp_* = bias-amplifier detection of bias-conflicting "
              "training images (AUROC of its loss; precision/recall of its error set), using true bias labels "
              "for evaluation only.\n\n")
    return "# Results\n\n" + header + shown.to_markdown(index=False) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metrics", required=True, nargs="+", type=Path, help="metrics.json files from evaluate")
    p.add_argument("--detection", required=True, nargs="+", type=Path, help="detection.json files from evaluate_amplifier")
    p.add_argument("--csv", required=True, type=Path, help="output summary.csv")
    p.add_argument("--markdown", required=True, type=Path, help="output summary.md")
    return p.parse_args(argv)


def main(argv=None) -> None:
    start_logging()
    args = parse_args(argv)
    table = summary_table([json.loads(p.read_text()) for p in args.metrics],
                          [json.loads(p.read_text()) for p in args.detection])
    with atomic_file(args.csv) as tmp:
        table.to_csv(tmp, index=False)
    write_text(args.markdown, markdown(table))
    log.info("summary of %d runs:\n%s", len(table), markdown(table))


if __name__ == "__main__":
    main()
