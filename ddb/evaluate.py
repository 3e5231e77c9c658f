"""Stage "evaluate": a trained model on the test split.

Writes ``metrics.json``: average, worst-class, worst-group, bias-aligned, bias-conflicting and unbiased accuracy
(definitions in ddb/algorithms/metrics.py), the per-group accuracies, the plain accuracy on val (``val_acc``, a
check that the model learnt anything: a warning when it is no better than val's most frequent class), and the run's
provenance (method, seed, amplifier, selection, whether bias labels were used). Test bias labels are read here, for
evaluation only.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ddb import datasets
from ddb.algorithms.benchmark_conventions import train_weighted_accuracy
from ddb.algorithms.metrics import classification_metrics, group_accuracies
from ddb.core.atomic import write_text
from ddb.core.images import load_split
from ddb.core.integrity import read_checked
from ddb.core.logs import start_stage
from ddb.core.tables import read_table, table_provenance
from ddb.models.classifiers import load_classifier, predict_logits
from ddb.training.augmentation import eval_view
from ddb.training.device import setup

log = logging.getLogger("ddb.evaluate")


def val_accuracy(model, model_dir: Path, metadata, store: Path, device, info: dict) -> float:
    """Plain accuracy on the val split (class labels only), with a warning when it is no better than always
    predicting val's most frequent class: such a model finished training but learnt nothing usable."""
    val = load_split(metadata, store, "val")
    pred = predict_logits(model, val.images, device, view=eval_view(info["settings"])).argmax(1)
    accuracy = int((pred == val.labels).sum()) / len(val)  # counts: both shares are the same exact fractions
    majority = int(val.labels.bincount().max()) / len(val)
    if accuracy <= majority:
        log.warning("%s is no better on val (%.1f %% accuracy) than always predicting its most frequent class "
                    "(%.1f %%): it learnt nothing usable; see its training_log.csv (too few steps, or a learning "
                    "rate too high or too low)", model_dir, 100 * accuracy, 100 * majority)
    return accuracy


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model folder written by train_debiased")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--store", required=True, type=Path, help="image store folder of the metadata table (build_image_store)")
    p.add_argument("--dataset", required=True, help="dataset name, recorded in the metrics")
    p.add_argument("--amplifier", default=None,
                   help="the amplifier the run used (real or synthetic/<sampling variant>; omitted: none), recorded")
    p.add_argument("--out", required=True, type=Path, help="output metrics.json")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    device = setup(0, args.threads)
    model, info = load_classifier(args.model, device)
    selection = json.loads(read_checked(args.model, args.model / "selection.json"))  # against the folder's manifest
    metadata = read_table(args.metadata, "metadata")
    test = load_split(metadata, args.store, "test")
    rows = metadata[metadata["split"] == "test"]
    pred = predict_logits(model, test.images, device, view=eval_view(info["settings"])).argmax(1).numpy()
    label = test.labels.numpy()
    has_bias = bool(rows["bias"].notna().all())
    bias = rows["bias"].to_numpy(dtype="int64") if has_bias else None
    aligned = rows["bias_aligned"].to_numpy(dtype=bool) if has_bias else None
    metrics = classification_metrics(pred, label, bias, aligned)
    per_group = group_accuracies(pred, label, bias) if has_bias else None
    train = metadata[metadata["split"] == "train"]
    metrics["train_weighted_acc"] = train_weighted_accuracy(per_group, train["label"], train["bias"]) \
        if has_bias and train["bias"].notna().all() else float("nan")
    metrics["val_acc"] = val_accuracy(model, args.model, metadata, args.store, device, info)
    source = table_provenance(args.metadata).get("source")
    convention = datasets.source(source).benchmark_metrics if source in datasets.source_names() else None
    if convention is not None and has_bias:  # the benchmark's own metrics (UrbanCars' gaps)
        metrics |= convention(pred, label, bias, metrics)
    per_group = per_group.to_dict("records") if has_bias else []
    result = {
        "dataset": args.dataset, "source": source,
        "method": info["method"], "seed": info["seed"],
        "amplifier": args.amplifier,
        "selection": selection["selection"], "selected_step": selection["step"],
        # older models (before early stopping) record none of these
        **{key: selection.get(key, float("nan")) for key in ("steps_trained", "mean_weight", "mean_update_norm")},
        **{key: selection.get(key) for key in ("device", "torch_threads")},  # what it was trained on
        "method_uses_bias_labels": selection["method_uses_bias_labels"],
        "uses_bias_labels": selection["uses_bias_labels"],
        "n_test": int(len(label)), **metrics, "per_group": per_group,
    }
    log.info("test metrics: %s", json.dumps({k: v for k, v in result.items() if k != "per_group"}))
    write_text(args.out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
