"""Recipe II: LfF-style per-sample reweighting with a frozen bias amplifier (Nam et al., NeurIPS 2020; DDB Sec. 3).

  W(x) = L_amp(x) / (L_amp(x) + L_model(x) + eps)      (detached: no gradient flows through W)
  loss = (1/B) * sum_i W(x_i) * CE(f_model(x_i), y_i)

A sample the amplifier gets wrong (high L_amp: bias-conflicting) gets W near 1; one it gets right (bias-aligned)
gets W near 0 once the model also fits it.
"""

from __future__ import annotations

import torch


def relative_difficulty(amp_loss: torch.Tensor, model_loss: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """W = L_amp / (L_amp + L_model + eps), detached."""
    amp_loss, model_loss = amp_loss.detach(), model_loss.detach()
    return amp_loss / (amp_loss + model_loss + eps)


def reweighted_loss(model_loss: torch.Tensor, amp_loss: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Batch mean of W * per-sample model CE."""
    return (relative_difficulty(amp_loss, model_loss, eps) * model_loss).mean()
