"""Colored Fashion-MNIST: LfF's Colored-MNIST protocol (ddb/datasets/cmnist.py) applied to Zalando's Fashion-MNIST
photographs of clothing (Xiao et al. 2017). Label = the article (10 classes), bias = the colour it is painted in.

A real-image benchmark that runs offline: besides the official files (with their published md5), Debian's
``dataset-fashion-mnist`` package (``apt-get install dataset-fashion-mnist``) is a local mirror under
``/usr/share/datasets/fashion-mnist/``. Debian recompressed the gzip files, so its copies have other checksums than
the published ones; each source is pinned with its own (the IDX bytes inside are what ``read_idx`` reads), and a
file matching neither stays an error.

Train is biased with the configured conflicting ratio; val (held out from train) and test (the official test
split) have colours uniform over the ten values. ``max_train`` / ``max_test`` take seeded subsets (drawn before
any colour) for runs that fit a laptop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ddb.datasets.cmnist import read_idx, write_coloured_splits
from ddb.datasets.common import Source
from ddb.datasets.fetch import RemoteFile

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
DEBIAN_MIRROR = "file:///usr/share/datasets/fashion-mnist"
# name: (published md5 of the official gzip file, md5 of Debian's recompressed copy in dataset-fashion-mnist
# 0.0~git20200523.55506a9-1)
FILES = {"train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"),
         "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"),
         "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"),
         "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01")}


def capped(n: int, cap: int, rng) -> np.ndarray:
    """Indices of a seeded subset of ``cap`` of ``n`` items (all of them, in order, when ``cap`` is 0 or >= n)."""
    return np.sort(rng.permutation(n)[:cap]) if 0 < cap < n else np.arange(n)


def build_cfmnist(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    rng = np.random.default_rng(settings["seed"])
    data = {}
    for part, name in (("train", "train"), ("test", "t10k")):
        data[part] = (read_idx(raw / f"{name}-images-idx3-ubyte.gz"),
                      read_idx(raw / f"{name}-labels-idx1-ubyte.gz").astype("int64"))
    images, labels = data["train"]
    order = rng.permutation(len(labels))
    n_val = round(settings["val_fraction"] * len(labels))
    train_idx = order[n_val:][capped(len(labels) - n_val, settings["max_train"], rng)]
    test_idx = capped(len(data["test"][1]), settings["max_test"], rng)
    # as in Colored MNIST: train biased with the configured ratio; val and test uniform over the 10 colours
    parts = {"train": (images[train_idx], labels[train_idx], settings["conflicting_ratio"]),
             "val": (images[order[:n_val]], labels[order[:n_val]], 0.9),
             "test": (data["test"][0][test_idx], data["test"][1][test_idx], 0.9)}
    return write_coloured_splits(parts, settings["severity"], rng, image_dir, prefix, "cfmnist",
                                 lambda label: CLASSES[label])

SOURCE = Source(
    build_cfmnist, lambda settings: 10,
    files=tuple(RemoteFile(name, f"md5:{official}", (f"{OFFICIAL_URL}/{name}",), extract=False,
                           mirrors=((f"{DEBIAN_MIRROR}/{name}", f"md5:{debian}"),))
                for name, (official, debian) in FILES.items()))
