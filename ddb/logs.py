"""Logging of the stage modules (kept apart so that light stages do not import torch or hash training code)."""

import logging


def start_logging() -> None:
    """Stage logs go to stderr (each rule redirects it to its log file), one timestamped line per event."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
