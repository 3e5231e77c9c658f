"""DDB Recipe II: per-sample weights W = L_amp / (L_amp + L_model) from the frozen amplifier trained on synthetic
images, computed online on each batch. No bias labels. The amplifier sees the target model's augmented batch resized
to the resolution it was trained on (the diffusion model's, for the synthetic amplifier). Its logits are divided by
``amplifier_temperature`` before its loss (1: as trained; above 1 softens an over-confident amplifier)."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(needs=("amplifier",), amplifier_trained_on="synthetic", settings="recipes.ddb_ii")


def objective(context):
    # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch
    from ddb.algorithms.reweighting import FrozenAmplifierReweighting
    from ddb.models.calibration import Tempered
    from ddb.models.classifiers import load_classifier
    from ddb.models.resolution import AtTrainedResolution

    amplifier, info = load_classifier(context.amplifier, context.device)
    amplifier.requires_grad_(False)
    shown = Tempered(AtTrainedResolution(amplifier, info), context.method_settings["amplifier_temperature"])
    return FrozenAmplifierReweighting(shown, context.train.labels.to(context.device), context.method_settings)
