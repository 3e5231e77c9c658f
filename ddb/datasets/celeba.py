"""CelebA (Liu et al., ICCV 2015), Kaggle CSV edition: label = ``target`` attribute (Blond_Hair), bias = ``bias``
attribute (Male), as in the GroupDRO protocol; the official partition.

A row is bias-aligned when its bias value is its class's most frequent one in train (for Blond_Hair: female).
Headline columns: worst-group accuracy, ``avg_acc``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ddb.datasets.common import DatasetError, Source, majority_bias, with_groups, write_images
from ddb.datasets.fetch import RemoteFile

CELEBA_ARCHIVE = "celeba-dataset.zip"


def build_celeba(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    base = raw / CELEBA_ARCHIVE
    found = {name: sorted(base.glob(f"**/{name}")) for name in ("list_attr_celeba.csv", "list_eval_partition.csv")}
    images = sorted(p for p in base.glob("**/img_align_celeba") if any(p.glob("*.jpg")))
    if not all(found.values()) or not images:
        raise DatasetError(f"{CELEBA_ARCHIVE} lacks list_attr_celeba.csv, list_eval_partition.csv or an "
                           "img_align_celeba/ folder of .jpg files: it is not the Kaggle CSV edition of CelebA")
    attrs = pd.read_csv(found["list_attr_celeba.csv"][0])
    partition = pd.read_csv(found["list_eval_partition.csv"][0])
    table = attrs.merge(partition, on="image_id")
    target, bias = settings["target"], settings["bias"]
    for column in (target, bias):
        if column not in table.columns:
            raise DatasetError(f"CelebA has no attribute {column!r}; attributes: {sorted(attrs.columns[1:])}")
    rows = pd.DataFrame({
        "sample_id": "celeba_" + table["image_id"].str.removesuffix(".jpg"),
        "label": (table[target] == 1).astype("int64"),
        "split": table["partition"].map({0: "train", 1: "val", 2: "test"}),
        "bias": (table[bias] == 1).astype("int64"),
    })
    rows["label_name"] = np.where(rows["label"] == 1, target, f"not_{target}")
    # aligned = the class's most frequent bias value in train (for Blond_Hair: female)
    rows["bias_aligned"] = rows["bias"] == rows["label"].map(majority_bias(rows))
    return with_groups(write_images(rows, [images[0] / i for i in table["image_id"]], image_dir, prefix,
                                    settings["image_size"]), 2)


SOURCE = Source(
    build_celeba, lambda settings: 2,
    files=(RemoteFile(CELEBA_ARCHIVE, None, (), manual="kaggle datasets download -d jessicali9530/celeba-dataset "
                      "(the CelebA agreement applies: non-commercial research only)"),))
