"""Stage "score real images" (DDB stage 4): the frozen amplifier over every real image, into one Parquet table.

Columns and meaning: see ``scores`` in ddb/core/tables.py. Bias columns are copied from the metadata for evaluation
only; Recipe I reads ``pseudo_group`` and nothing else of the bias.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb.algorithms.pseudo_groups import pseudo_groups
from ddb.core.images import load_split
from ddb.core.logs import start_stage
from ddb.core.tables import SPLITS, read_table, write_table
from ddb.models.classifiers import load_classifier, predict_logits
from ddb.models.resolution import require_resolution
from ddb.training.device import setup

log = logging.getLogger("ddb.score_real")


def score_frame(logits: torch.Tensor, labels: torch.Tensor) -> pd.DataFrame:
    """Per-sample amplifier scores from logits (N, K) and labels (N,)."""
    probs = logits.softmax(1)
    confidence, pred = probs.max(1)
    return pd.DataFrame({
        "amp_loss": F.cross_entropy(logits, labels, reduction="none").numpy().astype("float32"),
        "amp_p_label": probs.gather(1, labels[:, None])[:, 0].numpy().astype("float32"),
        "amp_pred": pred.numpy().astype("int64"),
        "amp_confidence": confidence.numpy().astype("float32"),
        "amp_misclassified": (pred != labels).numpy(),
        "pseudo_group": pseudo_groups(labels, pred, logits.shape[1]).numpy().astype("int64"),
    })


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--amplifier", required=True, type=Path, help="amplifier folder written by train_amplifier")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--store", required=True, type=Path, help="image store folder of the metadata table at the amplifier's resolution (build_image_store)")
    p.add_argument("--out", required=True, type=Path, help="output scores.parquet")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    device = setup(0, args.threads)
    amplifier, info = load_classifier(args.amplifier, device)
    metadata = read_table(args.metadata, "metadata")
    frames = []
    for split in SPLITS:
        if not (metadata["split"] == split).any():
            continue
        data = load_split(metadata, args.store, split)
        require_resolution(info, data.images.shape[-1], str(args.amplifier), f"the {split} images of {args.store}")
        scores = score_frame(predict_logits(amplifier, data.images, device), data.labels)
        rows = metadata[metadata["split"] == split].reset_index(drop=True)
        frames.append(pd.concat([rows[["sample_id", "split", "label", "bias", "bias_aligned"]], scores], axis=1))
        log.info("%s: %d images, amplifier accuracy %.4f, %d misclassified", split, len(rows),
                 1 - scores["amp_misclassified"].mean(), scores["amp_misclassified"].sum())
    table = pd.concat(frames, ignore_index=True)
    write_table(table, args.out, "scores", {"amplifier": str(args.amplifier), "amplifier_info": info})
    log.info("wrote %d rows to %s", len(table), args.out)


if __name__ == "__main__":
    main()
