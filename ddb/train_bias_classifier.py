"""Stage "train bias classifier" (evaluation only; reads bias labels): a classifier of the bias attribute that
measures how biased the real training split and every synthetic set are (ddb/measure_bias.py).

Trained on the real *val* split, whose images are balanced over label x bias, so the class is no shortcut to the
bias (on the training split it would be); half of them are held out and its accuracy there is reported, so the
measurement can be trusted. Images are resized to the diffusion model's resolution, that of the synthetic sets.
Never an input to any method. Writes ``model.safetensors``, ``model.json`` (with ``holdout_acc``) and
``training_log.csv``, and ``tensorboard/`` when switched on (ddb/training/curves.py).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from ddb.core.images import load_split
from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.core.tables import read_table
from ddb.training.checkpoint import input_fingerprint
from ddb.training.device import setup
from ddb.training.holdout import train_with_holdout

log = logging.getLogger("ddb.train_bias_classifier")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--store", required=True, type=Path, help="image store folder of the metadata table at the resolution of the synthetic images it will measure")
    p.add_argument("--out", required=True, type=Path, help="output model folder")
    p.add_argument("--settings", default=None,
                   help="JSON classifier settings: the 'amplifier' section with the 'bias_classifier' changes")
    p.add_argument("--pretrained-weights", type=Path, default=None,
                   help="staged ImageNet weights of the architecture (rule stage_weights), for pretrained: yes / auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = resolve_settings("amplifier", args.settings)
    start_stage(log, args, settings)
    device = setup(settings["seed"], args.threads)
    metadata = read_table(args.metadata, "metadata")
    val = metadata[metadata["split"] == "val"]
    if val.empty or val["bias"].isna().any():
        raise SystemExit(f"{args.metadata}: the val split has no bias labels; rho cannot be measured for this dataset")
    data = load_split(metadata, args.store, "val")
    data.labels = torch.as_tensor(val["bias"].to_numpy(dtype="int64"))  # the target is the bias, not the class
    num_values = int(metadata["bias"].max()) + 1
    train_with_holdout(data, num_values, settings, device, args.out,
                       {"trained_on": "real val split, bias labels", "target": "bias", "uses_bias_labels": True},
                       {"inputs": input_fingerprint(args.metadata, args.pretrained_weights)}, "bias classifier",
                       "amplifier.lr", args.pretrained_weights)


if __name__ == "__main__":
    main()
