"""Where and how a stage computes: seeding, CPU threads, the device, bf16 autocast and memory format."""

from __future__ import annotations

import logging
import os
import random

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


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A uint8 batch read on the host, on ``device``: through pinned memory and an asynchronous copy to a GPU (the
    host reads the next batch meanwhile), as it is on a CPU."""
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)
