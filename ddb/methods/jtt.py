"""JTT, Just Train Twice (Liu et al., ICML 2021): ERM for T epochs identifies an error set, which the final model
sees upsampled. The identification model checkpoints like every other model (``<out>.identification.pt``)."""

from __future__ import annotations

import logging

from ddb.methods import Method

log = logging.getLogger("ddb.methods.jtt")
METHOD = Method(settings="baselines.jtt")


def objective(context):
    # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch
    from ddb.algorithms.jtt import Upsampled, automatic_upweight, upsampling_weights
    from ddb.models.classifiers import predict_logits
    from ddb.training.augmentation import eval_view, train_view
    from ddb.training.loop import fit, new_classifier

    settings, recipe, train = context.settings, context.method_settings, context.train
    steps_per_epoch = max(1, len(train) // settings["batch_size"])
    identifier = new_classifier(settings, context.num_classes, context.device, context.pretrained_weights)
    fit(identifier, train, settings, recipe["identification_epochs"] * steps_per_epoch, context.generator,
        context.device, eval_every=settings["eval_every"], augment=train_view(settings, context.generator),
        checkpoint=context.checkpoint("identification"), what="jtt identification", checkpoint_at_end=True)
    wrong = predict_logits(identifier, train.images, context.device, view=eval_view(settings)).argmax(1) != train.labels
    if not wrong.any():  # the identification model memorised everything: JTT has nothing to upweight
        raise SystemExit("JTT's error set is empty; lower baselines.jtt.identification_epochs")
    upweight = automatic_upweight(wrong) if recipe["upweight"] == -1 else recipe["upweight"]
    log.info("JTT error set: %d of %d training images, upweight %d", int(wrong.sum()), len(wrong), upweight)
    return Upsampled(upsampling_weights(wrong, upweight))
