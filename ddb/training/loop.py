"""Shared pieces of the training stages: device, seeding, batch sampling, augmentation, prediction, best checkpoint."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ddb.atomic import atomic_file
from ddb.models import build_classifier

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


class BatchSampler:
    """Endless index batches: shuffled epochs without replacement, or weighted draws with replacement.

    An iterator whose position is state (``state_dict``), so a resumed run draws exactly the batches an
    uninterrupted one would."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None):
        self.n, self.batch_size, self.generator, self.weights = n, batch_size, generator, weights
        self.order, self.position = torch.empty(0, dtype=torch.long), 0

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        if self.weights is not None:
            return torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.generator)
        if self.position + min(self.batch_size, self.n) > len(self.order):  # a new epoch (the tail is dropped)
            self.order, self.position = torch.randperm(self.n, generator=self.generator), 0
        batch = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.position = state["order"], state["position"]


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: CUDA GPUs that support it, CPUs with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def uses_bf16(device: torch.device, precision: str = "auto", cpu_auto: bool = False) -> bool:
    """Whether a stage runs under bf16 autocast. ``auto`` = bf16 on CUDA GPUs that support it; with ``cpu_auto`` also
    on CPUs with native bf16 (sampling, where the sampler check measured it to keep the amplifier's AUROC; training
    on a CPU stays fp32 because its effect on the results is not measured)."""
    if precision != "auto":
        return precision == "bf16"
    return (device.type == "cuda" or cpu_auto) and native_bf16(device)


def autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def place(model: nn.Module, device: torch.device, settings: dict) -> nn.Module:
    """The model on ``device``, in channels-last memory format when ``settings["channels_last"]`` (inputs follow
    the weights' format from the first convolution on)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if settings.get("channels_last") else model


def new_classifier(settings: dict, num_classes: int, device: torch.device) -> nn.Module:
    """A freshly initialised classifier of a stage's ``settings`` (arch, pretrained, channels_last) on ``device``."""
    return place(build_classifier(settings["arch"], num_classes, settings["pretrained"]), device, settings)


def rng_state(generator: torch.Generator) -> dict:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: dict) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpoint:
    """The full training state every ``every`` steps in ``<out>.checkpoint.pt`` (written temp-then-rename), so a
    killed or preempted job resumes where it stopped. A checkpoint is resumed only when its ``fingerprint`` (settings,
    seed, the inputs' sizes and modification times) equals this run's: a rerun for changed inputs starts afresh.
    Loaded with ``weights_only=True``: tensors and plain containers only, never arbitrary pickles."""

    def __init__(self, out: Path, fingerprint: dict, every: int):
        out = Path(out)
        self.path = out.with_name(out.name + ".checkpoint.pt")
        self.fingerprint, self.every = json.dumps(fingerprint, sort_keys=True, default=str), every

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        state = torch.load(self.path, weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s: it was written for other settings or inputs", self.path)
            return None
        log.info("resuming from %s at step %d", self.path, state["step"])
        return state

    def maybe_save(self, step: int, state: Callable[[], dict]) -> None:
        if self.every and step % self.every == 0:
            with atomic_file(self.path) as tmp:
                torch.save({**state(), "step": step, "fingerprint": self.fingerprint}, tmp)

    def remove(self) -> None:
        """Called once the stage's output is complete."""
        self.path.unlink(missing_ok=True)


def input_fingerprint(*paths) -> dict:
    """Size and modification time of each input file or folder (its files), for :class:`Checkpoint`."""
    out = {}
    for path in filter(None, paths):
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out[str(path)] = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files[:1000]]
    return out


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

    def state_dict(self) -> dict:
        return {"score": self.score, "step": self.step, "state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.score, self.step, self.state = state["score"], state["step"], state["state"]

    def offer(self, model: nn.Module, score: float, step: int) -> bool:
        if score > self.score:
            self.score, self.step = score, step
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return True
        return False
