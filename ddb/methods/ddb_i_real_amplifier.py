"""The paper's ablation: Recipe I with an amplifier trained on the real training set instead of synthetic images."""

from __future__ import annotations

from ddb.methods import Method
from ddb.methods.ddb_i import objective  # noqa: F401 (the same recipe; only the amplifier differs)

METHOD = Method(needs=("scores",), amplifier_trained_on="real", settings="recipes.ddb_i")
