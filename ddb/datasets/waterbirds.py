"""Waterbirds (Sagawa et al., ICLR 2020; the group_DRO tarball): label = waterbird, bias = water background.

Splits: the standard train / val / test of its ``metadata.csv``. Headline columns (GroupDRO / JTT / DFR): worst-group
accuracy and ``train_weighted_acc`` (their "Avg."), with ``avg_acc`` the plain one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ddb.datasets.common import DatasetError, Source, with_groups, write_images
from ddb.datasets.fetch import RemoteFile

WATERBIRDS_ARCHIVE = "waterbird_complete95_forest2water2.tar.gz"


def build_waterbirds(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    root = raw / WATERBIRDS_ARCHIVE / "waterbird_complete95_forest2water2"
    table = root / "metadata.csv"
    if not table.exists():
        raise DatasetError(f"{table} not found: {WATERBIRDS_ARCHIVE} does not have the Waterbirds layout "
                           "(waterbird_complete95_forest2water2/metadata.csv); delete it and rerun to download it again")
    meta = pd.read_csv(table)
    missing = {"img_id", "img_filename", "y", "split", "place"} - set(meta.columns)
    if missing:
        raise DatasetError(f"{table} lacks the columns {sorted(missing)}")
    split_names = {0: "train", 1: "val", 2: "test"}  # the standard split of the metadata file
    rows = pd.DataFrame({
        "sample_id": [f"wb_{i:05d}" for i in meta["img_id"]],
        "label": meta["y"].astype("int64"),
        "label_name": meta["y"].map({0: "landbird", 1: "waterbird"}),
        "split": meta["split"].map(split_names),
        "bias": meta["place"].astype("int64"),
        "bias_aligned": meta["y"] == meta["place"],
    })
    rows = write_images(rows, [root / f for f in meta["img_filename"]], image_dir, prefix, settings["image_size"])
    return with_groups(rows, 2)


SOURCE = Source(
    build_waterbirds, lambda settings: 2,
    files=(RemoteFile(WATERBIRDS_ARCHIVE, None, (
        "https://nlp.stanford.edu/data/dro/waterbird_complete95_forest2water2.tar.gz",
        "https://downloads.cs.stanford.edu/nlp/data/dro/waterbird_complete95_forest2water2.tar.gz"),
        manual="https://github.com/kohpangwei/group_DRO (the Waterbirds tarball)"),))
