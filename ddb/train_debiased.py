"""Stage "train debiased model" (DDB stage 5): one method (ddb/methods/<method>.py) on the real training split.

The method supplies the objective (ERM, GroupDRO on true or amplifier pseudo-groups, per-sample reweighting, JTT's
upsampling, LfF's jointly trained biased model, pseudo-group-balanced data); the training loop is the one every
classifier shares (ddb/training/loop.py). The checkpoint is chosen on the validation split (``selection``:
label_free, label_free_pseudo_group or oracle), never on test; the same score stops training after ``patience``
evaluations without improvement, so every method gets the budget its own validation curve asks for, within
``steps``. A method without an objective fits the model itself (last-layer retraining of another run's model) and
says what it selected. Writes ``model.safetensors``, ``model.json``, ``training_log.csv`` and ``selection.json``
(the selected step, how it trained, and what it was computed on: device and torch thread count), and
``tensorboard/`` when switched on (ddb/training/curves.py).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd
import torch

from ddb import methods
from ddb.algorithms.metrics import classification_metrics, selection_score
from ddb.core.atomic import atomic_dir
from ddb.core.images import load_split
from ddb.core.integrity import read_checked, write_manifest
from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.core.tables import read_table
from ddb.models.classifiers import predict_logits, save_classifier
from ddb.training.checkpoint import Checkpoint, input_fingerprint
from ddb.training.curves import Curves
from ddb.training.device import setup
from ddb.training.augmentation import eval_view, train_view
from ddb.training.loop import fit, new_classifier
from ddb.training.provenance import compute_record

log = logging.getLogger("ddb.train_debiased")


def method_settings(method: methods.Method, given: str | None) -> dict:
    """The method's own settings section (``recipes.ddb_i``, ``baselines.jtt``), defaults filled; {} when none."""
    if method.settings_key() is None:
        return {}
    section, name = method.settings_key()
    return resolve_settings(section, {name: json.loads(given or "{}")})[name]


