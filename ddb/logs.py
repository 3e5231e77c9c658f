"""Logging of the stage modules (kept apart so that light stages do not import torch or hash training code)."""

import json
import logging


def start_stage(log: logging.Logger, args, settings: dict | None = None) -> None:
    """Stage logs go to stderr (each rule redirects it to its log file), one timestamped line per event. The first
    line is the stage's resolved configuration: its command line and its config section with every default filled
    in, so a log says exactly what produced the output next to it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    arguments = {key: value for key, value in vars(args).items() if key not in ("settings", "recipe_settings")}
    resolved = {"arguments": arguments} | ({"settings": settings} if settings is not None else {})
    log.info("resolved config: %s", json.dumps(resolved, sort_keys=True, default=str))
