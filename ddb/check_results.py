"""Stage "check results": every result file the tables are built from is read and checked before ``collect`` runs.

Snakemake deletes a job's outputs before it runs it, so a ``collect`` that stopped on a damaged file would leave no
tables at all. This job stops first instead, naming the file and the command that rebuilds it, and the previous
tables stay. It writes the list of the files it checked with their sha256 (``checked_results.tsv``): the inputs of
the tables as they were read.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from ddb.core.atomic import atomic_file
from ddb.core.integrity import file_digest
from ddb.core.json_artifacts import BIAS_SHARE_KEYS, DETECTION_KEYS, METRICS_KEYS, read_json
from ddb.core.logs import start_stage

log = logging.getLogger("ddb.check_results")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metrics", required=True, nargs="+", type=Path, help="metrics.json files from evaluate")
    p.add_argument("--detection", nargs="*", default=[], type=Path, help="detection.json files from evaluate_amplifier")
    p.add_argument("--bias-share", nargs="*", default=[], type=Path, help="rho JSON files from measure_bias")
    p.add_argument("--out", required=True, type=Path, help="output TSV: each checked file and its sha256")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    checked = [(path, keys) for paths, keys in ((args.metrics, METRICS_KEYS), (args.detection, DETECTION_KEYS),
                                                (args.bias_share, BIAS_SHARE_KEYS)) for path in paths]
    for path, keys in checked:
        read_json(path, keys)
    with atomic_file(args.out) as tmp:
        pd.DataFrame({"file": [str(path) for path, _ in checked],
                      "sha256": [file_digest(path) for path, _ in checked]}).to_csv(tmp, sep="\t", index=False)
    log.info("checked %d result files", len(checked))


if __name__ == "__main__":
    main()
