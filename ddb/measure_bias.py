"""Stage "measure bias" (evaluation only; reads bias labels): rho, the share of bias-aligned images per class, of
the real training split (``--real``) or of one synthetic set (``--synthetic``), by the bias classifier of
ddb/train_bias_classifier.py (ddb/algorithms/bias_share.py).

A class's aligned bias value comes from the real training split's bias labels. For the real split rho is given both
from the labels (exact) and from the classifier (the same instrument as for the synthetic sets, so the two can be
compared). Writes one JSON file with rho (mean over classes), rho per class, the images per (class, predicted bias
value) and the classifier's held-out accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from ddb.algorithms.bias_share import aligned_bias_values, bias_aligned_share, bias_counts_per_class
from ddb.core.atomic import write_text
from ddb.core.images import load_split, load_synthetic
from ddb.core.logs import start_stage
from ddb.core.tables import read_table
from ddb.models.classifiers import load_classifier, predict_logits
from ddb.models.resolution import require_resolution, trained_resolution
from ddb.training.device import setup

log = logging.getLogger("ddb.measure_bias")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", required=True, type=Path, help="bias classifier folder (train_bias_classifier)")
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--store", type=Path, help="with --real: the image store folder of the metadata table at the classifier's resolution")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--real", action="store_true", help="measure the real training split")
    what.add_argument("--synthetic", nargs="+", type=Path, help="synthetic image folders, one per class, in class order")
    p.add_argument("--dataset", required=True, help="dataset name, recorded in the output")
    p.add_argument("--measured", required=True, help="what is measured (real, synthetic/<variant>), recorded")
    p.add_argument("--out", required=True, type=Path, help="output JSON")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    if args.real and args.store is None:
        p.error("--real needs --store, the image store of the real images")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    device = setup(0, args.threads)
    classifier, info = load_classifier(args.classifier, device)
    metadata = read_table(args.metadata, "metadata")
    train = metadata[metadata["split"] == "train"]
    num_classes = int(metadata["label"].max()) + 1
    aligned = aligned_bias_values(train["label"], train["bias"], train["bias_aligned"])
    if args.real:
        images = load_split(metadata, args.store, "train")
        require_resolution(info, images.images.shape[-1], str(args.classifier),
                           f"the training images of {args.store}")
    else:
        images = load_synthetic(args.synthetic, trained_resolution(info))
    logits = predict_logits(classifier, images.images, device)
    predicted = logits.argmax(1).numpy()
    rho = bias_aligned_share(images.labels.numpy(), predicted, aligned, num_classes)
    counts = bias_counts_per_class(images.labels.numpy(), predicted, num_classes, logits.shape[1])
    result = {"dataset": args.dataset, "measured": args.measured, "n": int(len(predicted)),
              "rho": float(np.nanmean(rho)), "rho_per_class": rho.tolist(),
              "predicted_bias_counts_per_class": counts.tolist(),
              "aligned_bias_values": {str(k): v for k, v in aligned.items()},
              "classifier_holdout_acc": info["holdout_acc"], "uses_bias_labels": True}
    if args.real:
        from_labels = bias_aligned_share(train["label"], train["bias"], aligned, num_classes)
        result |= {"rho_labels": float(np.nanmean(from_labels)), "rho_labels_per_class": from_labels.tolist()}
    log.info("rho of %s: %.4f (per class %s); bias classifier held-out accuracy %s", args.measured, result["rho"],
             np.round(rho, 4).tolist(), info["holdout_acc"])
    write_text(args.out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
