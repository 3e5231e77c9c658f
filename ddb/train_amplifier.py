"""Stage "train amplifier" (DDB stage 3): a classifier trained *only* on synthetic images.

Targets are the generating classes. Given ``--synthetic`` the stage takes no real-data input at all, so the
amplifier cannot have seen, let alone memorised, a real bias-conflicting image. ``--real-metadata`` instead trains
the same classifier on the real training split: the paper's ablation (amplifier on real vs synthetic images). A
held-out fraction of the training images picks the epoch (lowest held-out loss). The loop is the one every
classifier shares (ddb/training/loop.py), with one evaluation and one checkpoint per epoch.
Writes ``model.safetensors``, ``model.json`` and ``training_log.csv`` into the output folder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb.core.atomic import atomic_dir
from ddb.core.images import ImageSet, load_split, load_synthetic
from ddb.core.integrity import write_manifest
from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.core.tables import read_table
from ddb.models.classifiers import predict_logits, save_classifier
from ddb.training.checkpoint import Checkpoint, input_fingerprint
from ddb.training.device import setup
from ddb.training.loop import fit, new_classifier

log = logging.getLogger("ddb.train_amplifier")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", nargs="+", type=Path, help="synthetic image folders, one per class, in class order")
    source.add_argument("--real-metadata", type=Path, help="ablation: train on the real training split of this metadata table")
    p.add_argument("--out", required=True, type=Path, help="output amplifier folder")
    p.add_argument("--settings", default=None, help="JSON 'amplifier' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def subset(data: ImageSet, index: torch.Tensor) -> ImageSet:
    return ImageSet(data.images[index], data.labels[index], [data.sample_ids[i] for i in index.tolist()])


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = resolve_settings("amplifier", args.settings)
    start_stage(log, args, settings)
    device = setup(settings["seed"], args.threads)
    if args.synthetic:
        data, num_classes, trained_on = load_synthetic(args.synthetic), len(args.synthetic), "synthetic"
    else:
        metadata = read_table(args.real_metadata, "metadata")
        data, trained_on = load_split(metadata, args.real_metadata.parent, "train"), "real"
        num_classes = int(metadata["label"].max()) + 1
    image_size = data.images.shape[-1]

    generator = torch.Generator().manual_seed(settings["seed"])
    order = torch.randperm(len(data), generator=generator)
    n_holdout = int(round(settings["holdout_fraction"] * len(data)))
    holdout, train = subset(data, order[:n_holdout]), subset(data, order[n_holdout:])
    del data  # the two subsets hold copies
    log.info("%d %s images (%d classes, %d px): %d train, %d held out", len(train) + len(holdout), trained_on,
             num_classes, image_size, len(train), len(holdout))

    def validate(model):
        logits = predict_logits(model, holdout.images, device)
        loss = F.cross_entropy(logits, holdout.labels).item()
        # held-out loss, not accuracy, picks the epoch: accuracy saturates at 1.0 within a few epochs
        return -loss, {"holdout_loss": loss, "holdout_acc": (logits.argmax(1) == holdout.labels).float().mean().item()}

    model = new_classifier(settings, num_classes, device)
    steps_per_epoch = max(1, len(train) // settings["batch_size"])
    # a checkpoint after every epoch: a killed job resumes at the next epoch
    checkpoint = Checkpoint(args.out, {"settings": settings, "inputs": input_fingerprint(
        *(args.synthetic or []), args.real_metadata)}, every=steps_per_epoch)
    best, history = fit(model, train, settings, settings["epochs"] * steps_per_epoch, generator, device,
                        eval_every=steps_per_epoch, validate=validate if n_holdout else None, checkpoint=checkpoint,
                        what=f"amplifier ({trained_on})", lr_setting="amplifier.lr")
    model.load_state_dict(best.state)
    best_epoch = best.step // steps_per_epoch
    log.info("keeping epoch %d (held-out loss %.4f)", best_epoch, -best.score if n_holdout else float("nan"))
    with atomic_dir(args.out) as tmp:
        save_classifier(model, tmp, {"arch": settings["arch"], "num_classes": num_classes, "image_size": image_size,
                                     "trained_on": trained_on, "best_epoch": best_epoch, "settings": settings})
        log_table = pd.DataFrame(history)
        log_table.insert(0, "epoch", log_table["step"] // steps_per_epoch)
        log_table.to_csv(tmp / "training_log.csv", index=False)
        write_manifest(tmp)  # readers check the weights against it
    checkpoint.remove()


if __name__ == "__main__":
    main()
