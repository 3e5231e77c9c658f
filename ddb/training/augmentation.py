"""Training augmentation and evaluation views of a uint8 image batch, per dataset protocol.

- ``shift_flip`` (the small-image sets, and BFFHQ / BAR's "RandomCrop with padding + flip"): a random translation by
  up to ``augment_shift`` pixels (reflect padding) and a horizontal flip, per sample; evaluation sees the image as is.
- ``resized_crop`` (the group_DRO / JTT protocol of Waterbirds and CelebA, ReBias's ImageNet-9, the ImageNet recipe
  of UrbanCars): torchvision's RandomResizedCrop per sample, to ``crop_size``, with ``crop_scale`` and
  ``crop_ratio``, plus a horizontal flip; evaluation sees the centre ``crop_size`` crop (with the store at 256 px:
  "resize 256, centre crop 224").

Both work on batches on any device (torchvision's v2 functionals on uint8 tensors, so on a GPU the batch is
augmented where it is trained) and draw only from the stage's ``torch.Generator``, so a seed fixes the crops.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as TF


def shift_flip(images: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (reflect padding) and horizontal flip, per sample.

    Works on a (B, C, H, W) batch of any dtype; draws only from ``generator``."""
    b, _, h, w = images.shape
    flip = torch.rand(b, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None].to(images.device), images.flip(-1), images)
    if max_shift <= 0:
        return images
    padded = torch.nn.functional.pad(images.float(), (max_shift,) * 4, mode="reflect").to(images.dtype)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])


def crop_boxes(n: int, height: int, width: int, scale, ratio, generator: torch.Generator) -> list[tuple[int, ...]]:
    """``n`` crop boxes (top, left, height, width) drawn by torchvision's RandomResizedCrop.get_params, which draws
    from torch's global generator: it runs under a forked global state seeded from ``generator``, so the boxes
    depend on the stage's seed alone and the global state is left as it was."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    shape_only = torch.empty(0, height, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [RandomResizedCrop.get_params(shape_only, list(scale), list(ratio)) for _ in range(n)]


def resized_crop(images: torch.Tensor, generator: torch.Generator, size: int, scale, ratio) -> torch.Tensor:
    """RandomResizedCrop to ``size`` x ``size`` (bilinear, antialiased) and a horizontal flip, per sample."""
    b, _, h, w = images.shape
    flip = (torch.rand(b, generator=generator) < 0.5).tolist()
    boxes = crop_boxes(b, h, w, scale, ratio, generator)
    out = [TF.resized_crop(image, *box, [size, size], antialias=True) for image, box in zip(images, boxes)]
    return torch.stack([TF.horizontal_flip(image) if f else image for image, f in zip(out, flip)])


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
        return lambda images: TF.center_crop(images, [settings["crop_size"]] * 2)
    return None
