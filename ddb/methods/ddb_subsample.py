"""DDB with group-balanced data: ERM on the training images balanced over the synthetic amplifier's pseudo-groups
(label, amplifier prediction), Idrissi et al.'s SUBG (``balance: subsample``, one subset per seed) or SUWG-style
draws (``upsample``) with pseudo-groups in place of the true groups. No bias labels; the simplest plug-in."""

from __future__ import annotations

import logging

from ddb.methods import Method

log = logging.getLogger("ddb.methods.ddb_subsample")
METHOD = Method(needs=("scores",), amplifier_trained_on="synthetic", settings="recipes.ddb_subsample")


def objective(context):
    import torch  # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch

    from ddb.algorithms.group_balance import BalancedDraws, group_balanced
    from ddb.algorithms.objective import Objective
    groups = torch.tensor(context.amplifier_scores(context.train)["pseudo_group"].to_numpy(dtype="int64"))
    if context.method_settings["balance"] == "upsample":
        return BalancedDraws(groups)
    kept = group_balanced(groups, context.generator)
    log.info("%d pseudo-groups, %d training images kept of %d", len(torch.unique(groups)), len(kept), len(groups))
    context.train = context.train.subset(kept)
    return Objective()
