"""rho, the share of bias-aligned images per class, against hand-made cases (ddb/algorithms/bias_share.py)."""

import numpy as np

from ddb.algorithms.bias_share import aligned_bias_values, bias_aligned_share, bias_counts_per_class


def test_aligned_values_come_from_the_aligned_rows_and_ties_take_the_smallest_value():
    labels = [0, 0, 0, 1, 1, 1, 2, 2]
    bias = [2, 2, 0, 1, 0, 0, 1, 0]
    # class 0: aligned rows carry 2; class 1: the aligned row carries 1 although 0 is more frequent; class 2: no
    # aligned row, a tie between 0 and 1 -> 0
    aligned = [True, True, False, True, False, False, False, False]
    assert aligned_bias_values(labels, bias, aligned) == {0: 2, 1: 1, 2: 0}


def test_share_per_class_counts_the_aligned_value_and_leaves_empty_classes_nan():
    labels = np.array([0, 0, 0, 0, 1, 1])
    predicted_bias = np.array([0, 0, 0, 1, 0, 1])
    share = bias_aligned_share(labels, predicted_bias, {0: 0, 1: 1, 2: 2}, num_classes=3)
    assert share[:2].tolist() == [0.75, 0.5]
    assert np.isnan(share[2])


def test_a_perfectly_biased_set_has_rho_one_and_an_unbiased_one_about_one_over_k():
    rng = np.random.default_rng(0)
    k, n = 5, 20000
    labels = rng.integers(0, k, n)
    assert bias_aligned_share(labels, labels, {c: c for c in range(k)}, k).tolist() == [1.0] * k
    independent = rng.integers(0, k, n)
    share = bias_aligned_share(labels, independent, {c: c for c in range(k)}, k)
    assert np.allclose(share, 1 / k, atol=0.02)


def test_counts_per_class_say_which_bias_value_each_class_took():
    labels = [0, 0, 0, 1, 1]
    predicted_bias = [0, 2, 2, 1, 1]
    counts = bias_counts_per_class(labels, predicted_bias, num_classes=3, num_values=3)
    # class 0's two off-bias images both read as value 2; class 2 has no image
    assert counts.tolist() == [[1, 0, 2], [0, 2, 0], [0, 0, 0]]
