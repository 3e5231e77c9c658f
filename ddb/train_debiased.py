"""Stage "train debiased model" (DDB stage 5): one method (ddb/methods.py) on the real training split.

- ``erm``: mean cross-entropy.
- ``groupdro_oracle``: GroupDRO on the true (label, bias) groups (uses bias labels).
- ``jtt``: ERM for T epochs, then a fresh model with its error set upsampled.
- ``lff``: Learning from Failure, with a jointly trained GCE-biased model.
- ``ddb_i`` / ``ddb_i_error_set`` / ``ddb_i_real_amplifier``: GroupDRO on amplifier pseudo-groups from a scores
  table, (label, amplifier prediction) or (label, amplifier misclassified).
- ``ddb_ii`` / ``ddb_ii_real_amplifier``: W = L_amp / (L_amp + L_model) with the frozen amplifier.
The checkpoint is chosen on the validation split (``selection``: label_free, label_free_pseudo_group or oracle),
never on test.
Writes ``model.safetensors``, ``model.json``, ``training_log.csv`` and ``selection.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb import objectives
from ddb.atomic import atomic_dir
from ddb.config import stage_settings
from ddb.data import ImageSet, load_split
from ddb.groupdro import error_set_groups
from ddb.jtt import automatic_upweight, upsampling_weights
from ddb.logs import Progress, start_stage
from ddb.methods import METHODS
from ddb.metrics import classification_metrics, selection_score
from ddb.models import load_classifier, save_classifier
from ddb.tables import read_table
from ddb.training import (BatchSampler, BestKeeper, Checkpoint, augment, autocast, build_optimizer, input_fingerprint,
                          new_classifier, predict_logits, rng_state, set_rng_state, setup, uses_bf16)

log = logging.getLogger("ddb.train_debiased")


def fit(model, objective: objectives.Objective, train: ImageSet, settings: dict, steps: int, generator, device,
        validate=None, what: str = "train", checkpoint: Checkpoint | None = None) -> tuple[BestKeeper, list[dict]]:
    """The training loop shared by every method. ``validate(model) -> (score, metrics)`` runs every
    ``eval_every`` steps and the best-scoring weights are kept; without it the last weights are kept.
    With a ``checkpoint``, the whole state is saved periodically and a matching saved state is resumed."""
    params = itertools.chain(model.parameters(), *(m.parameters() for m in objective.extra_modules))
    optimizer = build_optimizer(params, settings)
    batches = BatchSampler(len(train), settings["batch_size"], generator, objective.sampling_weights)
    progress = Progress(steps, settings["eval_every"], what)
    best, history, running, first_step = BestKeeper(), [], [], 1
    state = checkpoint.load() if checkpoint else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        objective.load_state_dict(state["objective"])
        batches.load_state_dict(state["batches"])
        set_rng_state(generator, state["rng"])
        best.load_state_dict(state["best"])
        history, running, first_step = state["history"], state["running"], state["step"] + 1

    def training_state():
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "objective": objective.state_dict(),
                "batches": batches.state_dict(), "rng": rng_state(generator), "history": history, "running": running,
                "best": best.state_dict()}

    for module in (model, *objective.extra_modules):
        module.train()
    bf16 = uses_bf16(device, settings["precision"])
    for step in range(first_step, steps + 1):
        idx = next(batches)
        images = train.images[idx]
        if settings["augment_shift"] >= 0:
            images = augment(images, generator, settings["augment_shift"])
        images = images.to(device).float().div_(255)
        labels = train.labels[idx].to(device)
        with autocast(device, bf16):
            per_sample_ce = F.cross_entropy(model(images), labels, reduction="none")
            loss = objective.loss(idx, images, labels, per_sample_ce)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running.append(loss.item())
        if step % settings["eval_every"] == 0 or step == steps:
            row = {"step": step, "train_loss": sum(running) / len(running)}
            running = []
            if validate is not None:
                score, metrics = validate(model)
                best.offer(model, score, step)
                row |= {"val_selection_score": score, **{f"val_{k}": v for k, v in metrics.items()}}
            history.append(row)
            progress(step, **{k: v for k, v in row.items() if k in ("train_loss", "val_selection_score")})
        if checkpoint:
            checkpoint.maybe_save(step, training_state)
    if validate is None:
        best.offer(model, 0.0, steps)
    return best, history


def build_objective(method: str, recipe: dict, args, metadata: pd.DataFrame, train: ImageSet, settings: dict,
                    num_classes: int, generator, device) -> objectives.Objective:
    info = METHODS[method]
    if method == "erm":
        return objectives.Objective()
    if method == "groupdro_oracle":
        rows = metadata.set_index("sample_id").loc[train.sample_ids]
        if rows["group"].isna().any():
            raise SystemExit("groupdro_oracle needs bias labels for every training image; this dataset has none")
        return _grouped(objectives.GroupDRO(torch.tensor(rows["group"].to_numpy(dtype="int64")), recipe, device))
    if info["recipe"] == "ddb_i":
        scores = read_table(args.scores, "scores").set_index("sample_id").loc[train.sample_ids]
        if info["pseudo_label"] == "argmax":
            groups = torch.tensor(scores["pseudo_group"].to_numpy(dtype="int64"))
        else:
            groups = error_set_groups(train.labels, torch.tensor(scores["amp_misclassified"].to_numpy(dtype=bool)))
        return _grouped(objectives.GroupDRO(groups, recipe, device))
    if info["recipe"] == "ddb_ii":
        amplifier, _ = load_classifier(args.amplifier, device)
        amplifier.requires_grad_(False)
        return objectives.FrozenAmplifierReweighting(amplifier, train.labels, recipe)
    if method == "lff":
        biased = new_classifier(settings, num_classes, device)
        return objectives.LearningFromFailure(biased, train.labels, recipe)
    if method == "jtt":
        steps_per_epoch = max(1, len(train) // settings["batch_size"])
        identifier = new_classifier(settings, num_classes, device)
        fit(identifier, objectives.Objective(), train, settings, recipe["identification_epochs"] * steps_per_epoch,
            generator, device, what="jtt identification")
        wrong = predict_logits(identifier, train.images, device).argmax(1) != train.labels
        if not wrong.any():  # the identification model memorised everything: JTT has nothing to upweight
            raise SystemExit("JTT's error set is empty; lower recipes.jtt.identification_epochs")
        upweight = automatic_upweight(wrong) if recipe["upweight"] == -1 else recipe["upweight"]
        log.info("JTT error set: %d of %d training images, upweight %d", int(wrong.sum()), len(wrong), upweight)
        return objectives.Upsampled(upsampling_weights(wrong, upweight))
    raise ValueError(f"no objective for method {method!r}")


def _grouped(objective: objectives.GroupDRO) -> objectives.GroupDRO:
    log.info("%d non-empty groups; sizes: %s", len(objective.group_sizes), objective.group_sizes)
    return objective


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", required=True, choices=sorted(METHODS), help="debiasing method")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--scores", type=Path, help="scores.parquet from score_real (Recipe I methods)")
    p.add_argument("--amplifier", type=Path, help="amplifier folder from train_amplifier (Recipe II methods)")
    p.add_argument("--selection-scores", type=Path,
                   help="scores.parquet whose val amp_pred defines the pseudo-groups of label_free_pseudo_group selection")
    p.add_argument("--out", required=True, type=Path, help="output model folder")
    p.add_argument("--seed", type=int, default=0, help="seed of this run")
    p.add_argument("--settings", default=None, help="JSON 'classifier' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--recipe-settings", default=None, help="JSON settings of the method's recipe (recipes.<recipe>)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    for need in METHODS[args.method]["needs"]:
        if getattr(args, need) is None:
            p.error(f"method {args.method} needs --{need}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = stage_settings("classifier", args.settings)
    recipe_name = METHODS[args.method]["recipe"]
    recipe = stage_settings("recipes", {recipe_name: json.loads(args.recipe_settings or "{}")})[recipe_name] \
        if recipe_name else {}
    start_stage(log, args, {"classifier": settings, "recipe": recipe})
    device = setup(args.seed, args.threads)

    metadata = read_table(args.metadata, "metadata")
    train = load_split(metadata, args.metadata.parent, "train")
    val = load_split(metadata, args.metadata.parent, "val")
    val_rows = metadata[metadata["split"] == "val"]
    val_bias = val_rows["bias"].to_numpy(dtype="int64") if val_rows["bias"].notna().all() else None
    val_aligned = val_rows["bias_aligned"].to_numpy(dtype=bool) if val_bias is not None else None
    val_amp_pred = None
    if settings["selection"] == "label_free_pseudo_group":
        if args.selection_scores is None:
            raise SystemExit("selection label_free_pseudo_group needs --selection-scores (a scores.parquet of score_real)")
        scores = read_table(args.selection_scores, "scores").set_index("sample_id")
        val_amp_pred = scores.loc[val.sample_ids, "amp_pred"].to_numpy(dtype="int64")
    num_classes = int(metadata["label"].max()) + 1
    generator = torch.Generator().manual_seed(args.seed)
    # The target model is built first, so its initial weights depend on the seed alone, not on the method.
    model = new_classifier(settings, num_classes, device)
    objective = build_objective(args.method, recipe, args, metadata, train, settings, num_classes, generator, device)

    def validate(model):
        pred = predict_logits(model, val.images, device).argmax(1).numpy()
        score = selection_score(settings["selection"], pred, val.labels.numpy(), val_bias, val_amp_pred)
        return score, classification_metrics(pred, val.labels.numpy(), val_bias, val_aligned)

    checkpoint = Checkpoint(args.out, {"method": args.method, "seed": args.seed, "settings": settings, "recipe": recipe,
                                       "inputs": input_fingerprint(args.metadata, args.scores, args.amplifier,
                                                                   args.selection_scores)},
                            settings["checkpoint_every"])
    best, history = fit(model, objective, train, settings, settings["steps"], generator, device, validate, args.method,
                        checkpoint)
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
    checkpoint.remove()


if __name__ == "__main__":
    main()
