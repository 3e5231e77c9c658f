import pytest
import torch

from ddb.algorithms.jtt import automatic_upweight, upsampling_weights


def test_upsampling_weights_repeat_error_samples():
    weights = upsampling_weights(torch.tensor([True, False, False]), upweight=4)
    assert weights.tolist() == [5.0, 1.0, 1.0]  # appears upweight + 1 times


def test_automatic_upweight_and_empty_error_set():
    errors = torch.tensor([True] * 10 + [False] * 90)
    assert automatic_upweight(errors) == 8  # int(90 / 10) - 1
    with pytest.raises(ValueError, match="error set is empty"):
        automatic_upweight(torch.zeros(5, dtype=torch.bool))
