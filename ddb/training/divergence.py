"""A diverged run is an error, not a model: training stops at the first non-finite loss or gradient norm and says
where and which setting is the usual cause. Nothing is written from a diverged run (the stage stops before its
output is saved, and before the checkpoint of that step), and no learning rate is lowered behind the user's back."""

from __future__ import annotations

import math


class TrainingDiverged(SystemExit):
    """Raised by a training loop; as a SystemExit the stage ends with this message and status 1, no traceback."""


def require_finite(what: str, step: int, loss: float, grad_norm: float, last_finite_loss: float | None,
                   lr_setting: str, lr: float) -> None:
    """Stop the stage when this step's loss or gradient norm is not finite."""
    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    last = f"{last_finite_loss:.6g}" if last_finite_loss is not None else "none (the first step)"
    raise TrainingDiverged(
        f"{what} diverged at step {step}: loss {loss}, gradient norm {grad_norm} (last finite loss: {last}). "
        f"The usual cause is a learning rate too high for the model: lower {lr_setting} (now {lr:g}). "
        "Nothing was saved from this run; if a checkpoint of an earlier step exists it is kept, and a rerun "
        "with other settings starts afresh.")
