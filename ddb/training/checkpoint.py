"""Resumable training: the whole training state, saved every N steps and restored after a kill or a preemption.

A training loop registers once what it needs back (``checkpoint.track(model=..., optimizer=..., ...)``): every
object with ``state_dict()`` / ``load_state_dict()``, the RNGs through :class:`RandomState`, logged values through
:class:`TrainingRecord`. ``restore()`` loads them all and returns the step to continue after; ``maybe_save(step)``
writes them all. Nothing is listed twice, so a new piece of state cannot be saved but forgotten on resume.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ddb.core.atomic import atomic_file, write_text
from ddb.core.integrity import file_digest

log = logging.getLogger("ddb.training")
# Part of every fingerprint: a checkpoint of another layout is ignored, not half-loaded.
FORMAT = 2


class RandomState:
    """The RNGs a training run draws from: its own ``generator`` and torch's global (CPU and CUDA) generators."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def state_dict(self) -> dict:
        state = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class TrainingRecord:
    """What a loop logs: ``history`` (one row per logged step) and the batch losses since the last row."""

    def __init__(self):
        self.history: list[dict] = []
        self.running: list[float] = []

    def mean_running(self) -> float:
        mean = sum(self.running) / len(self.running)
        self.running = []
        return mean

    def state_dict(self) -> dict:
        return {"history": self.history, "running": self.running}

    def load_state_dict(self, state: dict) -> None:
        self.history, self.running = state["history"], state["running"]


class Checkpoint:
    """The tracked training state every ``every`` steps in ``<out>.<name>.pt`` (written temp-then-rename), so a
    killed or preempted job resumes where it stopped. A checkpoint is resumed only when its ``fingerprint`` (format,
    settings, seed, the inputs' sizes and modification times) equals this run's: a rerun for changed inputs starts
    afresh. Its sha256 is kept beside it (``<out>.<name>.pt.sha256``); a checkpoint that does not match it or
    cannot be read is reported, moved aside to ``*.damaged`` and training starts afresh, so the rerun succeeds
    without anyone deleting files. Loaded with ``weights_only=True``: tensors and plain containers only, never
    arbitrary pickles."""

    def __init__(self, out: Path, fingerprint: dict, every: int, name: str = "checkpoint"):
        out = Path(out)
        self.path = out.with_name(f"{out.name}.{name}.pt")
        self.digest_path = self.path.with_name(self.path.name + ".sha256")
        self.fingerprint = json.dumps({"format": FORMAT, **fingerprint}, sort_keys=True, default=str)
        self.every = every
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
            saved = torch.load(self.path, weights_only=True)
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
        with atomic_file(self.path) as tmp:
            torch.save({"state": state, "step": step, "fingerprint": self.fingerprint}, tmp)
            digest = file_digest(tmp)
        # written after the checkpoint: a job killed in between leaves a mismatch, hence a fresh start, never a resume
        # from a file that was not checked
        write_text(self.digest_path, f"{digest}  {self.path.name}\n")

    def maybe_save(self, step: int, last_step: int | None = None) -> None:
        """Save every ``every`` steps, and after ``last_step`` (a finished part a later step of the stage needs)."""
        if self.every and (step % self.every == 0 or step == last_step):
            self.save(step)

    def remove(self) -> None:
        """Called once the stage's output is complete."""
        self.path.unlink(missing_ok=True)
        self.digest_path.unlink(missing_ok=True)


def input_fingerprint(*paths) -> dict:
    """Size and modification time of each input file or folder (its files), for :class:`Checkpoint`."""
    out = {}
    for path in filter(None, paths):
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out[str(path)] = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files[:1000]]
    return out
