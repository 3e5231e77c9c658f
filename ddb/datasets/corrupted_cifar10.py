"""Corrupted CIFAR-10 with the LfF protocol: label = object class, bias = corruption type (LfF's Type1 set,
written in numpy/torch in ddb/algorithms/corruptions.py with ddb's own severity parameters).

As Colored MNIST: train biased; val (held out from train) and test (official test split) uniform over corruptions.
Headline columns: ``unbiased_acc``, ``aligned_acc``, ``conflicting_acc``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ddb.datasets.common import DatasetError, Source, bias_attributes, with_groups
from ddb.datasets.fetch import RemoteFile

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def read_cifar10_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels of one binary CIFAR-10 batch (records: 1 label byte + 3,072 pixel bytes)."""
    records = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    if records.size % 3073:
        raise DatasetError(f"{path} is not a CIFAR-10 binary batch (size {records.size} is not a multiple of 3,073)")
    records = records.reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), records[:, 0].astype("int64")


def build_corrupted_cifar10(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    # imported here: the corruptions need torch, and planning the workflow imports every source module
    from ddb.algorithms.corruptions import CORRUPTIONS

    root = raw / CIFAR10_ARCHIVE / "cifar-10-batches-bin"
    if not root.is_dir():
        raise DatasetError(f"{root} not found: {CIFAR10_ARCHIVE} is not the CIFAR-10 binary archive")
    batches = [read_cifar10_bin(root / f"data_batch_{i}.bin") for i in range(1, 6)]
    images, labels = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    test_images, test_labels = read_cifar10_bin(root / "test_batch.bin")
    rng = np.random.default_rng(settings["seed"])
    order = rng.permutation(len(labels))
    n_val = round(settings["val_fraction"] * len(labels))
    # as Colored MNIST: train biased; val (held out from train) and test (official test split) uniform over corruptions
    parts = {"train": (images[order[n_val:]], labels[order[n_val:]], settings["conflicting_ratio"]),
             "val": (images[order[:n_val]], labels[order[:n_val]], 0.9), "test": (test_images, test_labels, 0.9)}
    records = []
    for split, (pictures, y, ratio) in parts.items():
        bias = bias_attributes(y, 10, ratio, rng)
        (image_dir / split).mkdir(parents=True, exist_ok=True)
        for i, (picture, label, b) in enumerate(zip(pictures, y, bias)):
            sample_id = f"ccifar_{split}_{i:05d}"
            Image.fromarray(CORRUPTIONS[b](picture, rng, settings["severity"])).save(image_dir / split / f"{sample_id}.png")
            records.append({"sample_id": sample_id, "path": f"{prefix}/{split}/{sample_id}.png", "label": int(label),
                            "label_name": CIFAR10_CLASSES[label], "split": split, "bias": int(b),
                            "bias_aligned": bool(label == b)})
    return with_groups(pd.DataFrame(records), 10)


SOURCE = Source(
    build_corrupted_cifar10, lambda settings: 10,
    files=(RemoteFile(CIFAR10_ARCHIVE, "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                      ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                       "https://cave.cs.toronto.edu/kriz/cifar-10-binary.tar.gz")),))
