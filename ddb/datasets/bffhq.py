"""Biased FFHQ (Kim et al., ICCV 2021, as packaged by DFA): label = age (young/old), bias = gender, both in the file
names; 0.5 % bias-conflicting training images.

Splits: ``0.5pct`` align + conflict / ``valid`` / ``test``. Headline columns: ``conflicting_acc``, ``avg_acc``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ddb.datasets.common import DatasetError, Source, with_groups, write_images
from ddb.datasets.fetch import RemoteFile

BFFHQ_ARCHIVE = "bffhq.zip"


def target_and_bias(name: str) -> tuple[int, int]:
    """``(target, bias)`` from a file name ending ``_<target>_<bias>.png`` (the DFA / BiasEnsemble convention)."""
    parts = Path(name).stem.rsplit("_", 2)
    if len(parts) < 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        raise DatasetError(f"file {name!r} does not end in _<target>_<bias> (e.g. 12345_0_1.png)")
    return int(parts[1]), int(parts[2])


def build_bffhq(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    roots = sorted((raw / BFFHQ_ARCHIVE).glob("**/0.5pct"))
    if not roots:
        raise DatasetError(f"no bffhq/0.5pct folder in {raw / BFFHQ_ARCHIVE}: {BFFHQ_ARCHIVE} does not have the DFA "
                           "layout (bffhq/0.5pct/{align,conflict}/{0,1}/*.png, bffhq/valid, bffhq/test)")
    root = roots[0].parent
    sets = {"train": sorted((root / "0.5pct").glob("*/*/*.png")), "val": sorted((root / "valid").glob("*.png")),
            "test": sorted((root / "test").glob("*.png"))}
    originals, records = [], []
    for split, paths in sets.items():
        if not paths:
            raise DatasetError(f"{root}: no {split} images ({'0.5pct' if split == 'train' else split} folder)")
        for path in paths:
            target, bias = target_and_bias(path.name)
            originals.append(path)
            records.append({"sample_id": f"bffhq_{split}_{path.parent.parent.name}_{path.stem}"
                            if split == "train" else f"bffhq_{split}_{path.stem}",
                            "label": target, "label_name": ("young", "old")[target], "split": split,
                            "bias": bias, "bias_aligned": target == bias})
    return with_groups(write_images(pd.DataFrame(records), originals, image_dir, prefix, settings["image_size"]), 2)


SOURCE = Source(
    build_bffhq, lambda settings: 2,
    files=(RemoteFile(BFFHQ_ARCHIVE, None, (), manual="the DFA Google Drive folder 1JEOqxrhU_IhkdcRohdbuEtFETUxfNmNT "
                      "(github.com/kakaoenterprise/Learning-Debiased-Disentangled), zip of the bffhq/ folder"),))
