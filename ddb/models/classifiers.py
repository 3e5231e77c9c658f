"""Classifiers for the amplifier and the debiased model: a small CNN for tiny images, or torchvision ResNet-18/50;
saving, loading and batched inference.

Every model takes images in [0, 1] and normalises them itself, so the amplifier and the target model see one
input convention. Weights are saved as safetensors beside a JSON description (no pickles).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ddb.core.integrity import damaged, verify_files
from ddb.models.staged import staged_state_dict, unavailable_reason
from ddb.training.device import to_device

log = logging.getLogger("ddb.models")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def small_cnn(num_classes: int, width: int = 16) -> nn.Sequential:
    """Four conv blocks (width x 1-2-4-4 channels) and global average pooling: enough for 16-64 px images."""

    def block(cin, cout, pool):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        return layers + ([nn.MaxPool2d(2)] if pool else [])

    return nn.Sequential(
        Normalize((0.5,) * 3, (0.5,) * 3),
        *block(3, width, True),
        *block(width, 2 * width, True),
        *block(2 * width, 4 * width, True),
        *block(4 * width, 4 * width, False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )


RESNETS = ("resnet18", "resnet50")  # torchvision.models builders of these names


def resnet(arch: str, num_classes: int, pretrained: str, weights_folder: Path | None = None) -> nn.Sequential:
    """torchvision ResNet with a new head. ``pretrained``: yes (its ImageNet weights, staged in ``weights_folder``
    by rule stage_weights: ddb/models/staged.py), no, or auto (the staged weights where staging could get
    them, else random init with a warning). Nothing is downloaded here."""
    # torchvision here, not above: importing it takes about 2 s (it loads torch._dynamo), which every job of a small
    # CNN would pay at start-up
    from torchvision import models

    net = getattr(models, arch)(weights=None)
    if pretrained in ("yes", "auto"):
        state = None
        if weights_folder is None:
            problem = "no staged weights were given (--pretrained-weights; the workflow passes results/weights/<name>)"
        else:
            state = staged_state_dict(weights_folder)
            problem = f"staging them failed: {unavailable_reason(weights_folder)}" if state is None else ""
        if state is not None:
            net.load_state_dict(state)
        elif pretrained == "yes":
            raise SystemExit(f"{arch} with pretrained: yes needs its ImageNet weights, but {problem}. Run the workflow "
                             "(rule stage_weights fetches them on the login node), or set pretrained: auto / no")
        else:
            msg = f"ImageNet weights for {arch} unavailable ({problem}); using random init"
            warnings.warn(msg, stacklevel=2)
            log.warning(msg)
    net.fc = nn.Linear(net.fc.in_features, num_classes)
    return nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), net)


def build_classifier(arch: str, num_classes: int, pretrained: str = "no",
                     weights_folder: Path | None = None) -> nn.Module:
    if arch == "small_cnn":
        return small_cnn(num_classes)
    if arch in RESNETS:
        return resnet(arch, num_classes, pretrained, weights_folder)
    raise ValueError(f"unknown classifier arch {arch!r}; use small_cnn, {' or '.join(RESNETS)}")


def save_classifier(model: nn.Module, folder: Path, info: dict) -> None:
    """Write ``model.safetensors`` and ``model.json`` (arch, num_classes, image_size, ...) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    (folder / "model.json").write_text(json.dumps(info, indent=2, sort_keys=True))


def load_classifier(folder: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a classifier saved by :func:`save_classifier` (random init, then the saved weights), in eval mode;
    its files are checked against the folder's manifest first."""
    folder = Path(folder)
    files = [folder / "model.json", folder / "model.safetensors"]
    if not files[0].exists():
        raise damaged(folder, "holds no saved classifier (model.json missing)")
    verify_files(folder, files)
    try:
        info = json.loads(files[0].read_text())
        model = build_classifier(info["arch"], info["num_classes"], "no")
        model.load_state_dict(load_file(files[1]))
    except Exception as error:  # truncated or foreign files: safetensors, json and torch raise their own types
        raise damaged(folder, f"cannot be loaded ({type(error).__name__}: {error})") from None
    return model.to(device).eval(), info


# Inference batches hold at most 512 images of 64 x 64 px: every small-image benchmark keeps 512 images a batch,
# while 224 px protocols take 41 (at 512 a batch, scoring 224 px images peaked at 4.8 GB on a CPU).
MAX_PREDICT_BATCH, PREDICT_BATCH_PIXELS = 512, 512 * 64 * 64


def predict_batch_size(height: int, width: int) -> int:
    """Images per inference batch at ``height`` x ``width``: a fixed pixel budget, 1 to 512 images."""
    return max(1, min(MAX_PREDICT_BATCH, PREDICT_BATCH_PIXELS // (height * width)))


@torch.no_grad()
def predict_logits(model: nn.Module, images_uint8, device, batch_size: int | None = None, view=None) -> torch.Tensor:
    """Logits (N, K) on CPU for uint8 images (N, 3, H, W): a tensor, or a stored split read ``batch_size`` images at
    a time (default: ``predict_batch_size`` of the images' size). ``view`` (ddb/training/augmentation.py
    ``eval_view``) turns each batch into what the model sees, on the device. The model is in eval mode meanwhile."""
    batch_size = batch_size or predict_batch_size(*images_uint8.shape[-2:])
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images_uint8), batch_size):
        batch = to_device(images_uint8[i : i + batch_size], device)
        out.append(model((view(batch) if view is not None else batch).float().div_(255)).float().cpu())
    model.train(was_training)
    return torch.cat(out)
