"""Stage "train amplifier" (DDB stage 3): a classifier trained *only* on synthetic images.

Targets are the generating classes. Given ``--synthetic`` the stage takes no real-data input at all, so the
amplifier cannot have seen, let alone memorised, a real bias-conflicting image. ``--real-metadata`` instead trains
the same classifier on the real training split: the paper's ablation (amplifier on real vs synthetic images), swept
over epochs to show memorisation. A held-out fraction of the training images picks the epoch (lowest held-out loss)
or, with ``select_epoch: last``, only reports on it (ddb/training/holdout.py).
Writes ``model.safetensors``, ``model.json`` and ``training_log.csv`` into the output folder, and ``tensorboard/``
when switched on (ddb/training/curves.py).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ddb.core.images import load_split, load_synthetic
from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.core.tables import read_table
from ddb.training.checkpoint import input_fingerprint
from ddb.training.device import setup
from ddb.training.holdout import train_with_holdout

log = logging.getLogger("ddb.train_amplifier")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", nargs="+", type=Path, help="synthetic image folders, one per class, in class order")
    source.add_argument("--real-metadata", type=Path, help="ablation: train on the real training split of this metadata table")
    p.add_argument("--store", type=Path, help="with --real-metadata: the image store folder of that table")
    p.add_argument("--out", required=True, type=Path, help="output amplifier folder")
    p.add_argument("--settings", default=None, help="JSON 'amplifier' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--pretrained-weights", type=Path, default=None,
                   help="staged ImageNet weights of the architecture (rule stage_weights), for pretrained: yes / auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    if args.real_metadata and args.store is None:
        p.error("--real-metadata needs --store, the image store of its images")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = resolve_settings("amplifier", args.settings)
    start_stage(log, args, settings)
    device = setup(settings["seed"], args.threads)
    if args.synthetic:
        data, num_classes, trained_on = load_synthetic(args.synthetic), len(args.synthetic), "synthetic"
    else:
        metadata = read_table(args.real_metadata, "metadata")
        data, trained_on = load_split(metadata, args.store, "train"), "real"
        num_classes = int(metadata["label"].max()) + 1
    train_with_holdout(data, num_classes, settings, device, args.out, {"trained_on": trained_on},
                       {"inputs": input_fingerprint(*(args.synthetic or []), args.real_metadata,
                                                   args.pretrained_weights)},
                       f"amplifier ({trained_on})", "amplifier.lr", args.pretrained_weights)


if __name__ == "__main__":
    main()
