"""Stage "build image store": every split of a prepared dataset decoded once, at one resolution, into the image
store the later stages read batch by batch (ddb/core/store.py says why this format).

``--resolution native`` keeps the prepared images' size (the target model's input); ``<n>px`` resizes to n x n
(the diffusion model's resolution, which the synthetic amplifier and the bias classifier also see). Decoding,
resizing and colour conversion happen here and nowhere else, so no stage holds a whole split in memory and no epoch
decodes an image. The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ddb.core.atomic import atomic_dir
from ddb.core.images import write_store
from ddb.core.logs import start_stage
from ddb.core.store import resolution_size
from ddb.core.tables import read_table

log = logging.getLogger("ddb.build_image_store")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--resolution", required=True, help="'native' (as prepared) or '<n>px' (resized to n x n)")
    p.add_argument("--out", required=True, type=Path, help="output store folder")
    args = p.parse_args(argv)
    try:
        args.size = resolution_size(args.resolution)
    except ValueError as error:
        p.error(str(error))
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    metadata = read_table(args.metadata, "metadata")
    with atomic_dir(args.out) as tmp:
        record = write_store(metadata, args.metadata.parent, tmp, args.size)
    log.info("wrote the %s store of %d images to %s", record["resolution"],
             sum(split["count"] for split in record["splits"].values()), args.out)


if __name__ == "__main__":
    main()
