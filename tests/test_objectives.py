"""Every method's objective on a real batch: a finite loss, gradients for what it trains, none for the amplifier."""

import pytest
import torch
import torch.nn.functional as F

from ddb.algorithms.groupdro import GroupDRO
from ddb.algorithms.jtt import Upsampled
from ddb.algorithms.objective import Objective
from ddb.algorithms.reweighting import FrozenAmplifierReweighting, LearningFromFailure
from ddb.core.settings import resolve_settings
from ddb.models.classifiers import small_cnn

RECIPES, BASELINES = resolve_settings("recipes"), resolve_settings("baselines")


def batch():
    g = torch.Generator().manual_seed(0)
    images, labels, idx = torch.rand(8, 3, 16, 16, generator=g), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), torch.arange(8)
    return idx, images, labels


def make(name, train_labels):
    if name == "erm":
        return Objective()
    if name == "groupdro":
        return GroupDRO(torch.tensor([0, 1, 5, 0, 1, 5, 0, 1]), RECIPES["ddb_i"], "cpu")
    if name == "ddb_ii":
        amplifier = small_cnn(3).eval().requires_grad_(False)
        return FrozenAmplifierReweighting(amplifier, train_labels, RECIPES["ddb_ii"] | {"ema_alpha": 0.7, "classwise_norm": True})
    if name == "lff":
        return LearningFromFailure(small_cnn(3), train_labels, BASELINES["lff"])
    return Upsampled(torch.ones(8))


@pytest.mark.parametrize("name", ["erm", "groupdro", "ddb_ii", "lff", "upsampled"])
def test_objective_gives_a_finite_loss_and_trains_the_model(name):
    idx, images, labels = batch()
    objective = make(name, labels)
    model = small_cnn(3)
    loss = objective.loss(idx, images, labels, F.cross_entropy(model(images), labels, reduction="none"))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())
    for module in objective.extra_modules:  # LfF's biased model learns too
        assert all(p.grad is not None for p in module.parameters())


def test_groupdro_objective_drops_empty_groups_and_balances():
    objective = make("groupdro", None)
    assert objective.group_sizes == {0: 3, 1: 3, 5: 2}
    assert objective.robust.num_groups == 3
    per_group = torch.zeros(3).index_add(0, objective.groups, objective.sampling_weights.float())
    assert per_group.tolist() == pytest.approx([1.0, 1.0, 1.0])
