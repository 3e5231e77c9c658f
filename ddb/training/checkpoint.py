"""Resumable training: the whole training state, saved every N steps and restored after a kill or a preemption.

A training loop registers once what it needs back (``checkpoint.track(model=..., optimizer=..., ...)``): every
object with ``state_dict()`` / ``load_state_dict()``, the RNGs through :class:`RandomState`, logged values through
:class:`TrainingRecord`. ``restore()`` loads them all and returns the step to continue after; ``save(step)`` writes them
all, when ``wanted(step)``. Nothing is listed twice, so a new piece of state cannot be saved but forgotten on resume.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import torch

from ddb.core.atomic import atomic_file, write_text
from ddb.core.integrity import file_digest

log = logging.getLogger("ddb.training")
# Part of every fingerprint: a checkpoint of another layout is ignored, not half-loaded.
FORMAT = 3


class RandomState:
    """The RNGs a training run draws from: its own generators (the CPU one first, then one on the device it computes
    on, when that is a GPU) and torch's global (CPU and CUDA) generators.

    A state saved on a GPU resumes on a CPU-only node and back: each generator whose device exists again is
    restored; one whose device is gone cannot continue its stream there (CPU and CUDA generators are different
    algorithms), so the resumed run draws on from the fresh generator, and the log says so."""

    def __init__(self, *generators: torch.Generator):
        self.generators = [g for i, g in enumerate(generators) if all(g is not other for other in generators[:i])]

    def state_dict(self) -> dict:
        state = {"generators": [{"device": g.device.type, "state": g.get_state()} for g in self.generators],
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        saved = {entry["device"]: entry["state"] for entry in state["generators"]}
        for generator in self.generators:
            if generator.device.type in saved:
                generator.set_state(saved.pop(generator.device.type))
            else:
                log.warning("no saved state of a %s random generator (the checkpoint was written on other devices): "
                            "its draws start afresh, so this run does not repeat an uninterrupted one exactly",
                            generator.device.type)
        for device in saved:
            log.warning("the saved %s random generator cannot continue on this node's devices: draws that were made "
                        "on %s continue from a fresh generator, so this run does not repeat an uninterrupted one "
                        "exactly", device, device)
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


class _HashingWriter:
    """A binary file that hashes what is written to it, so a checkpoint's sha256 needs no second read."""

    def __init__(self, file):
        self.file, self.digest = file, hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()


class TrainingRecord:
    """What a loop logs: ``history`` (one row per logged step) and the batch losses since the last row, summed where
    they are computed (in float64, so the mean equals that of the values read one by one) and read back once per
    row."""

    def __init__(self):
        self.history: list[dict] = []
        self.running_sum, self.running_count = 0.0, 0

    def add(self, loss: torch.Tensor) -> None:
        self.running_sum = self.running_sum + loss.detach().double()
        self.running_count += 1

    def mean_running(self) -> float:
        mean = float(self.running_sum) / self.running_count
        self.running_sum, self.running_count = 0.0, 0
        return mean

    def state_dict(self) -> dict:
        return {"history": self.history, "running_sum": float(self.running_sum), "running_count": self.running_count}

    def load_state_dict(self, state: dict) -> None:
        self.history = state["history"]
        self.running_sum, self.running_count = state["running_sum"], state["running_count"]


