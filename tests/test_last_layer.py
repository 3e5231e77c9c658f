"""Last-layer retraining (DFR's recipe) and group balancing: the pure algorithms behind ddb_llr, dfr_oracle and
ddb_subsample, and the head of every classifier they refit."""

import pytest
import torch
import torch.nn.functional as F

from ddb.algorithms.group_balance import group_balanced, inverse_group_size_weights
from ddb.algorithms.last_layer import (Standardiser, l1_logistic_regression, retrain_last_layer,
                                       worst_group_accuracy)
from ddb.models.classifiers import build_classifier, predict_logits
from ddb.models.heads import last_linear, penultimate_features, set_head

DFR = {"c_values": [1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01], "refits": 20, "solver_steps": 1000}


def test_group_balanced_keeps_the_smallest_groups_size_of_every_nonempty_group():
    groups = torch.tensor([0] * 10 + [3] * 4 + [5] * 7)
    kept = group_balanced(groups, torch.Generator().manual_seed(0))
    assert torch.unique(groups[kept], return_counts=True)[1].tolist() == [4, 4, 4]
    assert len(set(kept.tolist())) == 12  # no repeats
    assert torch.equal(kept, group_balanced(groups, torch.Generator().manual_seed(0)))  # a seed fixes it
    assert not torch.equal(kept, group_balanced(groups, torch.Generator().manual_seed(1)))


def test_inverse_group_size_weights_draw_every_group_equally():
    groups = torch.tensor([2, 2, 2, 7, 9, 9])
    weights = inverse_group_size_weights(groups)
    assert [float(weights[groups == g].sum()) for g in (2, 7, 9)] == pytest.approx([1, 1, 1])


def spurious_features(n: int, aligned: float, generator: torch.Generator):
    """A weak core feature (the label) and a strong spurious one (the bias, equal to the label in ``aligned`` of
    the images), and their groups 2 * label + bias."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    bias = torch.where(torch.rand(n, generator=generator) < aligned, labels, 1 - labels)
    core = labels.float() + 0.4 * torch.randn(n, generator=generator)
    spurious = 3.0 * bias.float() + 0.1 * torch.randn(n, generator=generator)
    noise = torch.randn(n, 6, generator=generator)
    return torch.cat([core[:, None], spurious[:, None], noise], 1), labels, 2 * labels + bias


def test_l1_logistic_regression_reaches_its_optimality_conditions():
    features, labels, _ = spurious_features(300, 0.9, torch.Generator().manual_seed(0))
    features = Standardiser(features)(features)
    c = 0.05
    weight, bias = l1_logistic_regression(features, labels, 2, c, steps=3000)
    w = weight.clone().requires_grad_(True)
    b = bias.clone().requires_grad_(True)
    F.cross_entropy(features @ w.T + b, labels).backward()
    penalty = 1 / (c * len(labels))
    nonzero = weight != 0
    # subgradient conditions of mean CE + penalty * ||W||_1: stationary where W != 0, |gradient| <= penalty where 0
    assert torch.allclose(w.grad[nonzero], -penalty * torch.sign(weight[nonzero]), atol=1e-4)
    assert (w.grad[~nonzero].abs() <= penalty + 1e-4).all()
    assert torch.allclose(b.grad, torch.zeros(2), atol=1e-4)  # the intercept is not penalised
    assert (~nonzero).any()  # strong enough an L1 penalty zeroes the pure-noise features
    sparse, _ = l1_logistic_regression(features, labels, 2, 0.005, steps=3000)
    assert (sparse == 0).sum() > (~nonzero).sum()  # a smaller C, a sparser model


def test_a_standardiser_folds_into_the_linear_layer():
    generator = torch.Generator().manual_seed(0)
    x = 5 + 3 * torch.randn(50, 4, generator=generator)
    x[:, 2] = 1.0  # a constant feature keeps scale 1
    scaler = Standardiser(x)
    weight, bias = torch.randn(3, 4, generator=generator), torch.randn(3, generator=generator)
    folded_weight, folded_bias = scaler.fold(weight, bias)
    assert torch.allclose(x @ folded_weight.T + folded_bias, scaler(x) @ weight.T + bias, atol=1e-4)


def test_group_balanced_retraining_drops_the_spurious_feature():
    generator = torch.Generator().manual_seed(0)
    features, labels, groups = spurious_features(400, 0.9, generator)
    weight, bias, record = retrain_last_layer(features, labels, groups, 2, DFR, generator)
    test, test_labels, test_groups = spurious_features(2000, 0.5, generator)
    balanced = worst_group_accuracy((test @ weight.T + bias).argmax(1), test_labels, test_groups)
    plain_weight, plain_bias = l1_logistic_regression(features, labels, 2, record["c"], 1000)  # every image, no groups
    plain = worst_group_accuracy((test @ plain_weight.T + plain_bias).argmax(1), test_labels, test_groups)
    assert balanced > 0.8 and balanced > plain + 0.2, (balanced, plain)
    assert record["c"] in DFR["c_values"] and record["groups"] == 4
    assert record["val_score"] == max(record["tuning_worst_group_acc"].values())


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18"])
def test_the_head_of_every_classifier_is_refit_in_place(arch):
    model = build_classifier(arch, 3).eval()
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    features = penultimate_features(model, images, torch.device("cpu"))
    assert features.shape == (5, last_linear(model).in_features)
    weight, bias = torch.randn(3, features.shape[1]), torch.randn(3)
    set_head(model, weight, bias)
    assert torch.allclose(predict_logits(model, images, torch.device("cpu")), features @ weight.T + bias, atol=1e-4)
