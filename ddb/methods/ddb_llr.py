"""DDB with last-layer retraining: DFR's recipe (Kirichenko et al., ICLR 2023; ddb/algorithms/last_layer.py) on the
ERM run's features (same seed), with the synthetic amplifier's pseudo-groups (label, amplifier prediction) of the
validation images in place of the true groups. No bias labels: C is chosen by the worst pseudo-group's accuracy.

The validation split is the held-out data, as in DFR: ERM never trained on it (it chose ERM's checkpoint). Only the
head changes; the rest of the ERM model is frozen. The model's validation accuracies are therefore on images its head
was fitted to.
"""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(needs=("scores", "base_model"), amplifier_trained_on="synthetic", builds_on="erm",
                settings="recipes.ddb_llr")


def retrain_head(context, groups, selection: str) -> dict:
    """Load the base run's model into ``context.model``, freeze it, refit its head on the validation images grouped
    by ``groups`` (one id per validation image); return the record of the choice (``selection``: how C was chosen)."""
    import torch  # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch

    from ddb.algorithms.last_layer import retrain_last_layer
    from ddb.models.classifiers import load_classifier
    from ddb.models.heads import penultimate_features, set_head
    from ddb.training.augmentation import eval_view

    base, info = load_classifier(context.inputs["base_model"])  # on the CPU: only copied into context.model
    if info["arch"] != context.settings["arch"] or info["num_classes"] != context.num_classes:
        raise SystemExit(f"{context.inputs['base_model']} is a {info['arch']} with {info['num_classes']} classes; "
                         f"this run needs a {context.settings['arch']} with {context.num_classes}: rerun the base run "
                         "with the same classifier settings")
    context.model.load_state_dict(base.state_dict())
    context.model.requires_grad_(False)
    features = penultimate_features(context.model, context.val.images, context.device, view=eval_view(context.settings))
    weight, bias, record = retrain_last_layer(features, context.val.labels, torch.as_tensor(groups), context.num_classes,
                                              context.method_settings, context.generator)
    set_head(context.model, weight, bias)
    return {"selection": selection, **record}


def train(context) -> dict:
    groups = context.amplifier_scores(context.val)["pseudo_group"].to_numpy(dtype="int64")
    return retrain_head(context, groups, "label_free_pseudo_group")
