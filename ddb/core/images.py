"""Images for the stages: the real splits read a batch at a time from the image store (ddb/core/store.py), which
``write_store`` fills once per dataset and resolution from the prepared image folder; synthetic sets (a few
thousand small images) decoded once into uint8 tensors kept in memory.

Every prepared or synthetic file is checked against its folder's manifest when read (ddb/core/integrity.py): an
image edited or deleted after its stage wrote it stops the reading stage.
"""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ddb.core.integrity import read_checked, require_complete, write_manifest
from ddb.core.logs import Progress
from ddb.core.store import STORE_INFO, SplitWriter, StoredImages, open_split, sample_ids_digest

log = logging.getLogger("ddb.images")


@dataclass
class ImageSet:
    images: torch.Tensor | StoredImages  # (N, 3, H, W) uint8: in memory, or read from the store batch by batch
    labels: torch.Tensor  # (N,) int64
    sample_ids: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "ImageSet":
        """Some rows; a stored split stays on disk (a view), an in-memory one is copied."""
        images = self.images.subset(index) if isinstance(self.images, StoredImages) else self.images[index]
        return ImageSet(images, self.labels[index], [self.sample_ids[i] for i in index.tolist()])


def load_image(path: Path, size: int | None, data: bytes | None = None) -> np.ndarray:
    """An image as uint8 (H, W, 3), resized to ``size`` when given; decoded from ``data`` when given (bytes already
    read and checked), else read from ``path``."""
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as img:
            img = img.convert("RGB")
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read image {path}: {err}; re-run the prepare_data stage or fix the file") from err


def stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_split(metadata: pd.DataFrame, store: Path, split: str) -> ImageSet:
    """The images of ``split`` (rows in table order) in the image ``store`` folder, checked against the table."""
    rows = metadata[metadata["split"] == split]
    if rows.empty:
        raise ValueError(f"the metadata table has no {split!r} rows (store {store})")
    images = open_split(store, metadata, split)
    return ImageSet(images, torch.tensor(rows["label"].to_numpy(), dtype=torch.int64), rows["sample_id"].tolist())


def write_store(metadata: pd.DataFrame, root: Path, out: Path, size: int | None) -> dict:
    """Decode every image of the table (paths relative to ``root``, the metadata's folder) once, resized to
    ``size`` (None: as prepared), into the store folder ``out``, split by split; returns the store's record."""
    splits, digests = {}, {}
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in metadata.groupby("split", sort=False):
        folder = root / Path(rows["path"].iloc[0]).parts[0]  # the image folder prepare_data wrote, with its manifest
        files = [root / p for p in rows["path"]]
        first = load_image(files[0], size, read_checked(folder, files[0]))
        writer = SplitWriter(out / f"{split}.npy", len(files), (3, *first.shape[:2]))
        progress = Progress(len(files), max(1, len(files) // 20), f"store {split}")
        for i, f in enumerate(files):
            writer.write((first if i == 0 else load_image(f, size, read_checked(folder, f))).transpose(2, 0, 1))
            progress(i + 1)
        digests[f"{split}.npy"] = writer.close()
        splits[split] = {"count": len(files), "shape": list(writer.shape),
                         "sample_ids_sha256": sample_ids_digest(rows["sample_id"])}
        log.info("%s: %d images of %s", split, len(files), "x".join(map(str, writer.shape[1:])))
    record = {"resolution": "native" if size is None else f"{size}px", "splits": splits}
    (out / STORE_INFO).write_text(json.dumps(record, indent=2))
    write_manifest(out, known=digests)
    return record


def load_synthetic(class_dirs: list[Path], size: int | None = None) -> ImageSet:
    """Synthetic images; the target of every image in ``class_dirs[k]`` is its generating class ``k``."""
    arrays, labels, ids = [], [], []
    for k, folder in enumerate(class_dirs):
        files = sorted(Path(folder).glob("*.png"))
        if not files:
            raise ValueError(f"no PNG images in {folder}; re-run the sample_synthetic stage for class {k}")
        require_complete(Path(folder), files)
        arrays += [load_image(f, size, read_checked(Path(folder), f)) for f in files]
        labels += [k] * len(files)
        ids += [f"class_{k}/{f.name}" for f in files]
    return ImageSet(stack(arrays), torch.as_tensor(labels, dtype=torch.int64), ids)


def image_grid(images: np.ndarray, columns: int = 10, scale: int | None = None,
               outline: np.ndarray | None = None) -> Image.Image:
    """Tile uint8 images (N, H, W, 3) into one picture, upscaled ``scale`` x without smoothing
    (default: so that each image is at least 64 px wide). Images where ``outline`` is true get a red frame."""
    n, h, w, _ = images.shape
    scale = scale or max(1, -(-64 // w))
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * (h + 2), columns * (w + 2), 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * (h + 2), c * (w + 2)
        if outline is not None and outline[i]:
            canvas[top : top + h + 2, left : left + w + 2] = (255, 0, 0)
        canvas[top + 1 : top + 1 + h, left + 1 : left + 1 + w] = img
    grid = Image.fromarray(canvas)
    return grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
