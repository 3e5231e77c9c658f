"""Stage "prepare data": materialise a dataset as images on disk plus one normalised metadata table.

Writes ``<out-dir>/images/...`` and ``<out-dir>/metadata.parquet`` (schema: ddb/core/tables.py, ``metadata``).
Every later stage reads only these two, so adding a dataset means adding one source module to ddb/datasets/ (its
files and a builder returning the metadata rows); nothing downstream changes. Downloadable sources read the folder
the download stage extracted (``--raw``). The image folder is complete before the table appears (the table is the
stage's "done" marker, and both are written under temporary names first).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ddb import datasets
from ddb.core.atomic import atomic_dir
from ddb.core.integrity import write_manifest
from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.core.tables import write_table
from ddb.datasets.common import DatasetError

log = logging.getLogger("ddb.prepare_data")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, choices=datasets.source_names(), help="which dataset source to build")
    p.add_argument("--raw", type=Path, help="folder of the extracted downloads (sources with files)")
    p.add_argument("--settings", default=None, help="JSON settings of the source (defaults: ddb/config.schema.yaml)")
    p.add_argument("--images", required=True, type=Path, help="output folder for the images")
    p.add_argument("--metadata", required=True, type=Path, help="output metadata.parquet (beside --images)")
    args = p.parse_args(argv)
    if args.images.resolve().parent != args.metadata.resolve().parent:
        p.error("--images and --metadata must be in the same folder: table paths are relative to it")
    if datasets.source(args.source).files and args.raw is None:
        p.error(f"source {args.source} needs --raw, the folder its download stage extracted")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = resolve_settings(args.source, args.settings)
    start_stage(log, args, settings)
    try:
        with atomic_dir(args.images) as tmp_images:
            metadata = datasets.source(args.source).build(args.raw, tmp_images, args.images.name, settings)
            write_manifest(tmp_images)  # later stages check every image they read against it
    except DatasetError as error:
        log.error("%s", error)
        raise SystemExit(f"cannot prepare {args.source}: {error}") from None
    counts = metadata.groupby(["split", "label"]).size().unstack(fill_value=0)
    log.info("images per split and class:\n%s", counts.to_string())
    write_table(metadata, args.metadata, "metadata", {"source": args.source, "settings": settings})
    log.info("wrote %d rows to %s", len(metadata), args.metadata)


if __name__ == "__main__":
    main()
