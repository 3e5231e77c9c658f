"""Colored MNIST with the LfF protocol (Nam et al., NeurIPS 2020): label = digit, bias = foreground colour.

Train is biased with the configured conflicting ratio; val (held out from train) and test (the official test split)
have colours uniform over the ten values. The ten colours are ddb's own (LfF's ``colors.th`` is not published
outside its code), so numbers are not directly comparable to LfF's files. Headline columns: ``unbiased_acc``,
``aligned_acc``, ``conflicting_acc``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ddb.datasets.common import DatasetError, Source, bias_attributes, with_groups
from ddb.datasets.fetch import RemoteFile

MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist", "https://storage.googleapis.com/cvdf-datasets/mnist",
              "http://yann.lecun.com/exdb/mnist")
MNIST_FILES = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
               "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
               "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
               "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
# Ten well-separated colours (ours: LfF's colors.th values are not published outside its code).
CMNIST_COLOURS = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
                           (145, 30, 180), (70, 240, 240), (240, 50, 230), (170, 110, 40), (255, 255, 255)]) / 255.0
CMNIST_JITTER = (0.05, 0.02, 0.01, 0.005, 0.002)  # colour std by severity 1..5 (LfF)


def read_idx(path: Path) -> np.ndarray:
    """An MNIST idx file (gzip or plain) as a numpy array."""
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DatasetError(f"{path} is truncated or not an idx file (expected {shape})")
    return data.reshape(shape)


def colour_digits(digits: np.ndarray, bias: np.ndarray, severity: int, rng) -> np.ndarray:
    """Grey digits (N, 28, 28) painted in their bias colour with per-image Gaussian jitter: (N, 28, 28, 3) uint8."""
    colours = CMNIST_COLOURS[bias] + rng.normal(0, CMNIST_JITTER[severity - 1], size=(len(bias), 3))
    painted = digits[..., None].astype(np.float64) / 255 * np.clip(colours, 0, 1)[:, None, None, :]
    return (painted * 255).round().astype(np.uint8)


def build_cmnist(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    rng = np.random.default_rng(settings["seed"])
    data = {}
    for part, name in (("train", "train"), ("test", "t10k")):
        images = read_idx(raw / f"{name}-images-idx3-ubyte.gz")
        labels = read_idx(raw / f"{name}-labels-idx1-ubyte.gz").astype("int64")
        data[part] = (images, labels)
    images, labels = data["train"]
    order = rng.permutation(len(labels))
    n_val = round(settings["val_fraction"] * len(labels))
    # train: biased with the configured conflicting ratio; val and test: colour uniform over the 10 values
    # (LfF builds its "valid" split from the official test split with an aligned ratio of 0.1, i.e. uniform)
    parts = {"train": (images[order[n_val:]], labels[order[n_val:]], settings["conflicting_ratio"]),
             "val": (images[order[:n_val]], labels[order[:n_val]], 0.9),
             "test": (*data["test"], 0.9)}
    return write_coloured_splits(parts, settings["severity"], rng, image_dir, prefix, "cmnist", str)


def write_coloured_splits(parts: dict, severity: int, rng, image_dir: Path, prefix: str, name: str,
                          label_name) -> pd.DataFrame:
    """The Colored-MNIST protocol on grey images: ``parts[split] = (images, labels, conflicting ratio)``; each split
    gets its bias colours (``bias_attributes``), is painted (``colour_digits``) and written as PNGs named
    ``<name>_<split>_<i>``. Returns the metadata rows; ``label_name(label)`` names a class."""
    records = []
    for split, (grey, y, ratio) in parts.items():
        bias = bias_attributes(y, 10, ratio, rng)
        coloured = colour_digits(grey, bias, severity, rng)
        (image_dir / split).mkdir(parents=True, exist_ok=True)
        for i, (image, label, b) in enumerate(zip(coloured, y, bias)):
            sample_id = f"{name}_{split}_{i:05d}"
            Image.fromarray(image).save(image_dir / split / f"{sample_id}.png")
            records.append({"sample_id": sample_id, "path": f"{prefix}/{split}/{sample_id}.png", "label": int(label),
                            "label_name": label_name(label), "split": split, "bias": int(b),
                            "bias_aligned": bool(label == b)})
    return with_groups(pd.DataFrame(records), 10)


SOURCE = Source(
    build_cmnist, lambda settings: 10,
    files=tuple(RemoteFile(name, f"md5:{md5}", tuple(f"{url}/{name}" for url in MNIST_URLS), extract=False)
                for name, md5 in MNIST_FILES.items()))
