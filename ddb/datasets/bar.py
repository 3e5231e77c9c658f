"""BAR, Biased Action Recognition (Nam et al., NeurIPS 2020): six actions; training images are bias-aligned and test
images bias-conflicting by construction, with no bias labels.

BAR publishes no validation split: a seeded, class-stratified hold-out of the training images replaces it.
Headline column: ``avg_acc``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ddb.datasets.common import DatasetError, Source, holdout_validation, with_groups, write_images
from ddb.datasets.fetch import RemoteFile

BAR_ARCHIVE = "BAR-master.zip"
BAR_CLASSES = ("climbing", "diving", "fishing", "pole_vaulting", "racing", "throwing")


def bar_label(name: str) -> str:
    """The action of a BAR file name such as ``climbing_12.jpg`` or ``pole vaulting_3.jpg``."""
    action = Path(name).stem.rsplit("_", 1)[0].lower()
    key = "".join(ch for ch in action if ch.isalpha())
    for c in BAR_CLASSES:
        if key == c.replace("_", ""):
            return c
    raise DatasetError(f"BAR file {name!r}: its name does not start with one of the actions {BAR_CLASSES}")


def build_bar(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    root = raw / BAR_ARCHIVE / "BAR-master"
    originals, records = [], []
    for split in ("train", "test"):
        folder = root / split
        if not folder.is_dir():
            raise DatasetError(f"{folder} not found: {BAR_ARCHIVE} does not have the BAR layout (BAR-master/train, "
                               "BAR-master/test); delete it and rerun to download it again")
        for path in sorted(folder.glob("*.jpg")):
            action = bar_label(path.name)
            originals.append(path)
            records.append({"sample_id": f"bar_{split}_{path.stem.replace(' ', '_')}", "label": BAR_CLASSES.index(action),
                            "label_name": action, "split": split})
    rows = pd.DataFrame(records).assign(bias=pd.NA, bias_aligned=pd.NA)
    # BAR defines no validation split: a documented, seeded, class-stratified hold-out of the training images
    rows["split"] = holdout_validation(rows, settings["val_fraction"], settings["seed"])
    return with_groups(write_images(rows, originals, image_dir, prefix, settings["image_size"]), None)


SOURCE = Source(
    build_bar, lambda settings: len(BAR_CLASSES),
    files=(RemoteFile(BAR_ARCHIVE, None, ("https://github.com/alinlab/BAR/archive/refs/heads/master.zip",),
                      manual="https://github.com/alinlab/BAR (Code -> Download ZIP)"),),
    has_bias_labels=lambda settings: False)
