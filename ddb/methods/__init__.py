"""The debiasing methods a run can name, one module per method (``ddb/methods/<method>.py``, as in SpuCo).

Each module defines ``METHOD`` (a :class:`Method`: what the training job reads and uses) and
``objective(context) -> Objective``, what the shared training loop optimises for it. A module is imported only
when its method is asked for, so a run's code identity covers its own method's code: editing JTT retrains JTT's
runs, not DDB's. Adding a method is adding one module here, listed in the schema's ``methods`` enum.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from ddb.core.images import ImageSet
    from ddb.training.checkpoint import Checkpoint

log = logging.getLogger("ddb.methods")


@dataclass(frozen=True)
class Method:
    """``needs``: what the training job reads besides the metadata: ``scores`` (an amplifier's Parquet table) or
    ``amplifier`` (the frozen amplifier itself). ``amplifier_trained_on``: ``synthetic`` (DDB), ``real`` (the
    ablation: the same classifier trained on the real training set) or None (no amplifier). ``settings``: the config
    section of its own settings (``recipes.ddb_i``, ``baselines.jtt``) or None. ``uses_bias_labels``: whether
    training reads true bias labels; every result row carries it."""

    needs: tuple[str, ...] = ()
    amplifier_trained_on: str | None = None
    settings: str | None = None
    uses_bias_labels: bool = False

    def settings_key(self) -> tuple[str, str] | None:
        """``("recipes", "ddb_i")`` for ``settings = "recipes.ddb_i"``: the config section and its entry."""
        return tuple(self.settings.split(".")) if self.settings else None


@dataclass
class MethodContext:
    """What a method's ``objective()`` may use: the ``classifier`` settings, its own settings, the real data, the
    artifacts it needs, a resumable checkpoint for any model of its own (``checkpoint(name)``, None when
    checkpoints are off), and the staged ImageNet weights its models start from (None: none)."""

    settings: dict
    method_settings: dict
    metadata: pd.DataFrame
    train: ImageSet
    num_classes: int
    generator: torch.Generator
    device: torch.device
    scores: Path | None
    amplifier: Path | None
    checkpoint: Callable[[str], Checkpoint | None]
    pretrained_weights: Path | None = None


def method_names() -> list[str]:
    """Every method, by module name, found without importing any of them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__))


def method_module(name: str):
    if name not in method_names():
        raise ValueError(f"unknown method {name!r}; the methods are {', '.join(method_names())}")
    return importlib.import_module(f"{__name__}.{name}")


def method(name: str) -> Method:
    return method_module(name).METHOD


def log_group_sizes(objective):
    """Log the non-empty groups of a GroupDRO objective (oracle groups or pseudo-groups); return it."""
    log.info("%d non-empty groups; sizes: %s", len(objective.group_sizes), objective.group_sizes)
    return objective
