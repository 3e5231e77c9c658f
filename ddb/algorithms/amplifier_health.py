"""A label-free health check of an amplifier: will its error set point at a bias minority, or is it noise?

Computed from what every user has, the class labels and the amplifier's predictions on the real training images, so
it works on a dataset without bias labels, where detection (``ddb/algorithms/detection.py``) cannot be measured:

- ``real_error_rate``: the share of real training images the amplifier misclassifies (its error set, Recipe I's
  pseudo-minority);
- ``worst_class_error_rate``: the largest share of one class it misclassifies;
- ``holdout_margin``: its accuracy on its own held-out (synthetic) images, from chance (0) to perfect (1).

The bias-conflicting images of a biased dataset are a minority of each class. An amplifier that errs on much of the
training set, or on much of one class, has not learnt the bias: it fails the class itself, and its error set is
mostly bias-aligned images. One that cannot tell its own held-out images' classes apart (less than halfway from
chance to perfect) has learnt neither class nor bias. The error-set limits below were set on the generator sweep's
17 synthetic amplifiers (docs/amplifier-health.md gives the table and how far the verdict can be trusted); they are
a heuristic, not a law.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MAX_ERROR_RATE = 0.10
MAX_CLASS_ERROR_RATE = 0.25
MIN_HOLDOUT_MARGIN = 0.5
LIKELY_USEFUL, LIKELY_NOT = "likely useful", "likely not"
# a real-data amplifier is scored on the images it trained on (it may have memorised them), and the limits were set
# on synthetic amplifiers: no verdict
NOT_JUDGED = "n/a"


def health_signals(labels, misclassified, holdout_acc: float | None) -> dict[str, float]:
    """The signals of one amplifier: its error set on the real training images (``labels``: their classes,
    ``misclassified``: whether its prediction differs) and its held-out accuracy ``holdout_acc`` (None: it held no
    images out; the margin is NaN and not judged)."""
    misclassified = pd.Series(np.asarray(misclassified, dtype=bool))
    per_class = misclassified.groupby(np.asarray(labels)).mean()
    chance = 1 / len(per_class)
    return {"real_error_rate": float(misclassified.mean()), "worst_class_error_rate": float(per_class.max()),
            "holdout_margin": float("nan") if holdout_acc is None else (holdout_acc - chance) / (1 - chance)}


def health_verdict(signals: dict[str, float]) -> str:
    """``likely useful`` when the amplifier learnt its classes and its error set is a small minority overall and of
    every class, else ``likely not``."""
    margin = signals["holdout_margin"]
    useful = ((math.isnan(margin) or margin >= MIN_HOLDOUT_MARGIN) and signals["real_error_rate"] <= MAX_ERROR_RATE
              and signals["worst_class_error_rate"] <= MAX_CLASS_ERROR_RATE)
    return LIKELY_USEFUL if useful else LIKELY_NOT


def health_reason(signals: dict[str, float]) -> str:
    """Why the verdict is what it is, in words for a log line."""
    reason = (f"misclassifies {signals['real_error_rate']:.1%} of the real training images (limit "
              f"{MAX_ERROR_RATE:.0%}) and at most {signals['worst_class_error_rate']:.1%} of one class (limit "
              f"{MAX_CLASS_ERROR_RATE:.0%})")
    if math.isnan(signals["holdout_margin"]):
        return reason
    return (f"{reason}; on its held-out images it is {signals['holdout_margin']:.0%} of the way from chance to "
            f"perfect (at least {MIN_HOLDOUT_MARGIN:.0%})")