class Checkpoint:
    """The tracked training state in ``<out>.<name>.pt`` (written temp-then-rename), so a killed or preempted job
    resumes where it stopped: saved at multiples of ``every`` steps once ``minutes`` have passed since the last save
    (0: at every multiple), which bounds the writes to shared storage by time, not by the device's speed. A
    checkpoint is resumed only when its ``fingerprint`` (format, settings, seed, the inputs' sizes and modification
    times) equals this run's: a rerun for changed inputs starts afresh. Its sha256, computed while it is written, is
    kept beside it (``<out>.<name>.pt.sha256``); a checkpoint that does not match it or cannot be read is reported,
    moved aside to ``*.damaged`` and training starts afresh, so the rerun succeeds without anyone deleting files.
    Loaded onto the CPU with ``weights_only=True`` (tensors and plain containers only, never arbitrary pickles);
    each tracked object puts its state on the device that resumes it, so a checkpoint written on a GPU resumes on a
    CPU-only node and back."""

    def __init__(self, out: Path, fingerprint: dict, every: int, name: str = "checkpoint", minutes: float = 0):
        out = Path(out)
        self.path = out.with_name(f"{out.name}.{name}.pt")
        self.digest_path = self.path.with_name(self.path.name + ".sha256")
        self.fingerprint = json.dumps({"format": FORMAT, **fingerprint}, sort_keys=True, default=str)
        self.every, self.seconds = every, 60 * minutes
        self.last_saved = time.monotonic()
        self.tracked: dict[str, object] = {}

    def track(self, **stateful) -> None:
        """Register objects (``state_dict`` / ``load_state_dict``) that a resumed run needs back, by name."""
        self.tracked.update(stateful)

    def restore(self) -> int:
        """Load a matching saved state into the tracked objects; the step it was saved after (0: none)."""
        if not self.path.exists():
            return 0
        recorded = self.digest_path.read_text().split()[0] if self.digest_path.exists() else None
        try:
            if recorded != file_digest(self.path):
                raise ValueError("its sha256 does not match the one recorded when it was written" if recorded
                                 else f"{self.digest_path.name} is missing")
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # damaged, truncated, or of another program: never resumed from
            self._move_aside(error)
            return 0
        if saved.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s: it was written for other settings or inputs", self.path)
            return 0
        for name, stateful in self.tracked.items():
            stateful.load_state_dict(saved["state"][name])
        log.info("resuming from %s after step %d", self.path, saved["step"])
        return saved["step"]

    def _move_aside(self, error: Exception) -> None:
        aside = self.path.with_name(self.path.name + ".damaged")
        log.warning("checkpoint %s is damaged or unreadable (%s: %s): moved to %s; training starts afresh",
                    self.path, type(error).__name__, error, aside)
        self.path.replace(aside)
        self.digest_path.unlink(missing_ok=True)

    def save(self, step: int) -> None:
        state = {name: stateful.state_dict() for name, stateful in self.tracked.items()}
        try:
            with atomic_file(self.path) as tmp, open(tmp, "wb") as file:
                writer = _HashingWriter(file)
                torch.save({"state": state, "step": step, "fingerprint": self.fingerprint}, writer)
            # written after the checkpoint: a job killed in between leaves a mismatch, hence a fresh start, never a
            # resume from a file that was not checked
            write_text(self.digest_path, f"{writer.digest.hexdigest()}  {self.path.name}\n")
        except (OSError, RuntimeError) as error:
            free = shutil.disk_usage(self.path.parent).free
            # a full disk reaches torch's writer as a bare stream error, without an errno
            if getattr(error, "errno", None) not in (errno.ENOSPC, errno.EDQUOT) and free >= _nbytes(state):
                raise
            raise SystemExit(f"could not write the checkpoint {self.path} after step {step} ({type(error).__name__}: "
                             f"{error}); {free / 2**20:.0f} MiB are free on its disk. Free space there and rerun: "
                             "training resumes from the last complete checkpoint") from None
        self.last_saved = time.monotonic()

    def due(self, step: int) -> bool:
        """Whether ``step`` is a multiple of ``every`` at least ``minutes`` after the last save."""
        return bool(self.every) and step % self.every == 0 and time.monotonic() - self.last_saved >= self.seconds

    def wanted(self, step: int, last_step: int | None = None) -> bool:
        """Whether to save after ``step``: when :meth:`due`, and after ``last_step`` (a finished part a later step of
        the stage needs)."""
        return self.due(step) or bool(self.every) and step == last_step

    def remove(self) -> None:
        """Called once the stage's output is complete; a damaged checkpoint moved aside earlier (kept to be looked at
        while the run was unfinished, and model-sized) goes too."""
        for path in (self.path, self.digest_path, self.path.with_name(self.path.name + ".damaged")):
            path.unlink(missing_ok=True)


def _nbytes(state) -> int:
    """The bytes of the tensors in a (nested) state: about what its checkpoint needs on disk."""
    if isinstance(state, torch.Tensor):
        return state.nbytes
    if isinstance(state, dict):
        return sum(_nbytes(value) for value in state.values())
    if isinstance(state, (list, tuple)):
        return sum(_nbytes(value) for value in state)
    return 0


def input_fingerprint(*paths) -> dict:
    """Size and modification time of each input file or folder (its files), for :class:`Checkpoint`."""
    out = {}
    for path in filter(None, paths):
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out[str(path)] = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files[:1000]]
    return out
