"""DDB Recipe II: per-sample weights W = L_amp / (L_amp + L_model) from the frozen amplifier trained on synthetic
images, computed online on each batch. No bias labels."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(needs=("amplifier",), amplifier_trained_on="synthetic", settings="recipes.ddb_ii")


def objective(context):
    # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch
    from ddb.algorithms.reweighting import FrozenAmplifierReweighting
    from ddb.models.classifiers import load_classifier

    amplifier, _ = load_classifier(context.amplifier, context.device)
    amplifier.requires_grad_(False)
    return FrozenAmplifierReweighting(amplifier, context.train.labels.to(context.device), context.method_settings)
