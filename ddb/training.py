"""Shared pieces of the training stages: device, seeding, batch sampling, augmentation, prediction, best checkpoint."""

from __future__ import annotations

import copy
import logging
import os
import random
import time

import numpy as np
import torch
from torch import nn

log = logging.getLogger("ddb.training")


def setup(seed: int, threads: int | None = None) -> torch.device:
    """Seed every global RNG once (only stage ``main()``s call this), fix CPU threads, pick CUDA when present."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    # Deterministic kernels: on CPU the same seed then gives the same weights and the same scores.
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log.info("device: %s, torch threads: %d, seed: %d", device, torch.get_num_threads(), seed)
    return device


def build_optimizer(params, settings: dict) -> torch.optim.Optimizer:
    """``adam`` (default) or ``sgd`` with momentum 0.9 (the GroupDRO / JTT protocols), at ``lr`` and ``weight_decay``."""
    if settings.get("optimizer", "adam") == "sgd":
        return torch.optim.SGD(params, lr=settings["lr"], momentum=0.9, weight_decay=settings["weight_decay"])
    return torch.optim.Adam(params, lr=settings["lr"], weight_decay=settings["weight_decay"])


def sample_batches(n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None):
    """Endless index batches: shuffled epochs without replacement, or weighted draws with replacement."""
    while True:
        if weights is not None:
            yield torch.multinomial(weights, batch_size, replacement=True, generator=generator)
            continue
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[start : start + batch_size]


def augment(images: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
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


@torch.no_grad()
def predict_logits(model: nn.Module, images_uint8: torch.Tensor, device, batch_size: int = 512) -> torch.Tensor:
    """Logits (N, K) on CPU for uint8 images (N, 3, H, W), model in eval mode."""
    was_training = model.training
    model.eval()
    out = [model(images_uint8[i : i + batch_size].to(device).float().div_(255)).float().cpu()
           for i in range(0, len(images_uint8), batch_size)]
    model.train(was_training)
    return torch.cat(out)


class BestKeeper:
    """Keeps a copy of the weights with the highest validation score (ties keep the earlier step)."""

    def __init__(self):
        self.score, self.step, self.state = -float("inf"), None, None

    def offer(self, model: nn.Module, score: float, step: int) -> bool:
        if score > self.score:
            self.score, self.step = score, step
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return True
        return False


class Progress:
    """A log line every ``every`` steps with throughput; tqdm-free so SLURM logs stay readable."""

    def __init__(self, total: int, every: int, what: str):
        self.total, self.every, self.what = total, every, what
        self.start = time.perf_counter()

    def __call__(self, step: int, **values) -> None:
        if step % self.every and step != self.total:
            return
        fields = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        log.info("%s step %d/%d %s (%.1f s elapsed)", self.what, step, self.total, fields, time.perf_counter() - self.start)
