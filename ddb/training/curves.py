"""Training curves as TensorBoard event files, opt in: ``tensorboard: true`` in the config reaches every job as
$DDB_TENSORBOARD (like ``deterministic``: how a run is watched, not what it computes, so switching it reruns
nothing). A training loop then writes each row of its ``training_log.csv`` as scalars while it trains, into
``<out>.tensorboard/`` beside the output being built (watch it live: ``tensorboard --logdir results``), and the
stage keeps the event files in ``<out>/tensorboard/`` of its finished output. Off, TensorBoard is not imported and
nothing is written."""

from __future__ import annotations

import numbers
import os
import shutil
from pathlib import Path

# set by rules/common.smk from the config (here, not in ddb/core/settings.py, which every stage imports: a new name
# there would change every stage's code identity)
TENSORBOARD_ENV = "DDB_TENSORBOARD"


def tensorboard_on() -> bool:
    value = os.environ.get(TENSORBOARD_ENV, "no")
    if value not in ("yes", "no"):
        raise ValueError(f"{TENSORBOARD_ENV}={value!r}: use yes or no (the config's `tensorboard: true` sets it)")
    return value == "yes"


class Curves:
    """The event files of the stage writing ``out``; off, nothing is written (:meth:`remove` still clears what a run
    that was switched on left)."""

    def __init__(self, out: str | os.PathLike):
        self.on = tensorboard_on()
        self.live = Path(f"{out}.tensorboard")
        self.writer = None

    def start(self, first_step: int) -> None:
        """Open the event file before step ``first_step``: a fresh run clears what a failed one left, a resumed run
        hides the rows it is about to write again (TensorBoard's purge_step)."""
        if not self.on:
            return
        if first_step <= 1:
            shutil.rmtree(self.live, ignore_errors=True)
        from torch.utils.tensorboard import SummaryWriter  # here, not above: only when switched on

        self.writer = SummaryWriter(str(self.live), purge_step=first_step if first_step > 1 else None, flush_secs=30)

    def add(self, row: dict) -> None:
        """One training-log row: each number but the step, as a scalar named like its column, at the row's step."""
        if self.writer is None:
            return
        for name, value in row.items():
            if name != "step" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(name, float(value), int(row["step"]))
        self.writer.flush()  # a row every few hundred steps: on disk at once, also when the run then fails

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def keep(self, folder: Path) -> None:
        """Copy the event files into ``folder``, the output being written (before its atomic rename)."""
        self.close()
        if self.on and self.live.exists():
            shutil.copytree(self.live, folder / "tensorboard")

    def remove(self) -> None:
        """Once the output is in place (like a finished run's checkpoint)."""
        shutil.rmtree(self.live, ignore_errors=True)
