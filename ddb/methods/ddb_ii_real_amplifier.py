"""The paper's ablation: Recipe II with an amplifier trained on the real training set instead of synthetic images."""

from __future__ import annotations

from ddb.methods import Method
from ddb.methods.ddb_ii import objective  # noqa: F401 (the same recipe; only the amplifier differs)

METHOD = Method(needs=("amplifier",), amplifier_trained_on="real", settings="recipes.ddb_ii")
