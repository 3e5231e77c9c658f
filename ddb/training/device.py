"""Where and how a stage computes: seeding, CPU threads, determinism, the device, its random generators, bf16
autocast and memory format.

The rule for random draws (tests/test_device_rules.py checks every call in ddb/): a draw names its generator and
is made on that generator's device, ``torch.rand(..., generator=g, device=g.device)``; a result needed elsewhere is
moved there afterwards. PyTorch refuses a CPU generator for a draw on a GPU, so a draw on the device it computes on
takes a generator of that device (:func:`device_generator`).
"""

from __future__ import annotations

import logging
import os
import random
import sys

import numpy as np
import torch
from torch import nn

from ddb.core.settings import DETERMINISTIC_ENV

log = logging.getLogger("ddb.training")


def deterministic_kernels(mode: str, device: torch.device) -> bool:
    """Whether a stage asks for deterministic kernels: ``yes``, ``no``, or ``auto`` = on a CPU only. On a CPU they
    cost nothing measurable and make the same seed give the same weights; on a GPU they force slower cuDNN
    algorithms while some kernels (the UNet's upsampling backward among them) stay non-deterministic anyway."""
    if mode not in ("auto", "yes", "no"):
        raise ValueError(f"{DETERMINISTIC_ENV}={mode!r}: use auto, yes or no")
    return device.type == "cpu" if mode == "auto" else mode == "yes"


def allocated_gpus() -> str | None:
    """The GPUs a scheduler gave this process (SLURM's allocation or CUDA_VISIBLE_DEVICES), or None."""
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(name, "").strip()
        if value in ("", "-1", "NoDevFiles") or (name == "SLURM_GPUS_ON_NODE" and value == "0"):
            continue
        return f"{name}={value}"
    return None


def pick_device() -> torch.device:
    """CUDA when present. ``$DDB_DEVICE=cpu`` forces the CPU. A job given GPUs where CUDA does not work (a driver
    older than this torch build's CUDA, a broken node) stops instead of training on the CPU for hours."""
    if os.environ.get("DDB_DEVICE", "").lower() == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    allocated = allocated_gpus()
    if allocated:
        raise SystemExit(f"this job was given GPUs ({allocated}) but CUDA does not work here (torch "
                         f"{torch.__version__}, built for CUDA {torch.version.cuda}): check the node's NVIDIA driver "
                         "against that CUDA version (nvidia-smi), or set DDB_DEVICE=cpu to run on the CPU anyway")
    return torch.device("cpu")


def use_deterministic_kernels(deterministic: bool) -> None:
    """``torch.use_deterministic_algorithms(deterministic, warn_only=True)`` without its import of
    ``torch._inductor.config``, which imports torch._dynamo (seconds of every job that does not train; CHANGELOG.md).
    That module's ``deterministic`` flag concerns compiled graphs: already loaded, it is set here as torch sets it;
    loaded later (a torch.compile), it reads the same value from its environment variable. tests/test_device_rules.py
    checks that torch's function still does nothing more than these two."""
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1" if deterministic else "0"
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(deterministic, warn_only=True)


def setup(seed: int, threads: int | None = None) -> torch.device:
    """Seed every global RNG once (only stage ``main()``s call this), fix CPU threads, pick the device
    (:func:`pick_device`), and choose deterministic or fast kernels (:func:`deterministic_kernels`, mode from
    ``$DDB_DETERMINISTIC``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    device = pick_device()
    deterministic = deterministic_kernels(os.environ.get(DETERMINISTIC_ENV, "auto"), device)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts: deterministic GEMMs
    use_deterministic_kernels(deterministic)
    # Filling every new tensor with NaN is a debugging aid of deterministic mode; it costs time and changes nothing
    # a stage computes (nothing reads memory it did not write).
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    log.info("device: %s, torch threads: %d, seed: %d, deterministic kernels: %s", device, torch.get_num_threads(),
             seed, "yes" if deterministic else "no")
    return device


def device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """The generator for draws made on ``device``: ``generator`` itself when it lives there (so a CPU run keeps the
    single stream it always had), else a generator on ``device`` seeded by one draw from ``generator``."""
    if generator.device.type == torch.device(device).type:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device).manual_seed(seed)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: CUDA GPUs from Ampere on (and ROCm GPUs), CPUs with
    AVX512-BF16 or AMX. Older GPUs (V100, T4) only emulate bf16, slower than fp32, so they count as without."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def uses_bf16(device: torch.device, precision: str = "auto", cpu_auto: bool = False) -> bool:
    """Whether a stage runs under bf16 autocast. ``auto`` = bf16 on CUDA GPUs that compute it natively; with
    ``cpu_auto`` also on CPUs with native bf16 (sampling, where the sampler check measured it to keep the amplifier's
    AUROC; training on a CPU stays fp32 because its effect on the results is not measured)."""
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
