import numpy as np
import pytest

from ddb.algorithms.corruptions import CORRUPTIONS


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=lambda f: f.__name__)
def test_each_corruption_keeps_shape_is_seeded_and_grows_with_severity(corruption):
    rng = np.random.default_rng(0)
    image = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    image[8:24, 8:24] = 255  # an edge for the blurs to soften
    light = corruption(image, np.random.default_rng(1), 1)
    heavy = corruption(image, np.random.default_rng(1), 5)
    assert light.shape == image.shape and light.dtype == np.uint8
    assert np.array_equal(heavy, corruption(image, np.random.default_rng(1), 5))  # seeded
    change = lambda out: np.abs(out.astype(float) - image).mean()
    if corruption.__name__ == "original":
        assert np.array_equal(light, image)
    else:
        assert 0 < change(light) < change(heavy)
