"""Protocol augmentations: output shapes, the crop's scale and aspect range, the evaluation view, and one seed ->
one set of crops."""

import pytest
import torch

from ddb.training.augmentation import crop_boxes, eval_view, resized_crop, shift_flip, train_view

GROUP_DRO = {"augmentation": "resized_crop", "crop_size": 224, "crop_scale": [0.7, 1.0], "crop_ratio": [0.75, 4 / 3]}


def batch(n=4, side=256):
    return torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_resized_crop_gives_uint8_batches_of_the_crop_size():
    out = train_view(GROUP_DRO, torch.Generator().manual_seed(0))(batch())
    assert out.shape == (4, 3, 224, 224) and out.dtype == torch.uint8


def test_crop_boxes_stay_within_the_protocol_scale_and_aspect_ratio():
    boxes = crop_boxes(500, 256, 256, [0.7, 1.0], [0.75, 4 / 3], torch.Generator().manual_seed(0))
    areas = [h * w / 256**2 for _, _, h, w in boxes]
    ratios = [w / h for _, _, h, w in boxes]
    # rounding a side to whole pixels moves the area and the ratio by under 1 %
    assert 0.7 * 0.99 <= min(areas) and max(areas) <= 1.0
    assert 0.75 * 0.99 <= min(ratios) and max(ratios) <= 4 / 3 * 1.01
    assert all(0 <= top <= 256 - h and 0 <= left <= 256 - w for top, left, h, w in boxes)
    assert max(areas) - min(areas) > 0.2  # the range is used, not one size
    wide = crop_boxes(200, 256, 256, [0.08, 1.0], [0.75, 4 / 3], torch.Generator().manual_seed(0))
    assert min(h * w / 256**2 for _, _, h, w in wide) >= 0.08 * 0.99  # torchvision's default scale


def test_one_seed_gives_one_set_of_crops_and_leaves_the_global_generator_alone():
    images = batch()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = resized_crop(images, torch.Generator().manual_seed(5), 224, [0.08, 1.0], [0.75, 4 / 3])
    assert torch.equal(torch.random.get_rng_state(), before)
    b = resized_crop(images, torch.Generator().manual_seed(5), 224, [0.08, 1.0], [0.75, 4 / 3])
    c = resized_crop(images, torch.Generator().manual_seed(6), 224, [0.08, 1.0], [0.75, 4 / 3])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_evaluation_sees_the_centre_crop_and_shift_flip_sets_see_the_image():
    images = batch(2)
    assert torch.equal(eval_view(GROUP_DRO)(images), images[..., 16:240, 16:240])  # resize 256 -> centre crop 224
    assert eval_view({"augmentation": "shift_flip", "augment_shift": 3}) is None
    assert train_view({"augmentation": "shift_flip", "augment_shift": -1}, torch.Generator()) is None


@pytest.mark.parametrize("shift", [0, 3])
def test_shift_flip_keeps_the_shape_and_draws_from_its_generator(shift):
    images = batch(8, 16)
    a = shift_flip(images, torch.Generator().manual_seed(0), shift)
    assert a.shape == images.shape and torch.equal(a, shift_flip(images, torch.Generator().manual_seed(0), shift))
    if shift == 0:  # flips only: every image is itself or its mirror
        assert all(torch.equal(x, y) or torch.equal(x, y.flip(-1)) for x, y in zip(a, images))


def smooth_batch(n=8, side=256):
    """Photo-like images: a coarse random field, upsampled smoothly."""
    coarse = torch.rand(n, 3, side // 16, side // 16, generator=torch.Generator().manual_seed(2)) * 255
    return torch.nn.functional.interpolate(coarse, size=side, mode="bicubic").clamp(0, 255).round().to(torch.uint8)


def test_batched_crops_match_torchvision_resized_crop_per_image():
    from torchvision.transforms.v2 import functional as TF

    from ddb.training.augmentation import crop_resize

    images = smooth_batch()
    boxes = crop_boxes(len(images), 256, 256, [0.08, 1.0], [0.75, 4 / 3], torch.Generator().manual_seed(1))
    ours = crop_resize(images, boxes, 224)
    per_image = torch.stack([TF.resized_crop(x, *box, [224, 224], antialias=True) for x, box in zip(images, boxes)])
    assert ours.dtype == torch.uint8 and ours.shape == per_image.shape
    assert (ours.float() - per_image.float()).abs().mean() < 0.5  # grey levels of 255


def test_batched_shifts_are_each_images_own_window():
    images = batch(8, 16)
    shifted = shift_flip(images, torch.Generator().manual_seed(4), 3)
    generator = torch.Generator().manual_seed(4)  # the same draws, in the same order, applied image by image
    flip = torch.rand(8, generator=generator) < 0.5
    dy, dx = torch.randint(0, 7, (2, 8), generator=generator).tolist()
    for i, image in enumerate(images):
        padded = torch.nn.functional.pad((image.flip(-1) if flip[i] else image)[None].float(), (3,) * 4, mode="reflect")
        assert torch.equal(shifted[i], padded[0, :, dy[i]: dy[i] + 16, dx[i]: dx[i] + 16].to(torch.uint8))
