"""A diverged run is an error, not a model: training stops at the first non-finite loss or gradient norm and says
where and which setting is the usual cause. Nothing is written from a diverged run (the stage stops before its
output is saved, and before any checkpoint after that step), and no learning rate is lowered behind the user's back.

On a GPU, reading a value back to the host every step would make the host wait for the device every step, so
:class:`DivergenceWatch` keeps what it needs on the device and is checked where the loop reads values anyway: at
every logged step and before every checkpoint.
"""

from __future__ import annotations

import math

import torch


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


class DivergenceWatch:
    """Records, without reading anything back to the host, the first step whose loss or gradient norm is not finite
    (with those values and the last finite loss before it); :meth:`check` reads it once and stops the stage."""

    def __init__(self, what: str, lr_setting: str, lr: float):
        self.what, self.lr_setting, self.lr = what, lr_setting, lr
        self.state: torch.Tensor | None = None  # [first bad step (-1: none), its loss, its grad norm, last finite loss]

    def add(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        values = torch.stack([loss.detach().double(), grad_norm.detach().double()])
        if self.state is None:
            self.state = torch.tensor([-1.0, 0.0, 0.0, math.nan], dtype=torch.float64, device=values.device)
        fresh = (self.state[0] < 0) & ~torch.isfinite(values).all()  # the first non-finite step
        finite_so_far = (self.state[0] < 0) & ~fresh
        self.state = torch.stack([
            torch.where(fresh, float(step), self.state[0]),
            torch.where(fresh, values[0], self.state[1]),
            torch.where(fresh, values[1], self.state[2]),
            torch.where(finite_so_far, values[0], self.state[3]),
        ])

    def check(self) -> None:
        """Stop the stage if a step since the start was not finite (one read from the device)."""
        if self.state is None:
            return
        step, loss, grad_norm, last = self.state.tolist()
        if step >= 0:
            require_finite(self.what, int(step), loss, grad_norm, None if math.isnan(last) else last,
                           self.lr_setting, self.lr)
