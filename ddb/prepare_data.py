"""Stage "prepare data": materialise a dataset as images on disk plus one normalised metadata table.

Writes ``<out-dir>/images/...`` and ``<out-dir>/metadata.parquet`` (schema: ddb/tables.py, ``metadata``).
Every later stage reads only these two, so adding a dataset means adding one builder here that returns the
metadata rows; nothing downstream changes. The image folder is complete before the table appears (the table
is the stage's "done" marker, and both are written under temporary names first).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
from PIL import Image

from ddb import shapes
from ddb.atomic import atomic_dir
from ddb.config import stage_settings
from ddb.logs import start_logging
from ddb.tables import write_table

log = logging.getLogger("ddb.prepare_data")


def build_builtin_shapes(image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    """Generate the built-in benchmark into ``image_dir``; return its metadata rows, paths starting ``prefix/``."""
    k = settings["num_classes"]
    rows = []
    for split in ("train", "val", "test"):
        images, labels, colours = shapes.generate(
            split, settings[f"n_{split}"], k, settings["image_size"], settings["conflicting_ratio"], settings["seed"]
        )
        (image_dir / split).mkdir(parents=True)
        for i, (image, y, b) in enumerate(zip(images, labels, colours)):
            name = f"{split}/{split}_{i:06d}_{shapes.SHAPES[y]}_{shapes.COLOUR_NAMES[b]}.png"
            Image.fromarray(image).save(image_dir / name)
            rows.append((f"{split}_{i:06d}", f"{prefix}/{name}", int(y), shapes.SHAPES[y], split, int(b), bool(y == b), int(y * k + b)))
        n_conf = int((labels != colours).sum())
        log.info("%s: %d images, %d bias-conflicting (%.2f%%)", split, len(labels), n_conf, 100 * n_conf / len(labels))
    return pd.DataFrame(rows, columns=["sample_id", "path", "label", "label_name", "split", "bias", "bias_aligned", "group"])


BUILDERS = {"builtin_shapes": build_builtin_shapes}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, choices=sorted(BUILDERS), help="which dataset builder to run")
    p.add_argument("--settings", default=None, help="JSON settings of the source (defaults: ddb/config.schema.yaml)")
    p.add_argument("--images", required=True, type=Path, help="output folder for the images")
    p.add_argument("--metadata", required=True, type=Path, help="output metadata.parquet (beside --images)")
    args = p.parse_args(argv)
    if args.images.resolve().parent != args.metadata.resolve().parent:
        p.error("--images and --metadata must be in the same folder: table paths are relative to it")
    return args


def main(argv=None) -> None:
    start_logging()
    args = parse_args(argv)
    settings = stage_settings(args.source, args.settings)
    log.info("settings: %s", settings)
    with atomic_dir(args.images) as tmp_images:
        metadata = BUILDERS[args.source](tmp_images, args.images.name, settings)
    counts = metadata.groupby(["split", "label"]).size().unstack(fill_value=0)
    log.info("images per split and class:\n%s", counts.to_string())
    write_table(metadata, args.metadata, "metadata", {"source": args.source, "settings": settings})
    log.info("wrote %d rows to %s", len(metadata), args.metadata)


if __name__ == "__main__":
    main()
