"""ERM: plain cross-entropy over shuffled batches, the baseline every method is compared with."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method()


def objective(context):
    from ddb.algorithms.objective import Objective  # here, not above: planning the DAG reads METHOD without torch

    return Objective()
