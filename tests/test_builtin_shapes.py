import numpy as np

from ddb.datasets import builtin_shapes as shapes


def test_generation_is_deterministic_in_the_seed():
    a = shapes.generate("train", 30, 5, 16, 0.1, seed=3)
    b = shapes.generate("train", 30, 5, 16, 0.1, seed=3)
    c = shapes.generate("train", 30, 5, 16, 0.1, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_train_split_has_the_exact_conflicting_ratio_and_balanced_classes():
    _, labels, colours = shapes.generate("train", 1000, 5, 16, 0.01, seed=0)
    assert (labels != colours).sum() == 10
    assert np.bincount(labels).tolist() == [200] * 5


def test_val_and_test_cover_every_label_colour_group_equally():
    for split in ("val", "test"):
        images, labels, colours = shapes.generate(split, 50, 5, 16, 0.01, seed=0)
        counts = np.bincount(labels * 5 + colours, minlength=25)
        assert counts.tolist() == [2] * 25
        assert images.shape == (50, 16, 16, 3) and images.dtype == np.uint8


def test_foreground_takes_the_bias_colour():
    images, _, colours = shapes.generate("val", 7 * 7, 7, 32, 0.0, seed=1)
    palette = np.array(list(shapes.COLOURS.values()), dtype=float)
    for image, colour in zip(images, colours):
        bright = image.reshape(-1, 3)[image.reshape(-1, 3).sum(1) > 200].astype(float)  # shape pixels
        nearest = np.argmin(((bright.mean(0) - palette) ** 2).sum(1))
        assert nearest == colour
