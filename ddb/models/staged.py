"""Reading staged pretrained weights (rule stage_weights, ddb/models/pretrained.py) in a job: from the folder the
workflow passes, checked against its manifest, loaded onto the CPU as tensors only. Nothing is downloaded here;
this module imports none of the download machinery, so an edit to it reruns no training."""

from __future__ import annotations

import io
import json
from pathlib import Path

from ddb.core.integrity import damaged, read_checked

INFO = "weights.json"


def staged_state_dict(folder: Path) -> dict | None:
    """The state dict staged in ``folder`` (checked against its manifest, loaded onto the CPU as tensors only), or
    None where the weights were optional and could not be staged (``weights.json`` says why)."""
    import torch

    folder = Path(folder)
    if not (folder / INFO).exists():
        raise damaged(folder, f"holds no staged weights ({INFO} missing)")
    info = json.loads(read_checked(folder, folder / INFO))
    if not info["available"]:
        return None
    data = read_checked(folder, folder / info["file"])
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # not a state dict torch can read
        raise damaged(folder / info["file"], f"cannot be loaded ({type(error).__name__}: {error})") from None


def unavailable_reason(folder: Path) -> str:
    return json.loads((Path(folder) / INFO).read_text()).get("reason", "")
