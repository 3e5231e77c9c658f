"""Stage "train debiased model" (DDB stage 5): ERM, Recipe I or Recipe II on the real training split.

- ``erm``: mean cross-entropy.
- ``ddb_i``: GroupDRO (ddb/groupdro.py) over the amplifier's pseudo-groups read from scores.parquet, with
  pseudo-group-balanced batches.
- ``ddb_ii``: per-sample CE weighted by W = L_amp / (L_amp + L_model) (ddb/reweighting.py), with L_amp from the
  frozen amplifier on the same batch.
The checkpoint is chosen on the validation split (``selection``: label_free or oracle), never on test.
Writes ``model.safetensors``, ``model.json``, ``training_log.csv`` and ``selection.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb.atomic import atomic_dir
from ddb.config import stage_settings
from ddb.data import load_split
from ddb.groupdro import GroupDROLoss, compact_ids, group_balanced_weights
from ddb.logs import start_logging
from ddb.methods import METHODS
from ddb.metrics import classification_metrics, selection_score
from ddb.models import build_classifier, load_classifier, save_classifier
from ddb.reweighting import reweighted_loss
from ddb.tables import read_table
from ddb.training import BestKeeper, Progress, augment, predict_logits, sample_batches, setup

log = logging.getLogger("ddb.train_debiased")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", required=True, choices=sorted(METHODS), help="debiasing method")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--scores", type=Path, help="scores.parquet from score_real (ddb_i)")
    p.add_argument("--amplifier", type=Path, help="amplifier folder from train_amplifier (ddb_ii)")
    p.add_argument("--out", required=True, type=Path, help="output model folder")
    p.add_argument("--seed", type=int, default=0, help="seed of this run")
    p.add_argument("--settings", default=None, help="JSON 'classifier' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--recipe-settings", default=None, help="JSON settings of the method's recipe (recipes.<method>)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    for need in METHODS[args.method]["needs"]:
        if getattr(args, need) is None:
            p.error(f"method {args.method} needs --{need}")
    return args


def main(argv=None) -> None:
    start_logging()
    args = parse_args(argv)
    settings = stage_settings("classifier", args.settings)
    recipe = stage_settings("recipes", {args.method: json.loads(args.recipe_settings or "{}")})[args.method] \
        if args.method != "erm" else {}
    log.info("method %s, seed %d, settings: %s, recipe: %s", args.method, args.seed,
             json.dumps(settings, sort_keys=True), json.dumps(recipe, sort_keys=True))
    device = setup(args.seed, args.threads)

    metadata = read_table(args.metadata, "metadata")
    train = load_split(metadata, args.metadata.parent, "train")
    val = load_split(metadata, args.metadata.parent, "val")
    val_rows = metadata[metadata["split"] == "val"]
    val_bias = val_rows["bias"].to_numpy() if val_rows["bias"].notna().all() else None
    num_classes = int(metadata["label"].max()) + 1
    model = build_classifier(settings["arch"], num_classes, settings["pretrained"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    generator = torch.Generator().manual_seed(args.seed)

    sampling_weights, robust_loss, amplifier = None, None, None
    if args.method == "ddb_i":
        scores = read_table(args.scores, "scores").set_index("sample_id")
        groups, present = compact_ids(torch.as_tensor(scores.loc[train.sample_ids, "pseudo_group"].to_numpy()))
        counts = torch.bincount(groups)
        log.info("%d non-empty pseudo-groups; sizes: %s", len(present),
                 dict(zip(present.tolist(), counts.tolist())))
        robust_loss = GroupDROLoss(len(present), recipe["step_size"]).to(device)
        if recipe["balanced_sampler"]:
            sampling_weights = group_balanced_weights(groups)
    elif args.method == "ddb_ii":
        amplifier, _ = load_classifier(args.amplifier, device)
        for p in amplifier.parameters():
            p.requires_grad_(False)

    batches = sample_batches(len(train), settings["batch_size"], generator, sampling_weights)
    progress = Progress(settings["steps"], settings["eval_every"], args.method)
    best, history, running = BestKeeper(), [], []
    model.train()
    for step in range(1, settings["steps"] + 1):
        idx = next(batches)
        images = train.images[idx]
        if settings["augment_shift"] >= 0:
            images = augment(images, generator, settings["augment_shift"])
        images = images.to(device).float().div_(255)
        labels = train.labels[idx].to(device)
        per_sample = F.cross_entropy(model(images), labels, reduction="none")
        if args.method == "erm":
            loss = per_sample.mean()
        elif args.method == "ddb_i":
            loss = robust_loss(per_sample, groups[idx].to(device))
        else:
            with torch.no_grad():
                amp_loss = F.cross_entropy(amplifier(images), labels, reduction="none")
            loss = reweighted_loss(per_sample, amp_loss, recipe["eps"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running.append(loss.item())
        if step % settings["eval_every"] == 0 or step == settings["steps"]:
            pred = predict_logits(model, val.images, device).argmax(1).numpy()
            score = selection_score(settings["selection"], pred, val.labels.numpy(), val_bias)
            val_metrics = classification_metrics(pred, val.labels.numpy(), val_bias,
                                                 val_rows["bias_aligned"].to_numpy() if val_bias is not None else None)
            best.offer(model, score, step)
            history.append({"step": step, "train_loss": sum(running) / len(running), "val_selection_score": score,
                            **{f"val_{k}": v for k, v in val_metrics.items()}})
            running = []
            progress(step, loss=history[-1]["train_loss"], val_score=score)

    model.load_state_dict(best.state)
    log.info("selected step %d (%s validation score %.4f)", best.step, settings["selection"], best.score)
    uses_bias = METHODS[args.method]["uses_bias_labels"] or settings["selection"] == "oracle"
    with atomic_dir(args.out) as tmp:
        save_classifier(model, tmp, {"arch": settings["arch"], "num_classes": num_classes,
                                     "image_size": int(train.images.shape[-1]), "method": args.method,
                                     "seed": args.seed, "settings": settings, "recipe": recipe})
        pd.DataFrame(history).to_csv(tmp / "training_log.csv", index=False)
        (tmp / "selection.json").write_text(json.dumps({
            "selection": settings["selection"], "step": best.step, "val_score": best.score,
            "method_uses_bias_labels": METHODS[args.method]["uses_bias_labels"], "uses_bias_labels": uses_bias,
        }, indent=2))


if __name__ == "__main__":
    main()