def training_summary(log_table: pd.DataFrame) -> dict:
    """Means over the whole run of the logged update norm (the effective step size) and, for reweighting methods,
    of the per-sample weight W (NaN when a method logs none)."""
    return {"mean_update_norm": float(log_table["update_norm"].mean()),
            "mean_weight": float(log_table["mean_weight"].mean()) if "mean_weight" in log_table else float("nan")}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", required=True, choices=methods.method_names(), help="debiasing method")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--store", required=True, type=Path, help="image store folder of that table (build_image_store)")
    for kind, spec in methods.INPUT_KINDS.items():
        p.add_argument(methods.input_flag(kind), type=Path, help=spec.help)
    p.add_argument("--out", required=True, type=Path, help="output model folder")
    p.add_argument("--seed", type=int, default=0, help="seed of this run")
    p.add_argument("--settings", default=None, help="JSON 'classifier' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--method-settings", default=None,
                   help="JSON settings of the method's own section (recipes.<name> or baselines.<name>)")
    p.add_argument("--pretrained-weights", type=Path, default=None,
                   help="staged ImageNet weights of the architecture (rule stage_weights), for pretrained: yes / auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    for need in methods.method(args.method).needs:
        if getattr(args, need) is None:
            p.error(f"method {args.method} needs {methods.input_flag(need)} ({methods.INPUT_KINDS[need].help})")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    method = methods.method(args.method)
    settings = resolve_settings("classifier", args.settings)
    own_settings = method_settings(method, args.method_settings)
    start_stage(log, args, {"classifier": settings, "method_settings": own_settings})
    device = setup(args.seed, args.threads)

    metadata = read_table(args.metadata, "metadata")
    train = load_split(metadata, args.store, "train")
    val = load_split(metadata, args.store, "val")
    if settings["augmentation"] == "resized_crop" and settings["crop_size"] > train.images.shape[-1]:
        raise SystemExit(f"classifier.crop_size {settings['crop_size']} is larger than the images of {args.store} "
                         f"({train.images.shape[-1]} px): lower it, or prepare the dataset at a larger image_size")
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
    model = new_classifier(settings, num_classes, device, args.pretrained_weights)
    inputs = {kind: getattr(args, kind) for kind in methods.INPUT_KINDS if getattr(args, kind) is not None}
    fingerprint = {"method": args.method, "seed": args.seed, "settings": settings, "method_settings": own_settings,
                   "inputs": input_fingerprint(args.metadata, *inputs.values(), args.pretrained_weights)}
    every, minutes = settings["checkpoint_every"], settings["checkpoint_minutes"]
    own_checkpoints: list[Checkpoint] = []

    def checkpoint_of(name: str) -> Checkpoint | None:
        if not every:
            return None
        own_checkpoints.append(Checkpoint(args.out, fingerprint | {"part": name}, every, name=name, minutes=minutes))
        return own_checkpoints[-1]

    context = methods.MethodContext(settings, own_settings, metadata, train, val, num_classes, generator, device,
                                    model, checkpoint_of, inputs, args.pretrained_weights)
    module = methods.method_module(args.method)

    def validate(model):
        pred = predict_logits(model, val.images, device, view=eval_view(settings)).argmax(1).numpy()
        score = selection_score(settings["selection"], pred, val.labels.numpy(), val_bias, val_amp_pred)
        metrics = classification_metrics(pred, val.labels.numpy(), val_bias, val_aligned)
        return score, {"val_selection_score": score, **{f"val_{k}": v for k, v in metrics.items()}}

    checkpoint = Checkpoint(args.out, fingerprint, every, minutes=minutes)
    curves = Curves(args.out)
    if not hasattr(module, "objective"):  # the method fits the model itself (train) and says what it selected
        fitted = module.train(context)
        history = [{"step": 0, **validate(model)[1]}]
        curves.start(1)
        curves.add(history[0])
        selected = {"selection": fitted.pop("selection"), "step": 0, "val_score": fitted.pop("val_score"),
                    "steps_trained": 0, "stopped_early": False, **fitted}
        uses_bias = method.uses_bias_labels
    else:
        objective = module.objective(context)
        best, history = fit(model, context.train, settings, settings["steps"], generator, device,
                            eval_every=settings["eval_every"], objective=objective, validate=validate,
                            augment=train_view(settings, generator), checkpoint=checkpoint, what=args.method,
                            patience=settings["patience"], min_steps=settings["min_steps"], curves=curves)
        model.load_state_dict(best.state)
        steps_trained = int(history[-1]["step"])
        log.info("selected step %d of %d trained (%s validation score %.4f)", best.step, steps_trained,
                 settings["selection"], best.score)
        selected = {"selection": settings["selection"], "step": best.step, "val_score": best.score,
                    "steps_trained": steps_trained, "stopped_early": steps_trained < settings["steps"],
                    **training_summary(pd.DataFrame(history))}
        uses_bias = method.uses_bias_labels or settings["selection"] == "oracle"
    if "base_model" in inputs:  # a model built on another run's model inherits how that one was chosen
        base = json.loads(read_checked(inputs["base_model"], inputs["base_model"] / "selection.json"))
        selected["base_selection"] = base["selection"]
        uses_bias = uses_bias or base["uses_bias_labels"]
    with atomic_dir(args.out) as tmp:
        save_classifier(model, tmp, {"arch": settings["arch"], "num_classes": num_classes,
                                     "image_size": int(train.images.shape[-1]), "method": args.method,
                                     "seed": args.seed, "settings": settings, "method_settings": own_settings})
        pd.DataFrame(history).to_csv(tmp / "training_log.csv", index=False)
        curves.keep(tmp)
        (tmp / "selection.json").write_text(json.dumps({
            **selected, "method_uses_bias_labels": method.uses_bias_labels, "uses_bias_labels": uses_bias,
            **compute_record(device),
        }, indent=2))
        write_manifest(tmp)  # readers check the weights against it
    for finished in (checkpoint, *own_checkpoints, curves):
        finished.remove()


if __name__ == "__main__":
    main()
