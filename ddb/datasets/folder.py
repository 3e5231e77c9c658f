"""Bring your own dataset: a folder of images plus a CSV with the columns ``path,label,split`` and optionally ``bias``.

Paths are relative to ``root``; labels and bias values may be strings; split is train, val or test. Without val
rows, ``val_fraction`` of each class's training rows is held out (seeded). A row is bias-aligned when its bias
value is its class's most frequent one in train.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd

from ddb.datasets.common import DatasetError, Source, holdout_validation, majority_bias, with_groups, write_images

log = logging.getLogger("ddb.datasets.folder")


BYO_REQUIRED = ("path", "label", "split")


def read_folder_csv(csv_path: Path) -> pd.DataFrame:
    if not csv_path.exists():
        raise DatasetError(f"{csv_path} not found: set datasets.<name>.folder.csv to the CSV of your dataset")
    with open(csv_path, newline="") as f:
        header = next(csv.reader(f), [])
    unknown = sorted(set(header) - {*BYO_REQUIRED, "bias"})
    missing = [c for c in BYO_REQUIRED if c not in header]
    if unknown or missing:
        raise DatasetError(f"{csv_path}: columns must be path,label,split and optionally bias; "
                           + (f"unknown {unknown}" if unknown else "") + ("; " if unknown and missing else "")
                           + (f"missing {missing}" if missing else ""))
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    table.index = table.index + 2  # CSV line numbers (line 1 is the header), for error messages
    return table


def byo_num_classes(settings: dict) -> int:
    return read_folder_csv(Path(settings["csv"]))["label"].nunique()


def build_folder(raw: Path | None, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    csv_path, root = Path(settings["csv"]), Path(settings["root"])
    table = read_folder_csv(csv_path)
    if table.empty:
        raise DatasetError(f"{csv_path} has no rows")
    bad_split = table[~table["split"].isin(["train", "val", "test"])]
    if len(bad_split):
        line = bad_split.index[0]
        raise DatasetError(f"{csv_path} line {line}: split {bad_split.loc[line, 'split']!r} is not train, val or test")
    for needed in ("train", "test"):
        if not (table["split"] == needed).any():
            raise DatasetError(f"{csv_path} has no {needed} rows; every dataset needs train and test images")
    empty = table[(table["path"] == "") | (table["label"] == "")]
    if len(empty):
        raise DatasetError(f"{csv_path} line {empty.index[0]}: empty path or label")
    originals = [root / p for p in table["path"]]
    absent = [(line, p) for line, p in zip(table.index, originals) if not p.is_file()]
    if absent:
        shown = ", ".join(f"line {line}: {p}" for line, p in absent[:5])
        raise DatasetError(f"{len(absent)} image(s) listed in {csv_path} do not exist under {root} ({shown}); paths "
                           "are relative to datasets.<name>.folder.root")
    classes = sorted(table["label"].unique())
    untrained = sorted(set(classes) - set(table.loc[table["split"] == "train", "label"]))
    if untrained:
        raise DatasetError(f"{csv_path}: class(es) {untrained} have no train rows; the model cannot learn them")
    has_bias = "bias" in table.columns and (table["bias"] != "").all()
    if "bias" in table.columns and not has_bias and (table["bias"] != "").any():
        line = table.index[table["bias"] == ""][0]
        raise DatasetError(f"{csv_path} line {line}: empty bias; give every row a bias value or drop the column")
    rows = pd.DataFrame({
        "sample_id": [f"row{line:06d}" for line in table.index],
        "label": table["label"].map({c: i for i, c in enumerate(classes)}).astype("int64").to_numpy(),
        "label_name": table["label"].to_numpy(),
        "split": table["split"].to_numpy(),
    })
    num_bias = None
    if has_bias:
        values = sorted(table["bias"].unique())
        rows["bias"] = table["bias"].map({v: i for i, v in enumerate(values)}).astype("int64").to_numpy()
        # aligned = the class's most frequent bias value in train (the correlation a shortcut would learn)
        rows["bias_aligned"] = rows["bias"] == rows["label"].map(majority_bias(rows))
        num_bias = len(values)
    else:
        rows["bias"], rows["bias_aligned"] = pd.NA, pd.NA
    if not (rows["split"] == "val").any():
        rows["split"] = holdout_validation(rows, settings["val_fraction"], settings["seed"])
        log.info("no val rows in %s: held out %d training images, stratified by class", csv_path,
                 int((rows["split"] == "val").sum()))
    return with_groups(write_images(rows, originals, image_dir, prefix, settings["image_size"]), num_bias)


SOURCE = Source(build_folder, byo_num_classes)
