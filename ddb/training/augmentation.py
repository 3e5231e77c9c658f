"""Training augmentation and evaluation views of a uint8 image batch, per dataset protocol.

- ``shift_flip`` (the small-image sets, and BFFHQ / BAR's "RandomCrop with padding + flip"): a random translation by
  up to ``augment_shift`` pixels (reflect padding) and a horizontal flip, per sample; evaluation sees the image as is.
- ``resized_crop`` (the group_DRO / JTT protocol of Waterbirds and CelebA, ReBias's ImageNet-9, the ImageNet recipe
  of UrbanCars): torchvision's RandomResizedCrop per sample (its box distribution), to ``crop_size``, with
  ``crop_scale`` and ``crop_ratio``, plus a horizontal flip; evaluation sees the centre ``crop_size`` crop (with the
  store at 256 px: "resize 256, centre crop 224").

Both work on whole batches on any device, in a few kernel calls whatever the batch size (a loop over images would
launch kernels per image on a GPU): the shifts are one gather, the crops one ``torchvision.ops.roi_align`` (bilinear;
where it shrinks a crop it averages ceil(box / size) samples per output pixel along each axis, a box filter against
aliasing). For the protocols' crops it is within a fifth of a grey level on average of torchvision's antialiased
resize (tests/test_augmentation.py), and twice as fast on a CPU. The
offsets, boxes and flips are drawn on the CPU from the stage's ``torch.Generator``, so a seed fixes them on every
device. torchvision is imported where a crop is made, not at the top: importing it takes about 2 s (it loads
torch._dynamo), which every job without crops would pay at start-up.
"""

from __future__ import annotations

from typing import Callable

import torch

from ddb.training.device import to_device


def shift_flip(images: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (reflect padding) and horizontal flip, per sample.

    Works on a (B, C, H, W) batch of any dtype; draws only from ``generator`` (a CPU generator)."""
    b, c, h, w = images.shape
    flip = to_device(torch.rand(b, generator=generator, device=generator.device) < 0.5, images.device)
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if max_shift <= 0:
        return images
    padded = torch.nn.functional.pad(images.float(), (max_shift,) * 4, mode="reflect").to(images.dtype)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator, device=generator.device)
    rows = to_device(dy[:, None] + torch.arange(h), images.device)  # (B, H): the window of each sample
    cols = to_device(dx[:, None] + torch.arange(w), images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def crop_boxes(n: int, height: int, width: int, scale, ratio, generator: torch.Generator) -> list[tuple[int, ...]]:
    """``n`` crop boxes (top, left, height, width) drawn by torchvision's RandomResizedCrop.get_params, which draws
    from torch's global generator: it runs under a forked global state seeded from ``generator``, so the boxes
    depend on the stage's seed alone and the global state is left as it was."""
    from torchvision.transforms import RandomResizedCrop  # here, not above: see the module docstring

    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    shape_only = torch.empty(0, height, width)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU one alone: torch.manual_seed would reseed the GPUs' too
        return [RandomResizedCrop.get_params(shape_only, list(scale), list(ratio)) for _ in range(n)]


def crop_resize(images: torch.Tensor, boxes: list[tuple[int, ...]], size: int) -> torch.Tensor:
    """Each image's box (top, left, height, width) resized to ``size`` x ``size``, the whole batch in one
    ``roi_align`` call; uint8 in, uint8 out."""
    from torchvision.ops import roi_align  # here, not above: see the module docstring

    rois = torch.tensor([[i, left, top, left + width, top + height]
                         for i, (top, left, height, width) in enumerate(boxes)], dtype=torch.float32)
    out = roi_align(images.float(), to_device(rois, images.device), [size, size], spatial_scale=1.0,
                    sampling_ratio=-1, aligned=True)
    return out.round_().clamp_(0, 255).to(images.dtype) if images.dtype == torch.uint8 else out.to(images.dtype)


def resized_crop(images: torch.Tensor, generator: torch.Generator, size: int, scale, ratio) -> torch.Tensor:
    """RandomResizedCrop to ``size`` x ``size`` and a horizontal flip, per sample (:func:`crop_resize`)."""
    b, _, h, w = images.shape
    flip = to_device(torch.rand(b, generator=generator, device=generator.device) < 0.5, images.device)
    out = crop_resize(images, crop_boxes(b, h, w, scale, ratio, generator), size)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def train_view(settings: dict, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The training augmentation of a classifier's ``settings`` (None: none)."""
    if settings.get("augmentation", "shift_flip") == "resized_crop":
        return lambda images: resized_crop(images, generator, settings["crop_size"], settings["crop_scale"],
                                           settings["crop_ratio"])
    if settings.get("augment_shift", -1) >= 0:
        return lambda images: shift_flip(images, generator, settings["augment_shift"])
    return None


def eval_view(settings: dict) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What validation, scoring and testing show the classifier of ``settings``: the centre crop of ``crop_size``
    for ``resized_crop``, the image itself otherwise (None)."""
    if settings.get("augmentation", "shift_flip") == "resized_crop":
        from torchvision.transforms.v2 import functional as TF  # here, not above: see the module docstring

        return lambda images: TF.center_crop(images, [settings["crop_size"]] * 2)
    return None
