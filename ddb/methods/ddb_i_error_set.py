"""DDB Recipe I "with error set": GroupDRO on (label, amplifier misclassified), two groups per class."""

from __future__ import annotations

from ddb.methods import Method
from ddb.methods.ddb_i import recipe_i, train_scores

METHOD = Method(needs=("scores",), amplifier_trained_on="synthetic", settings="recipes.ddb_i")


def objective(context):
    import torch  # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch

    from ddb.algorithms.pseudo_groups import error_set_groups

    misclassified = torch.tensor(train_scores(context)["amp_misclassified"].to_numpy(dtype=bool))
    return recipe_i(context, error_set_groups(context.train.labels, misclassified))
