"""DDB Recipe I: GroupDRO on amplifier pseudo-groups (label, amplifier-predicted class), from the scores table of
the amplifier trained on synthetic images. No bias labels."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(needs=("scores",), amplifier_trained_on="synthetic", settings="recipes.ddb_i")


def train_scores(context):
    """The amplifier's scores of the training images, in training-set order."""
    return context.amplifier_scores(context.train)


def recipe_i(context, groups):
    """GroupDRO over ``groups`` (one id per training image)."""
    from ddb.algorithms.groupdro import GroupDRO
    from ddb.methods import log_group_sizes

    return log_group_sizes(GroupDRO(groups, context.method_settings, context.device))


def objective(context):
    import torch  # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch

    return recipe_i(context, torch.tensor(train_scores(context)["pseudo_group"].to_numpy(dtype="int64")))
