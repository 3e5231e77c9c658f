"""ImageNet-9 (ReBias super-classes, Bahng et al., ICML 2020) for training, tested on the matching ImageNet-A images.

The ILSVRC-2012 training tar is read in place (never extracted). ImageNet's own val split needs the devkit's labels,
so a seeded, class-stratified hold-out of train is the validation split. No bias labels; ``avg_acc`` is the
ImageNet-A accuracy.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pandas as pd

from ddb.datasets.common import DatasetError, Source, holdout_validation, square_image, with_groups
from ddb.datasets.fetch import RemoteFile

IMAGENET_TRAIN = "ILSVRC2012_img_train.tar"
IMAGENET_A = "imagenet-a.tar"
# ReBias super-classes as inclusive ranges of ImageNet class indices (index = position of the WordNet ID in sorted
# order, i.e. of the per-class tar in ILSVRC2012_img_train.tar).
IMAGENET9_RANGES = {"dog": (151, 254), "cat": (281, 285), "frog": (30, 32), "turtle": (33, 37), "bird": (89, 97),
                    "monkey": (372, 378), "fish": (393, 397), "crab": (118, 121), "insect": (306, 310)}


def imagenet9_wnids(class_tars: list[str]) -> dict[str, int]:
    """WordNet ID -> super-class index, from the sorted per-class tar names of the ImageNet training archive."""
    wnids = sorted(Path(name).stem for name in class_tars)
    if len(wnids) <= max(high for _, high in IMAGENET9_RANGES.values()):
        raise DatasetError(f"{IMAGENET_TRAIN} lists {len(wnids)} class tars; the ILSVRC-2012 training archive has 1,000")
    return {wnids[i]: k for k, (low, high) in enumerate(IMAGENET9_RANGES.values()) for i in range(low, high + 1)}


def build_imagenet9(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    names = list(IMAGENET9_RANGES)
    records, size, limit = [], settings["image_size"], settings["max_per_class"]
    with tarfile.open(raw / IMAGENET_TRAIN) as outer:
        members = {m.name: m for m in outer.getmembers() if m.isfile() and m.name.endswith(".tar")}
        classes = imagenet9_wnids(list(members))
        (image_dir / "train").mkdir(parents=True)
        for wnid, label in sorted(classes.items()):
            with tarfile.open(fileobj=outer.extractfile(members[f"{wnid}.tar"])) as inner:  # read, never extracted
                jpegs = sorted((m for m in inner.getmembers() if m.isfile()), key=lambda m: m.name)
                for member in jpegs[:limit] if limit else jpegs:
                    sample_id = f"in9_{Path(member.name).stem}"
                    square_image(io.BytesIO(inner.extractfile(member).read()), size).save(
                        image_dir / "train" / f"{sample_id}.png")
                    records.append({"sample_id": sample_id, "path": f"{prefix}/train/{sample_id}.png", "label": label,
                                    "label_name": names[label], "split": "train"})
    test_root = raw / IMAGENET_A / "imagenet-a"
    if not test_root.is_dir():
        raise DatasetError(f"{test_root} not found: {IMAGENET_A} does not have the ImageNet-A layout (imagenet-a/<wnid>/)")
    (image_dir / "test").mkdir()
    for folder in sorted(p for p in test_root.iterdir() if p.is_dir() and p.name in classes):
        for path in sorted(folder.glob("*.jpg")):
            sample_id = f"ina_{folder.name}_{path.stem}"
            square_image(path, size).save(image_dir / "test" / f"{sample_id}.png")
            records.append({"sample_id": sample_id, "path": f"{prefix}/test/{sample_id}.png", "label": classes[folder.name],
                            "label_name": names[classes[folder.name]], "split": "test"})
    rows = pd.DataFrame(records).assign(bias=pd.NA, bias_aligned=pd.NA)
    # ImageNet's own val split needs the devkit's labels; a seeded class-stratified hold-out of train replaces it
    rows["split"] = holdout_validation(rows, settings["val_fraction"], settings["seed"])
    return with_groups(rows, None)


SOURCE = Source(
    build_imagenet9, lambda settings: len(IMAGENET9_RANGES),
    files=(RemoteFile(IMAGENET_TRAIN, "md5:1d675b47d978889d74fa0da5fadfb00e", (), extract=False,
                      manual="https://image-net.org (login; ILSVRC-2012 training images, 138 GB)"),
           RemoteFile(IMAGENET_A, "md5:c3e55429088dc681f30d81f4726b6595",
                      ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",),
                      manual="https://github.com/hendrycks/natural-adv-examples")),
    has_bias_labels=lambda settings: False)
