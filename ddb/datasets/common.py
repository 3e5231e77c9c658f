"""What every dataset source shares: the :class:`Source` record, the metadata columns, image resizing and writing,
group ids, and the split helpers several protocols use.

Bias labels in the table are for evaluation only; no training stage reads them (except methods marked as doing so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ddb.core.logs import Progress
from ddb.datasets.fetch import RemoteFile

COLUMNS = ["sample_id", "path", "label", "label_name", "split", "bias", "bias_aligned", "group"]


class DatasetError(ValueError):
    """The dataset's files do not have the expected layout or content; the message names the file and the fix."""


@dataclass(frozen=True)
class Source:
    """A dataset source: ``build(raw, image_dir, prefix, settings) -> metadata rows`` writes square RGB PNGs into
    ``image_dir`` (paths in the table start with ``prefix/``) from ``raw``, the folder its download extracted (or
    its ``inputs``' ``raw``); ``num_classes(settings)`` is known before any job runs, so that a dry run shows the
    whole DAG; ``files`` are what the download stage fetches for it (empty for generated or local data) and
    ``components`` the other downloads it is made from, by download name (UrbanCars).

    Declarations the workflow reads before any job runs: ``check(settings)`` validates a local dataset (the
    bring-your-own CSV); ``has_bias_labels(settings)`` says whether the table will carry bias labels
    (evaluation-only measurements need them); ``inputs(dataset, settings)`` names what its preparation reads instead
    of its download, by name (``raw``: a folder another rule generates; or local files whose edits rerun it), {}
    for its download; ``staged_weights(settings)`` names the pretrained weights that rule reads (staged by rule
    stage_weights). After training, ``benchmark_metrics(pred, label, bias, metrics)`` adds the test metrics of its
    benchmark's own convention (UrbanCars' gaps) to ``metrics``."""

    build: Callable[[Path | None, Path, str, dict], pd.DataFrame]
    num_classes: Callable[[dict], int]
    files: tuple[RemoteFile, ...] = ()
    components: dict[str, tuple[RemoteFile, ...]] = field(default_factory=dict)
    check: Callable[[dict], None] | None = None
    has_bias_labels: Callable[[dict], bool] = lambda settings: True
    inputs: Callable[[str, dict], dict[str, str | list[str]]] = lambda dataset, settings: {}
    staged_weights: Callable[[dict], tuple[str, ...]] = lambda settings: ()
    benchmark_metrics: Callable[..., dict] | None = None


def to_rgb(image: Image.Image, path) -> Image.Image:
    """An 8-bit RGB copy of ``image``: 16-bit grey rescaled (65535 -> 255, not clipped), palette and alpha images
    flattened onto white, CMYK and the other modes through Pillow's conversion; a mode that has no faithful 8-bit
    form (32-bit float, integers beyond 16 bits) is refused, naming the file."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise DatasetError(f"{path}: {image.mode} image with values outside 0..65535; save it as 8- or 16-bit")
        return Image.fromarray((values * 255 / 65535).round().astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        raise DatasetError(f"{path}: 32-bit float image; save it as an 8- or 16-bit image")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def square_image(path, size: int) -> Image.Image:
    """RGB image (:func:`to_rgb`), shorter side resized to ``size``, centre-cropped to ``size`` x ``size``."""
    try:
        with Image.open(path) as image:
            image = to_rgb(image, path)
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from None
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


def write_images(rows: pd.DataFrame, originals: list[Path], image_dir: Path, prefix: str, size: int) -> pd.DataFrame:
    """Save each original as ``<split>/<sample_id>.png`` at ``size`` px; set the table's ``path`` column."""
    paths = []
    progress = Progress(len(rows), max(1, len(rows) // 10), "images resized")  # CelebA: 200k images
    for original, sample_id, split in zip(originals, rows["sample_id"], rows["split"]):
        relative = f"{split}/{sample_id}.png"
        (image_dir / split).mkdir(parents=True, exist_ok=True)
        square_image(original, size).save(image_dir / relative)
        paths.append(f"{prefix}/{relative}")
        progress(len(paths))
    return rows.assign(path=paths)


def with_groups(rows: pd.DataFrame, num_bias: int | None) -> pd.DataFrame:
    """Fill ``group = label * num_bias + bias`` (null where bias is unknown) and order the columns."""
    rows = rows.copy()
    if num_bias is None or rows["bias"].isna().all():
        rows["bias"], rows["bias_aligned"], rows["group"] = pd.NA, pd.NA, pd.NA
    else:
        rows["group"] = rows["label"] * num_bias + rows["bias"]
    return rows[COLUMNS]


def holdout_validation(rows: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """``split`` with ``fraction`` of each class's training rows (at least one, at most all but one) moved to val."""
    split = rows["split"].copy()
    rng = np.random.default_rng(seed)
    for _, index in rows[rows["split"] == "train"].groupby("label").groups.items():
        index = np.array(sorted(index))
        n_val = min(len(index) - 1, max(1, round(fraction * len(index))))
        split.loc[rng.permutation(index)[:n_val]] = "val"
    return split


def majority_bias(rows: pd.DataFrame) -> pd.Series:
    """Per label, the most frequent bias value among the training rows."""
    train = rows[rows["split"] == "train"]
    return train.groupby("label")["bias"].agg(lambda b: b.value_counts().idxmax())


def bias_attributes(labels: np.ndarray, num_values: int, conflicting_ratio: float, rng) -> np.ndarray:
    """Bias value = label for all but round(ratio * N) samples, whose value is drawn from the other values."""
    bias = labels.copy()
    conflicting = rng.permutation(len(labels))[: round(conflicting_ratio * len(labels))]
    shift = rng.integers(1, num_values, size=len(conflicting))
    bias[conflicting] = (labels[conflicting] + shift) % num_values
    return bias
