"""What the report's figures share: the Agg backend, the colours of aligned and conflicting groups, atomic PNGs,
and the names read from result paths. The plotting functions (one module per figure) take tables and arrays, not
paths, so tests can call them directly; each module's ``main()`` reads the files of its rule."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: jobs run without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ddb.core.atomic import atomic_file  # noqa: E402

log = logging.getLogger("ddb.figures")
ALIGNED_COLOUR, CONFLICTING_COLOUR = "#4477aa", "#ee6677"


def save_figure(fig: plt.Figure, out: Path) -> None:
    """PNG written temp-then-rename, so an interrupted job leaves no half-written figure."""
    with atomic_file(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    log.info("wrote %s", out)


def sample_indices(n: int, k: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=min(n, k), replace=False))


def class_names(metadata: pd.DataFrame) -> dict[int, str]:
    return metadata.drop_duplicates("label").set_index("label")["label_name"].to_dict()


def run_name(path: Path, debias_root: Path) -> str:
    """``<debias_root>/<run>/seed<s>/...`` -> ``<run>`` (``ddb_i/base``, ``erm``)."""
    parts = Path(path).relative_to(debias_root).parts
    return "/".join(parts[: next(i for i, part in enumerate(parts) if part.startswith("seed"))])


def amplifier_name(model_dir: Path) -> str:
    """``.../amplifier/synthetic/base/model`` -> ``synthetic/base``."""
    parts = Path(model_dir).parts
    return "/".join(parts[parts.index("amplifier") + 1 : -1])
