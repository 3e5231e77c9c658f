"""Bring your own dataset: a folder of images plus a CSV with the columns ``path,label,split`` and optionally ``bias``.

Paths are relative to ``root``; labels and bias values may be strings; split is train, val or test. Without val
rows, ``val_fraction`` of each class's training rows is held out (seeded). A row is bias-aligned when its bias
value is its class's most frequent one in train.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from pathlib import Path

import pandas as pd
from PIL import Image

from ddb.datasets.common import DatasetError, Source, holdout_validation, majority_bias, with_groups, write_images

log = logging.getLogger("ddb.datasets.folder")


BYO_REQUIRED = ("path", "label", "split")
SPLITS = ("train", "val", "test")


def read_folder_csv(csv_path: Path) -> pd.DataFrame:
    """The CSV as strings, cells stripped of surrounding whitespace, indexed by CSV line number. A UTF-8 byte-order
    mark (Excel's "CSV UTF-8") and Windows line ends are accepted."""
    if not csv_path.exists():
        raise DatasetError(f"{csv_path} not found: set datasets.<name>.folder.csv to the CSV of your dataset")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        header = [name.strip() for name in next(csv.reader(f), [])]
    unknown = sorted(set(header) - {*BYO_REQUIRED, "bias"})
    missing = [c for c in BYO_REQUIRED if c not in header]
    if unknown or missing:
        raise DatasetError(f"{csv_path}: columns must be path,label,split and optionally bias; "
                           + (f"unknown {unknown}" if unknown else "") + ("; " if unknown and missing else "")
                           + (f"missing {missing}" if missing else ""))
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True)
    table.columns = header
    table = table.apply(lambda column: column.str.strip())  # "cat " and "cat" are one class
    table.index = table.index + 2  # CSV line numbers (line 1 is the header), for error messages
    return table


def _lines(index, limit: int = 5) -> str:
    return ", ".join(str(line) for line in list(index)[:limit]) + (" ..." if len(index) > limit else "")


def checked_table(settings: dict) -> tuple[pd.DataFrame, list[Path]]:
    """The CSV and the image file of every row, after every check that needs no decoding; each failure names the
    CSV line(s) or file and the fix. Run when the workflow is planned, so that nothing starts on a bad CSV."""
    csv_path, root = Path(settings["csv"]), Path(settings["root"])
    table = read_folder_csv(csv_path)
    if table.empty:
        raise DatasetError(f"{csv_path} has no rows")
    bad_split = table[~table["split"].isin(SPLITS)]
    if len(bad_split):
        line = bad_split.index[0]
        raise DatasetError(f"{csv_path} line {line}: split {bad_split.loc[line, 'split']!r} is not train, val or test")
    for needed in ("train", "test"):
        if not (table["split"] == needed).any():
            raise DatasetError(f"{csv_path} has no {needed} rows; every dataset needs train and test images")
    empty = table[(table["path"] == "") | (table["label"] == "")]
    if len(empty):
        raise DatasetError(f"{csv_path} line {empty.index[0]}: empty path or label")
    # lexically, so that a dataset folder holding symbolic links to the images elsewhere stays usable
    base = Path(os.path.normpath(root.absolute()))
    originals = [Path(os.path.normpath(base / p)) for p in table["path"]]
    outside = [line for line, p in zip(table.index, originals) if not p.is_relative_to(base)]
    if outside:
        raise DatasetError(f"{csv_path} line(s) {_lines(outside)}: the path leaves the dataset folder {root} (an "
                           "absolute path or ..); paths are relative to datasets.<name>.folder.root and stay inside it")
    repeated = pd.Series([str(p.resolve()) for p in originals], index=table.index)  # one file, however it is spelt
    if repeated.duplicated(keep=False).any():
        lines = repeated.index[repeated.duplicated(keep=False)]
        twice = sorted(set(table.loc[lines, "split"]))
        what = f"in two splits ({', '.join(twice)}: a leak between them)" if len(twice) > 1 else "twice"
        raise DatasetError(f"{csv_path} lines {_lines(lines)}: the same image file is listed {what}; list each once")
    absent = [(line, p) for line, p in zip(table.index, originals) if not p.is_file()]
    if absent:
        shown = ", ".join(f"line {line}: {p}" for line, p in absent[:5])
        raise DatasetError(f"{len(absent)} image(s) listed in {csv_path} do not exist under {root} ({shown}); paths "
                           "are relative to datasets.<name>.folder.root")
    classes = sorted(table["label"].unique())
    check_classes(table, classes, csv_path)
    train_counts = table.loc[table["split"] == "train", "label"].value_counts()
    few = {c: int(train_counts.get(c, 0)) for c in classes if train_counts.get(c, 0) < 2}
    if few:
        holdout = " (one is held out for validation, as the CSV has no val rows)" if not (
            table["split"] == "val").any() else ""
        raise DatasetError(f"{csv_path}: a class needs at least 2 training images{holdout}; these have fewer: {few}")
    if "bias" in table.columns and (table["bias"] != "").any() and (table["bias"] == "").any():
        line = table.index[table["bias"] == ""][0]
        raise DatasetError(f"{csv_path} line {line}: empty bias; give every row a bias value or drop the column")
    if "bias" in table.columns and (table["bias"] != "").all():
        check_spelling(sorted(table["bias"].unique()), "bias values", csv_path)
        majority = majority_bias(table)  # what a shortcut would learn: each class's most frequent bias in train
        test = table[table["split"] == "test"]
        if (test["bias"] == test["label"].map(majority)).all():
            raise DatasetError(f"{csv_path}: every test image has its class's most frequent training bias value "
                               f"({majority.to_dict()}), so none is bias-conflicting and the bias metrics are "
                               "undefined; add test images of other bias values, or drop the bias column to run "
                               "without them")
    return table, originals


