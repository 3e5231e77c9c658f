"""What a result was computed on, recorded with it. A seed fixes a run on one kind of machine; on a CPU the torch
thread count and the CPU model also change the order of floating-point sums, and so the weights and scores."""

from __future__ import annotations

from pathlib import Path

import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    return models[0] if models else device.type


def compute_record(device: torch.device) -> dict:
    """The device (its model name) and the torch CPU thread count a stage ran with."""
    return {"device": f"{device.type}: {device_name(device)}", "torch_threads": torch.get_num_threads()}
