import pytest
import torch

from ddb.algorithms.reweighting import relative_difficulty, reweighted_loss


def test_relative_difficulty_hand_computed():
    amp = torch.tensor([1.0, 0.0, 3.0])
    model = torch.tensor([1.0, 2.0, 1.0])
    assert relative_difficulty(amp, model, eps=0.0).tolist() == pytest.approx([0.5, 0.0, 0.75])


def test_reweighted_loss_value_and_detached_weights():
    amp = torch.tensor([1.0, 0.0, 3.0], requires_grad=True)
    model = torch.tensor([1.0, 2.0, 1.0], requires_grad=True)
    loss, _ = reweighted_loss(model, amp, eps=0.0)
    assert loss.item() == pytest.approx((0.5 * 1 + 0 * 2 + 0.75 * 1) / 3)
    loss.backward()
    # W is a constant: the gradient w.r.t. the model loss is W / B, and nothing flows to the amplifier.
    assert model.grad.tolist() == pytest.approx([0.5 / 3, 0.0, 0.75 / 3])
    assert amp.grad is None


def test_conflicting_sample_outweighs_aligned_sample():
    # the amplifier is confidently wrong on a conflicting sample and right on an aligned one
    w = relative_difficulty(torch.tensor([4.0, 0.01]), torch.tensor([0.7, 0.7]))
    assert w[0] > 0.8 and w[1] < 0.05


def test_loss_ema_first_visit_stores_then_smooths():
    from ddb.algorithms.reweighting import LossEMA

    ema = LossEMA(torch.tensor([0, 0, 1]), alpha=0.7)
    assert ema.update(torch.tensor([0, 2]), torch.tensor([1.0, 4.0])).tolist() == [1.0, 4.0]
    # second visit of sample 0: 0.7 * 1 + 0.3 * 2 = 1.3; sample 1's first visit stores 5
    assert ema.update(torch.tensor([0, 1]), torch.tensor([2.0, 5.0])).tolist() == pytest.approx([1.3, 5.0])


def test_classwise_normalisation_divides_by_the_class_max_over_the_training_set():
    from ddb.algorithms.reweighting import LossEMA

    ema = LossEMA(torch.tensor([0, 0, 1, 1]), alpha=0.0)
    ema.update(torch.arange(4), torch.tensor([1.0, 4.0, 2.0, 0.5]))
    assert ema.classwise_normalised(torch.tensor([0, 3])).tolist() == pytest.approx([0.25, 0.25])


def test_gce_hand_computed():
    from ddb.algorithms.reweighting import gce_loss

    logits = torch.log(torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    expected = [(1 - 0.75**0.7) / 0.7, (1 - 0.5**0.7) / 0.7]
    assert gce_loss(logits, torch.tensor([1, 0]), q=0.7).tolist() == pytest.approx(expected, rel=1e-5)


def test_reweighted_loss_with_smoothed_scores_weights_the_raw_loss():
    model_loss = torch.tensor([2.0, 2.0], requires_grad=True)
    # W from the scores (amp 3, model 1 -> 0.75; amp 0, model 1 -> 0), applied to the raw model loss
    loss, _ = reweighted_loss(model_loss, torch.tensor([3.0, 0.0]), torch.tensor([1.0, 1.0]), eps=0.0)
    assert loss.item() == pytest.approx((0.75 * 2 + 0 * 2) / 2)
