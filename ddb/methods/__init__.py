"""The debiasing methods a run can name, one module per method (``ddb/methods/<method>.py``, as in SpuCo), and the
contract between a method and the stage that trains it: this module is the one place that says what a method may read.

Each module defines ``METHOD`` (a :class:`Method`: what the training job reads and uses) and either
``objective(context) -> Objective``, what the shared training loop optimises for it, or, without an ``objective``,
``train(context) -> dict`` for a method that fits the model itself (last-layer retraining), returning what it
selected and how. A run built on another run's model counts as using bias labels when that model did. A module is
imported only when its method is asked for, so a run's code identity covers its own method's code: editing JTT
retrains JTT's runs, not DDB's. Adding a method is adding one module here and its name in the schema's ``methods``
enum (with a settings section when it has settings): docs/add-a-method.md.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from ddb.core.images import ImageSet
    from ddb.training.checkpoint import Checkpoint

log = logging.getLogger("ddb.methods")


@dataclass(frozen=True)
class InputKind:
    """Something a training job may read besides the metadata: where the workflow finds it (``path``, a template
    over ``dataset``, ``amplifier``, ``base_run``, ``seed``) and what it is; its command-line flag is its name."""

    path: str
    help: str


# Every kind of input a method may declare in ``Method.needs``; planning, the rules and the stage's command line
# all read this table. ``selection_scores`` is not a method's: pseudo-group model selection asks for it.
INPUT_KINDS = {
    "scores": InputKind("results/{dataset}/amplifier/{amplifier}/scores.parquet",
                        "scores.parquet of the run's amplifier (score_real)"),
    "amplifier": InputKind("results/{dataset}/amplifier/{amplifier}/model",
                           "the run's frozen amplifier (train_amplifier / train_real_amplifier)"),
    "base_model": InputKind("results/{dataset}/debias/{base_run}/seed{seed}/model",
                            "the finished model of the run this method builds on (train_debiased), same seed"),
    "selection_scores": InputKind("results/{dataset}/amplifier/{amplifier}/scores.parquet",
                                  "scores.parquet whose val amp_pred defines the pseudo-groups of "
                                  "label_free_pseudo_group selection"),
}


def input_flag(kind: str) -> str:
    """``--base-model`` for ``base_model``."""
    return "--" + kind.replace("_", "-")


@dataclass(frozen=True)
class Method:
    """``needs``: the input kinds (:data:`INPUT_KINDS`) the training job reads besides the metadata.
    ``amplifier_trained_on``: ``synthetic`` (DDB), ``real`` (the ablation: the same classifier trained on the real
    training set) or None (no amplifier). ``builds_on``: the method whose finished model (same dataset and seed) this
    one reads as ``base_model``, or None. ``settings``: the config section of its own settings (``recipes.ddb_i``,
    ``baselines.jtt``) or None. ``uses_bias_labels``: whether training reads true bias labels; every result row
    carries it."""

    needs: tuple[str, ...] = ()
    amplifier_trained_on: str | None = None
    builds_on: str | None = None
    settings: str | None = None
    uses_bias_labels: bool = False

    def __post_init__(self):
        unknown = sorted(set(self.needs) - set(INPUT_KINDS))
        if unknown:
            raise ValueError(f"Method needs unknown input kinds {unknown}; the kinds are {sorted(INPUT_KINDS)}")
        if ("base_model" in self.needs) != (self.builds_on is not None):
            raise ValueError("a Method reads base_model exactly when it names the method it builds_on")
        if {"scores", "amplifier"} & set(self.needs) and self.amplifier_trained_on is None:
            raise ValueError("a Method that reads an amplifier's scores or model says what it was trained_on")

    def settings_key(self) -> tuple[str, str] | None:
        """``("recipes", "ddb_i")`` for ``settings = "recipes.ddb_i"``: the config section and its entry."""
        return tuple(self.settings.split(".")) if self.settings else None


@dataclass
class MethodContext:
    """What a method may use: the ``classifier`` settings, its own settings, the real data (``train``, which an
    ``objective()`` may replace by a subset it holds out or balances itself, and ``val``), the ``model`` the stage
    built (fresh, on the device: a method may load weights into it or freeze layers), its ``inputs`` by kind
    (paths), a resumable checkpoint for any model of its own (``checkpoint(name)``, None when checkpoints are off),
    and the staged ImageNet weights its models start from (None: none)."""

    settings: dict
    method_settings: dict
    metadata: pd.DataFrame
    train: ImageSet
    val: ImageSet
    num_classes: int
    generator: torch.Generator
    device: torch.device
    model: torch.nn.Module
    checkpoint: Callable[[str], Checkpoint | None]
    inputs: dict[str, Path] = field(default_factory=dict)
    pretrained_weights: Path | None = None

    @property
    def scores(self) -> Path | None:
        return self.inputs.get("scores")

    @property
    def amplifier(self) -> Path | None:
        return self.inputs.get("amplifier")

    def amplifier_scores(self, images: ImageSet) -> pd.DataFrame:
        """The amplifier's scores (``scores`` input) of ``images`` (a split or subset), in their order."""
        from ddb.core.tables import read_table

        return read_table(self.scores, "scores").set_index("sample_id").loc[images.sample_ids]


def method_names() -> list[str]:
    """Every method, by module name, found without importing any of them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__))


def method_module(name: str):
    if name not in method_names():
        raise ValueError(f"unknown method {name!r}; the methods are {', '.join(method_names())}")
    return importlib.import_module(f"{__name__}.{name}")


def method(name: str) -> Method:
    return method_module(name).METHOD


def methods_built_on(name: str) -> list[str]:
    """``name`` and the methods whose finished models it reads, transitively (``ddb_llr`` -> erm)."""
    chain = [name]
    while (base := method(chain[-1]).builds_on) is not None:
        if base in chain:
            raise ValueError(f"methods build on each other in a circle: {' -> '.join([*chain, base])}")
        chain.append(base)
    return chain


def log_group_sizes(objective):
    """Log the non-empty groups of a GroupDRO objective (oracle groups or pseudo-groups); return it."""
    log.info("%d non-empty groups; sizes: %s", len(objective.group_sizes), objective.group_sizes)
    return objective
