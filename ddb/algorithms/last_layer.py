"""Last-layer retraining on frozen features (DFR, Kirichenko et al., ICLR 2023), given any grouping of the held-out
images: the true (label, bias) groups (DFR itself) or an amplifier's pseudo-groups (no bias labels).

DFR's recipe, followed here: standardise the embeddings; fit an L1-penalised logistic regression on a group-balanced
subset (every group subsampled to the smallest group's size); choose its strength C on a random half of the held-out
images by the worst group's accuracy on the other half; then average the coefficients of ``refits`` fits with that
C, each on another group-balanced subset of all held-out images, the scaler fitted on all of them.

Where it differs from DFR's reference code (scikit-learn's liblinear): the regression is multinomial (softmax over
the classes, not one-vs-rest), solved by accelerated proximal gradient descent (FISTA) for a fixed number of steps,
in torch on the features' device (the CPU in ddb_llr: the features of a few hundred validation images); the
intercept is not penalised. The objective is liblinear's, divided by C * n:
mean cross-entropy + ||W||_1 / (C * n). Empty groups are ignored (pseudo-groups leave some cells empty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ddb.algorithms.group_balance import group_balanced


def worst_group_accuracy(pred: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> float:
    """The lowest accuracy over the non-empty groups."""
    correct = (pred == labels).float()
    return min(float(correct[groups == g].mean()) for g in torch.unique(groups))


class Standardiser:
    """Per-feature mean and standard deviation of the features it was fitted on (a constant feature keeps scale 1)."""

    def __init__(self, features: torch.Tensor):
        self.mean = features.mean(0)
        std = features.std(0, unbiased=False)
        self.std = torch.where(std > 0, std, torch.ones_like(std))

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    def fold(self, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same linear map applied to raw features: W (x - m) / s + b = (W / s) x + (b - W m / s)."""
        scaled = weight / self.std
        return scaled, bias - scaled @ self.mean


def l1_logistic_regression(features: torch.Tensor, labels: torch.Tensor, num_classes: int, c: float,
                           steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression minimising mean cross-entropy + ||W||_1 / (C n) (W: classes x features; the
    intercept b is not penalised), by FISTA with the step 1 / L of the loss's gradient Lipschitz bound."""
    n, dim = features.shape
    design = torch.cat([features, torch.ones(n, 1, device=features.device)], 1)
    lipschitz = 0.5 * torch.linalg.matrix_norm(design, ord=2) ** 2 / n  # softmax CE's Hessian <= X^T X / (2 n)
    step, threshold = 1.0 / lipschitz, 1.0 / (lipschitz * c * n)
    params = torch.zeros(num_classes, dim + 1, device=features.device)
    momentum, previous, t = params.clone(), params.clone(), 1.0
    for _ in range(steps):
        momentum.requires_grad_(True)
        loss = F.cross_entropy(design @ momentum.T, labels)
        (grad,) = torch.autograd.grad(loss, momentum)
        with torch.no_grad():
            params = momentum - step * grad
            params[:, :dim] = torch.sign(params[:, :dim]) * (params[:, :dim].abs() - threshold).clamp_min(0)
            t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
            momentum = params + ((t - 1) / t_next) * (params - previous)
            previous, t = params, t_next
    return params[:, :dim].detach(), params[:, dim].detach()


def retrain_last_layer(features: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor, num_classes: int,
                       settings: dict, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """DFR on held-out ``features`` (N, D) with ``labels`` and ``groups`` (N,): the linear layer (W, b) for raw
    features, and a record of the choice: C, the worst-group accuracy of every C on the tuning half, the group-balanced
    subset's size. ``settings``: ``c_values``, ``refits``, ``solver_steps``."""
    order = torch.randperm(len(labels), generator=generator, device=generator.device).to(labels.device)
    fit_half, tune_half = order[len(order) // 2:], order[: len(order) // 2]
    balanced = fit_half[group_balanced(groups[fit_half], generator)]
    scaler = Standardiser(features[balanced])
    tuning = {}
    for c in settings["c_values"]:
        weight, bias = l1_logistic_regression(scaler(features[balanced]), labels[balanced], num_classes, c,
                                              settings["solver_steps"])
        pred = (scaler(features[tune_half]) @ weight.T + bias).argmax(1)
        tuning[c] = worst_group_accuracy(pred, labels[tune_half], groups[tune_half])
    best_c = max(tuning, key=tuning.get)  # ties: the first in c_values, as DFR's argmax
    scaler = Standardiser(features)
    fits = []
    for _ in range(settings["refits"]):
        subset = group_balanced(groups, generator)
        fits.append(l1_logistic_regression(scaler(features[subset]), labels[subset], num_classes, best_c,
                                           settings["solver_steps"]))
    weight, bias = scaler.fold(torch.stack([w for w, _ in fits]).mean(0), torch.stack([b for _, b in fits]).mean(0))
    record = {"c": best_c, "tuning_worst_group_acc": {str(c): acc for c, acc in tuning.items()},
              "val_score": tuning[best_c], "balanced_subset_size": len(subset), "groups": len(torch.unique(groups))}
    return weight, bias, record
