"""The Waterbirds-like built-in benchmark (ddb/datasets/builtin_backgrounds.py): its group counts, balanced
evaluation splits, determinism, and a background that carries texture, not colour."""

import numpy as np

from ddb.datasets import builtin_backgrounds as backgrounds


def test_train_has_waterbirds_group_counts_and_val_test_are_balanced():
    _, labels, bias = backgrounds.generate("train", 4795, 16, seed=0)
    cells = {cell: int(((labels == cell[0]) & (bias == cell[1])).sum()) for cell in backgrounds.WATERBIRDS_TRAIN_GROUPS}
    assert cells == backgrounds.WATERBIRDS_TRAIN_GROUPS  # 240 of 4,795 conflicting: 5.0 %
    assert backgrounds.group_counts(959, "train") == {(0, 0): 700, (0, 1): 37, (1, 0): 11, (1, 1): 211}
    for split in ("val", "test"):
        _, labels, bias = backgrounds.generate(split, 40, 16, seed=0)
        assert np.bincount(2 * labels + bias, minlength=4).tolist() == [10] * 4


def test_generation_is_deterministic_in_the_seed():
    a = backgrounds.generate("val", 8, 32, seed=1)
    b = backgrounds.generate("val", 8, 32, seed=1)
    c = backgrounds.generate("val", 8, 32, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (8, 32, 32, 3) and a[0].dtype == np.uint8


def test_the_background_is_a_texture_whose_colour_says_nothing_about_it():
    rng = np.random.default_rng(0)
    land = np.stack([backgrounds.texture(0, 64, rng) for _ in range(200)])
    water = np.stack([backgrounds.texture(1, 64, rng) for _ in range(200)])
    # same colour statistics (means within a few grey levels) ...
    assert abs(land.mean() - water.mean()) < 8
    # ... but land varies along x (near-vertical bars), water along y (near-horizontal ripples)
    def gradient_ratio(t):
        return np.abs(np.diff(t, axis=2)).mean() / np.abs(np.diff(t, axis=1)).mean()
    assert gradient_ratio(land) > 1.5 and gradient_ratio(water) < 1 / 1.5
