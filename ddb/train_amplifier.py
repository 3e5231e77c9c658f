"""Stage "train amplifier" (DDB stage 3): a classifier trained *only* on synthetic images.

Targets are the generating classes. Given ``--synthetic`` the stage takes no real-data input at all, so the
amplifier cannot have seen, let alone memorised, a real bias-conflicting image. ``--real-metadata`` instead trains
the same classifier on the real training split: the paper's ablation (amplifier on real vs synthetic images). A held-out fraction of the synthetic set picks the epoch (lowest held-out loss).
Writes ``model.safetensors``, ``model.json`` and ``training_log.csv`` into the output folder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb.atomic import atomic_dir
from ddb.config import stage_settings
from ddb.data import load_split, load_synthetic
from ddb.logs import start_stage
from ddb.models import save_classifier
from ddb.tables import read_table
from ddb.training import (BatchSampler, BestKeeper, Checkpoint, autocast, build_optimizer, input_fingerprint,
                          new_classifier, predict_logits, rng_state, set_rng_state, setup, uses_bf16)

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


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = stage_settings("amplifier", args.settings)
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
    holdout, train = order[:n_holdout], order[n_holdout:]
    log.info("%d %s images (%d classes, %d px): %d train, %d held out", len(data), trained_on, num_classes,
             image_size, len(train), len(holdout))

    model = new_classifier(settings, num_classes, device)
    optimizer = build_optimizer(model.parameters(), settings)
    batches = BatchSampler(len(train), settings["batch_size"], generator)
    steps_per_epoch = max(1, len(train) // settings["batch_size"])
    best, history, first_epoch = BestKeeper(), [], 1
    # a checkpoint after every epoch: a killed job resumes at the next epoch
    checkpoint = Checkpoint(args.out, {"settings": settings, "inputs": input_fingerprint(
        *(args.synthetic or []), args.real_metadata)}, every=1)
    state = checkpoint.load()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        batches.load_state_dict(state["batches"])
        set_rng_state(generator, state["rng"])
        best.load_state_dict(state["best"])
        history, first_epoch = state["history"], state["step"] + 1
    bf16 = uses_bf16(device, settings["precision"])
    for epoch in range(first_epoch, settings["epochs"] + 1):
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            idx = train[next(batches)]
            with autocast(device, bf16):
                logits = model(data.images[idx].to(device).float().div_(255))
                loss = F.cross_entropy(logits, data.labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "train_loss": sum(losses) / len(losses)}
        if n_holdout:
            logits = predict_logits(model, data.images[holdout], device)
            row["holdout_loss"] = F.cross_entropy(logits, data.labels[holdout]).item()
            row["holdout_acc"] = (logits.argmax(1) == data.labels[holdout]).float().mean().item()
        # Held-out loss, not accuracy, picks the epoch: accuracy saturates at 1.0 within a few epochs.
        best.offer(model, -row["holdout_loss"] if n_holdout else float(epoch), epoch)
        history.append(row)
        log.info("epoch %d/%d %s", epoch, settings["epochs"], " ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch"))
        checkpoint.maybe_save(epoch, lambda: {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "batches": batches.state_dict(),
            "rng": rng_state(generator), "history": history,
            "best": best.state_dict()})

    model.load_state_dict(best.state)
    log.info("keeping epoch %d (selection score %.4f: minus held-out loss)", best.step, best.score)
    with atomic_dir(args.out) as tmp:
        save_classifier(model, tmp, {"arch": settings["arch"], "num_classes": num_classes, "image_size": image_size,
                                     "trained_on": trained_on, "best_epoch": best.step, "settings": settings})
        pd.DataFrame(history).to_csv(tmp / "training_log.csv", index=False)
    checkpoint.remove()


if __name__ == "__main__":
    main()
