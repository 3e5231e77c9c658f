"""Stage "generate_urbancars": UrbanCars composited from Stanford Cars, Places365 and LVIS/COCO.

Reads the three extracted downloads; writes the Whac-A-Mole folder layout plus ``provenance.csv`` into ``--out``
(atomically). The compositing itself is ddb/datasets/urbancars_generation.py.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.datasets.common import DatasetError
from ddb.datasets.urbancars_generation import generate, load_maskrcnn

log = logging.getLogger("ddb.generate_urbancars")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cars", required=True, type=Path, help="extracted Stanford Cars files (download stage)")
    p.add_argument("--places", required=True, type=Path, help="extracted Places365 files (download stage)")
    p.add_argument("--lvis", required=True, type=Path, help="extracted LVIS annotations and COCO images")
    p.add_argument("--settings", default=None, help="JSON urbancars settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--mask-weights", type=Path, default=None,
                   help="staged Mask R-CNN weights (rule stage_weights), for car_mask: maskrcnn")
    p.add_argument("--out", required=True, type=Path, help="output folder (Whac-A-Mole layout)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = resolve_settings("urbancars", args.settings)
    start_stage(log, args, settings)
    try:
        model = load_maskrcnn(args.mask_weights) if settings["car_mask"] == "maskrcnn" else None
        n = generate(args.cars, args.places, args.lvis, args.out, settings, model)
    except DatasetError as error:
        log.error("%s", error)
        raise SystemExit(f"generate_urbancars failed: {error}") from None
    log.info("wrote %d UrbanCars images to %s", n, args.out)


if __name__ == "__main__":
    main()
