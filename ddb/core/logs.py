"""Logging of the stage modules (kept apart so that light stages do not import torch or hash training code)."""

import json
import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("ddb.progress")


def start_stage(logger: logging.Logger, args, settings: dict | None = None) -> None:
    """Stage logs go to stderr (each rule redirects it to its log file), one timestamped line per event. The first
    line is the stage's resolved configuration: its command line and its config section with every default filled
    in, so a log says exactly what produced the output next to it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    arguments = {key: value for key, value in vars(args).items() if key not in ("settings", "recipe_settings")}
    resolved = {"arguments": arguments} | ({"settings": settings} if settings is not None else {})
    logger.info("resolved config: %s", json.dumps(resolved, sort_keys=True, default=str))


class Progress:
    """Progress of a long loop: a tqdm bar when stderr is a terminal; otherwise (a rule's log file, a SLURM log) one
    line every ``every`` steps with the values and the elapsed time, so the log stays readable."""

    def __init__(self, total: int, every: int, what: str, bar: bool | None = None):
        self.total, self.every, self.what = total, every, what
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, desc=what, dynamic_ncols=True) if (
            sys.stderr.isatty() if bar is None else bar) else None

    def __call__(self, step: int, **values) -> None:
        fields = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if values:
                self.bar.set_postfix_str(fields, refresh=False)
            if step >= self.total:
                self.bar.close()
            return
        if step % self.every and step != self.total:
            return
        log.info("%s step %d/%d %s (%.1f s elapsed)", self.what, step, self.total, fields, time.perf_counter() - self.start)