def check_spelling(values: list[str], what: str, csv_path: Path) -> None:
    """No two of ``values`` are one number written in different ways (``1`` and ``1.0``)."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce")
    same = numbers[numbers.notna() & numbers.duplicated(keep=False)]
    if len(same):
        spelt = [values[i] for i in same.index]
        raise DatasetError(f"{csv_path}: the {what} {spelt} are one number written in different ways, and would be "
                           "told apart; write each the same way in every row")


def check_classes(table: pd.DataFrame, classes: list[str], csv_path: Path) -> None:
    """At least two classes, each written one way, each in every split whose accuracy is measured."""
    if len(classes) < 2:
        raise DatasetError(f"{csv_path}: every row has the label {classes[0]!r}; a classifier needs at least 2 "
                           "classes")
    check_spelling(classes, "labels", csv_path)
    for split in ("val", "test"):  # a CSV without val rows gets them held out, stratified by class
        present = set(table.loc[table["split"] == split, "label"])
        missing = [c for c in classes if c not in present]
        if present and missing:
            raise DatasetError(f"{csv_path}: no {split} rows for the class(es) {missing}; every class needs "
                               f"{split} images, where its accuracy is measured")


def check_folder(settings: dict) -> None:
    checked_table(settings)


def byo_num_classes(settings: dict) -> int:
    return read_folder_csv(Path(settings["csv"]))["label"].nunique()


def check_image_files(table: pd.DataFrame, originals: list[Path], csv_path: Path) -> None:
    """The checks that read each image (when it is prepared, so that planning a large dataset stays fast): an image
    too large to decode safely, and the same bytes listed under two names in two splits (a leak that the check of
    the paths cannot see)."""
    seen: dict[str, tuple[int, str]] = {}
    for line, split, path in zip(table.index, table["split"], originals):
        data = path.read_bytes()
        try:
            Image.open(io.BytesIO(data)).close()  # the header only; refuses sizes past Pillow's decompression-bomb limit
        except Image.DecompressionBombError as error:
            raise DatasetError(f"{path} ({csv_path} line {line}): {error} Downscale it: every image is resized to "
                               "image_size anyway") from None
        except OSError:  # not an image at all: the resize names the file
            pass
        first_line, first_split = seen.setdefault(hashlib.sha256(data).hexdigest(), (line, split))
        if first_split != split:
            raise DatasetError(f"{csv_path} lines {first_line} and {line}: the same image (byte for byte) is listed in "
                               f"{first_split} and in {split} under two names, a leak between them; list it once")


def build_folder(raw: Path | None, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    table, originals = checked_table(settings)
    csv_path = Path(settings["csv"])
    check_image_files(table, originals, csv_path)
    classes = sorted(table["label"].unique())
    has_bias = "bias" in table.columns and (table["bias"] != "").all()
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


def byo_has_bias_labels(settings: dict) -> bool:
    """Whether the CSV has a ``bias`` column (checked, with the rest of the CSV, by ``check_folder``)."""
    return "bias" in read_folder_csv(Path(settings["csv"])).columns


def local_files(dataset: str, settings: dict) -> dict[str, str | list[str]]:
    """The CSV and every image it lists: inputs of the preparation, so that an edited image reruns it (Snakemake
    compares their modification times with the prepared table's)."""
    return {"csv": settings["csv"], "images": [str(path) for path in checked_table(settings)[1]]}


SOURCE = Source(build_folder, byo_num_classes, check=check_folder, has_bias_labels=byo_has_bias_labels,
                inputs=local_files)
