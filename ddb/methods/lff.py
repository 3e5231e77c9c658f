"""LfF, Learning from Failure (Nam et al., NeurIPS 2020): reweighting by a biased model trained jointly with GCE."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(settings="baselines.lff")


def objective(context):
    # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch
    from ddb.algorithms.reweighting import LearningFromFailure
    from ddb.training.loop import new_classifier

    biased = new_classifier(context.settings, context.num_classes, context.device,
                            context.pretrained_weights)
    return LearningFromFailure(biased, context.train.labels.to(context.device), context.method_settings)
