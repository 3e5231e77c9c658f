import pytest
import torch

from ddb.reweighting import relative_difficulty, reweighted_loss


def test_relative_difficulty_hand_computed():
    amp = torch.tensor([1.0, 0.0, 3.0])
    model = torch.tensor([1.0, 2.0, 1.0])
    assert relative_difficulty(amp, model, eps=0.0).tolist() == pytest.approx([0.5, 0.0, 0.75])


def test_reweighted_loss_value_and_detached_weights():
    amp = torch.tensor([1.0, 0.0, 3.0], requires_grad=True)
    model = torch.tensor([1.0, 2.0, 1.0], requires_grad=True)
    loss = reweighted_loss(model, amp, eps=0.0)
    assert loss.item() == pytest.approx((0.5 * 1 + 0 * 2 + 0.75 * 1) / 3)
    loss.backward()
    # W is a constant: the gradient w.r.t. the model loss is W / B, and nothing flows to the amplifier.
    assert model.grad.tolist() == pytest.approx([0.5 / 3, 0.0, 0.75 / 3])
    assert amp.grad is None


def test_conflicting_sample_outweighs_aligned_sample():
    # the amplifier is confidently wrong on a conflicting sample and right on an aligned one
    w = relative_difficulty(torch.tensor([4.0, 0.01]), torch.tensor([0.7, 0.7]))
    assert w[0] > 0.8 and w[1] < 0.05
