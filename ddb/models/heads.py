"""The last linear layer of a classifier (every architecture of ddb/models/classifiers.py ends in one) and the
features it reads: what last-layer retraining (ddb/methods/ddb_llr.py, dfr_oracle.py) refits."""

from __future__ import annotations

import torch
from torch import nn

from ddb.models.classifiers import predict_logits


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier's head: its last ``nn.Linear`` module."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layer to retrain")
    return linears[-1]


def penultimate_features(model: nn.Module, images_uint8, device, view=None) -> torch.Tensor:
    """The inputs of the head for uint8 images (N, D), on the CPU, computed the way :func:`predict_logits` predicts
    (eval mode, batches of the images' size, the same ``view``)."""
    captured = []
    hook = last_linear(model).register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].float().cpu()))
    try:
        predict_logits(model, images_uint8, device, view=view)
    finally:
        hook.remove()
    return torch.cat(captured)


def set_head(model: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Replace the head's weights (classes x features, classes) in place, on the head's device and dtype."""
    head = last_linear(model)
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight))
        head.bias.copy_(bias.to(head.bias))
