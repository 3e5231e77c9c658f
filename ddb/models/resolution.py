"""The resolution a saved classifier was trained on, and feeding it images at that resolution.

The classifiers pool adaptively, so a batch at any size runs without complaint: a frozen amplifier shown images at
another resolution than its training images gives answers it never learnt to give, silently. Every saved classifier
records the side of its training images (``image_size`` in model.json); amplifiers and the bias classifier train on
them as they are, without crops. Where one is used, its images are brought to that side (Recipe II resizes the
target model's augmented batch, antialiased: on the crop protocols the real-data amplifier, trained on the full
256-px frames, sees the 224-px crop enlarged to 256) or checked to have it (scoring or measuring a stored split), and
a mismatch stops the stage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def trained_resolution(info: dict) -> int:
    """The side (px) of the training images of the amplifier or bias classifier described by ``info`` (its
    model.json). Not for target models: with ``resized_crop`` they train on crops of these images."""
    return int(info["image_size"])


def require_resolution(info: dict, side: int, model: str, images: str) -> None:
    """Stop unless ``images`` (a description) have the side ``model`` (its folder) was trained on."""
    trained = trained_resolution(info)
    if side != trained:
        raise SystemExit(f"{model} was trained on {trained} px images but {images} are {side} px: give it the "
                         f"image store at {trained} px (build_image_store), the one the workflow plans for it")


class AtTrainedResolution(nn.Module):
    """A frozen classifier that first resizes each float batch to its training resolution (bilinear, antialiased
    when shrinking, on the batch's device); a batch already at that side goes through unchanged."""

    def __init__(self, classifier: nn.Module, info: dict):
        super().__init__()
        self.classifier, self.side = classifier, trained_resolution(info)
        self.train(classifier.training)  # a frozen amplifier stays in eval mode wherever the wrapper is toggled

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.side, self.side):
            images = F.interpolate(images, size=(self.side, self.side), mode="bilinear", antialias=True,
                                   align_corners=False)
        return self.classifier(images)
