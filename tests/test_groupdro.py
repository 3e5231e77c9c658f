import math

import pytest
import torch

from ddb.algorithms.groupdro import GroupDROLoss, compact_ids, group_balanced_weights, group_mean_losses
from ddb.algorithms.pseudo_groups import pseudo_groups


def test_group_mean_losses_hand_computed_with_absent_group():
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0])
    groups = torch.tensor([0, 0, 1, 2])
    mean, counts = group_mean_losses(losses, groups, 4)
    assert mean.tolist() == [1.5, 3.0, 4.0, 0.0]  # group 3 absent: zero loss
    assert counts.tolist() == [2, 1, 1, 0]


def test_group_weight_update_and_loss_match_algorithm_1():
    eta = 0.1
    dro = GroupDROLoss(num_groups=4, step_size=eta)
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    loss = dro(losses, torch.tensor([0, 0, 1, 2]))
    # q_g proportional to (1/4) exp(eta L_g), L = (1.5, 3, 4, 0)
    unnorm = [math.exp(eta * x) for x in (1.5, 3.0, 4.0, 0.0)]
    expected_q = [u / sum(unnorm) for u in unnorm]
    assert dro.group_weights.tolist() == pytest.approx(expected_q, rel=1e-6)
    assert loss.item() == pytest.approx(sum(q * x for q, x in zip(expected_q, (1.5, 3.0, 4.0, 0.0))), rel=1e-6)
    # the weights are constants for the gradient: d loss / d l_i = q_{g_i} / n_{g_i}
    loss.backward()
    assert losses.grad.tolist() == pytest.approx([expected_q[0] / 2, expected_q[0] / 2, expected_q[1], expected_q[2]], rel=1e-6)


def test_group_weights_accumulate_over_steps_towards_the_worst_group():
    dro = GroupDROLoss(num_groups=2, step_size=0.5)
    for _ in range(3):
        dro(torch.tensor([0.0, 2.0]), torch.tensor([0, 1]))
    # after three steps: q_1 / q_0 = exp(3 * 0.5 * 2)
    assert (dro.group_weights[1] / dro.group_weights[0]).item() == pytest.approx(math.exp(3.0), rel=1e-5)
    assert dro.group_weights.sum().item() == pytest.approx(1.0)


def test_zero_step_size_is_average_of_group_means():
    dro = GroupDROLoss(num_groups=2, step_size=0.0)
    loss = dro(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(0.5 * 2.0 + 0.5 * 10.0)


def test_pseudo_groups_and_compaction():
    label = torch.tensor([0, 0, 1, 2, 2])
    amp_pred = torch.tensor([0, 2, 1, 2, 0])
    groups = pseudo_groups(label, amp_pred, 3)
    assert groups.tolist() == [0, 2, 4, 8, 6]
    compact, present = compact_ids(groups)
    assert present.tolist() == [0, 2, 4, 6, 8]
    assert compact.tolist() == [0, 1, 2, 4, 3]


def test_group_balanced_weights_draw_each_group_equally():
    groups = torch.tensor([0] * 98 + [1] * 2)
    weights = group_balanced_weights(groups)
    assert weights[:98].sum().item() == pytest.approx(weights[98:].sum().item())


def test_group_size_adjustment_enters_the_weight_update_only():
    counts = torch.tensor([100, 4])
    dro = GroupDROLoss(num_groups=2, step_size=0.1, adjustment=2.0, group_counts=counts)
    loss = dro(torch.tensor([1.0, 1.0]), torch.tensor([0, 1]))
    # q proportional to exp(0.1 * (1 + 2/sqrt(n_g))): 2/10 for group 0, 2/2 for group 1
    unnorm = [math.exp(0.1 * 1.2), math.exp(0.1 * 2.0)]
    assert dro.group_weights.tolist() == pytest.approx([u / sum(unnorm) for u in unnorm], rel=1e-6)
    assert loss.item() == pytest.approx(1.0)  # the model's loss has no adjustment term
    with pytest.raises(ValueError, match="group counts"):
        GroupDROLoss(2, 0.1, adjustment=1.0)


def test_error_set_groups_two_per_class():
    from ddb.algorithms.pseudo_groups import error_set_groups

    groups = error_set_groups(torch.tensor([0, 0, 2, 2]), torch.tensor([False, True, False, True]))
    assert groups.tolist() == [0, 1, 4, 5]
