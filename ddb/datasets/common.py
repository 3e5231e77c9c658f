"""Dataset sources: where each dataset's files come from and how its layout becomes the normalised metadata table.

A source has the files the download stage fetches (``files``; empty for generated or local data), a builder
``build(raw, image_dir, prefix, settings) -> metadata rows`` that writes square RGB PNGs into ``image_dir`` (paths
in the table start with ``prefix/``), ``num_classes(settings)`` (known before any job runs, so that a dry run
shows the whole DAG), and the evaluation convention its result rows follow (``metrics``; ddb/metrics.py).
Bias labels in the table are for evaluation only; no training stage reads them (except methods marked as doing so).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ddb import shapes
from ddb.download import RemoteFile
from ddb.logs import Progress

log = logging.getLogger("ddb.sources")
COLUMNS = ["sample_id", "path", "label", "label_name", "split", "bias", "bias_aligned", "group"]


class DatasetError(ValueError):
    """The dataset's files do not have the expected layout or content; the message names the file and the fix."""


@dataclass(frozen=True)
class Source:
    build: Callable[[Path | None, Path, str, dict], pd.DataFrame]
    num_classes: Callable[[dict], int]
    metrics: str
    files: tuple[RemoteFile, ...] = ()
    description: str = ""


def square_image(path, size: int) -> Image.Image:
    """RGB image, shorter side resized to ``size``, centre-cropped to ``size`` x ``size``."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from None
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


def write_images(rows: pd.DataFrame, originals: list[Path], image_dir: Path, prefix: str, size: int) -> pd.DataFrame:
    """Save each original as ``<split>/<sample_id>.png`` at ``size`` px; set the table's ``path`` column."""
    paths = []
    progress = Progress(len(rows), max(1, len(rows) // 10), "images resized")  # CelebA: 200k images
    for original, sample_id, split in zip(originals, rows["sample_id"], rows["split"]):
        relative = f"{split}/{sample_id}.png"
        (image_dir / split).mkdir(parents=True, exist_ok=True)
        square_image(original, size).save(image_dir / relative)
        paths.append(f"{prefix}/{relative}")
        progress(len(paths))
    return rows.assign(path=paths)


def with_groups(rows: pd.DataFrame, num_bias: int | None) -> pd.DataFrame:
    """Fill ``group = label * num_bias + bias`` (null where bias is unknown) and order the columns."""
    rows = rows.copy()
    if num_bias is None or rows["bias"].isna().all():
        rows["bias"], rows["bias_aligned"], rows["group"] = pd.NA, pd.NA, pd.NA
    else:
        rows["group"] = rows["label"] * num_bias + rows["bias"]
    return rows[COLUMNS]


# ---- built-in benchmark ----
def build_builtin_shapes(raw: Path | None, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    k = settings["num_classes"]
    rows = []
    for split in ("train", "val", "test"):
        images, labels, colours = shapes.generate(
            split, settings[f"n_{split}"], k, settings["image_size"], settings["conflicting_ratio"], settings["seed"]
        )
        (image_dir / split).mkdir(parents=True)
        for i, (image, y, b) in enumerate(zip(images, labels, colours)):
            name = f"{split}/{split}_{i:06d}_{shapes.SHAPES[y]}_{shapes.COLOUR_NAMES[b]}.png"
            Image.fromarray(image).save(image_dir / name)
            rows.append((f"{split}_{i:06d}", f"{prefix}/{name}", int(y), shapes.SHAPES[y], split, int(b), bool(y == b),
                         int(y * k + b)))
        n_conf = int((labels != colours).sum())
        log.info("%s: %d images, %d bias-conflicting (%.2f%%)", split, len(labels), n_conf, 100 * n_conf / len(labels))
    return pd.DataFrame(rows, columns=COLUMNS)


# ---- Waterbirds (Sagawa et al. 2020): label = waterbird, bias = water background ----
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


# ---- BAR (Nam et al. 2020): six actions, train bias-aligned and test bias-conflicting by construction ----
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


def holdout_validation(rows: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """``split`` with ``fraction`` of each class's training rows (at least one, at most all but one) moved to val."""
    split = rows["split"].copy()
    rng = np.random.default_rng(seed)
    for _, index in rows[rows["split"] == "train"].groupby("label").groups.items():
        index = np.array(sorted(index))
        n_val = min(len(index) - 1, max(1, round(fraction * len(index))))
        split.loc[rng.permutation(index)[:n_val]] = "val"
    return split


# ---- BFFHQ (Kim et al. 2021, as packaged by DFA): label = age, bias = gender, both in the file names ----
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


# ---- CelebA (Liu et al. 2015), Kaggle CSV edition: label = Blond_Hair, bias = Male ----
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


def majority_bias(rows: pd.DataFrame) -> pd.Series:
    """Per label, the most frequent bias value among the training rows."""
    train = rows[rows["split"] == "train"]
    return train.groupby("label")["bias"].agg(lambda b: b.value_counts().idxmax())


# ---- Colored MNIST (LfF protocol): label = digit, bias = foreground colour ----
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
    import gzip

    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DatasetError(f"{path} is truncated or not an idx file (expected {shape})")
    return data.reshape(shape)


def bias_attributes(labels: np.ndarray, num_values: int, conflicting_ratio: float, rng) -> np.ndarray:
    """Bias value = label for all but round(ratio * N) samples, whose value is drawn from the other values."""
    bias = labels.copy()
    conflicting = rng.permutation(len(labels))[: round(conflicting_ratio * len(labels))]
    shift = rng.integers(1, num_values, size=len(conflicting))
    bias[conflicting] = (labels[conflicting] + shift) % num_values
    return bias


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
    records = []
    for split, (digits, y, ratio) in parts.items():
        bias = bias_attributes(y, 10, ratio, rng)
        coloured = colour_digits(digits, bias, settings["severity"], rng)
        (image_dir / split).mkdir(parents=True, exist_ok=True)
        for i, (image, label, b) in enumerate(zip(coloured, y, bias)):
            sample_id = f"cmnist_{split}_{i:05d}"
            Image.fromarray(image).save(image_dir / split / f"{sample_id}.png")
            records.append({"sample_id": sample_id, "path": f"{prefix}/{split}/{sample_id}.png", "label": int(label),
                            "label_name": str(label), "split": split, "bias": int(b), "bias_aligned": bool(label == b)})
    return with_groups(pd.DataFrame(records), 10)


# ---- Corrupted CIFAR-10 (LfF protocol): label = object class, bias = corruption type ----
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
    from ddb.corruptions import CORRUPTIONS

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


# ---- ImageNet-9 (ReBias) for training, ImageNet-A for testing ----
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
    import io
    import tarfile

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


# ---- UrbanCars (Li et al. 2023): label = car type, two biases (background, co-occurring object) ----
URBANCARS_ARCHIVE = "urbancars.zip"  # origin: drop_in (a folder Whac-A-Mole's script made)
URBANCARS_VALUES = ("country", "urban")
# origin: generate (ddb/generate_urbancars.py) composites it from three downloads, as its authors do
CARS_TRAIN, CARS_TEST, CARS_DEVKIT = "cars_train.tgz", "cars_test.tgz", "car_devkit.tgz"
CARS_TEST_LABELS = "cars_test_annos_withlabels.mat"
PLACES365_ARCHIVE = "places365standard_easyformat.tar"
LVIS_ARCHIVES = ("lvis_v1_train.json.zip", "lvis_v1_val.json.zip")
COCO_ARCHIVES = ("train2017.zip", "val2017.zip")
STANFORD_CARS_MANUAL = ("a mirror of the original Stanford Cars files (ai.stanford.edu/~jkrause is gone; "
                        "pytorch/vision issue #7545 lists Kaggle mirrors)")
URBANCARS_COMPONENTS: dict[str, tuple[RemoteFile, ...]] = {
    "stanford_cars": (
        *(RemoteFile(name, None, (), manual=STANFORD_CARS_MANUAL) for name in (CARS_TRAIN, CARS_TEST, CARS_DEVKIT)),
        RemoteFile(CARS_TEST_LABELS, None, (), manual=STANFORD_CARS_MANUAL, extract=False)),
    # 24 GB: read in place, never extracted
    "places365": (RemoteFile(PLACES365_ARCHIVE, None, (
        "http://data.csail.mit.edu/places/places365/places365standard_easyformat.tar",), extract=False,
        manual="http://places2.csail.mit.edu/download.html (Places365-Standard, easyformat)"),),
    "lvis_coco": (
        *(RemoteFile(name, None, (f"https://dl.fbaipublicfiles.com/LVIS/{name}",), manual="https://www.lvisdataset.org")
          for name in LVIS_ARCHIVES),
        # 19 GB of COCO images: read in place from the zips
        *(RemoteFile(name, None, (f"http://images.cocodataset.org/zips/{name}",), extract=False,
                     manual="https://cocodataset.org/#download") for name in COCO_ARCHIVES)),
}


URBANCARS_RATIOS = {"train": 0.95, "val": 0.5, "test": 0.5}  # the published bias ratio of both cues per split


def urbancars_split_folder(split: str) -> str:
    """A split's folder in the Whac-A-Mole layout, named after its bias ratios (bg-0.95_co_occur_obj-0.95/train)."""
    ratio = URBANCARS_RATIOS[split]
    return f"bg-{ratio}_co_occur_obj-{ratio}/{split}"


def urbancars_bias(bg: int, co_occur_obj: int) -> int:
    """Both cues in one bias value: 2 * background + co-occurring object (0 = country, 1 = urban)."""
    return 2 * bg + co_occur_obj


def build_urbancars(raw: Path, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    """From the Whac-A-Mole layout: ``raw`` is the generate_urbancars output, or the extracted drop-in zip."""
    base = raw / URBANCARS_ARCHIVE if settings["origin"] == "drop_in" else raw
    folders = {split: sorted(base.glob(f"**/{urbancars_split_folder(split)}")) for split in URBANCARS_RATIOS}
    missing = [split for split, found in folders.items() if not found]
    if missing:
        raise DatasetError(f"{base} lacks the {missing} folders of the Whac-A-Mole layout "
                           f"({', '.join(urbancars_split_folder(split) for split in URBANCARS_RATIOS)})")
    originals, records = [], []
    for split, found in folders.items():
        for group in sorted(p for p in found[0].iterdir() if p.is_dir()):
            parts = dict(part.rsplit("-", 1) for part in group.name.split("_", 2) if "-" in part)
            try:
                obj, bg, co = (URBANCARS_VALUES.index(parts[key]) for key in ("obj", "bg", "co_occur_obj"))
            except (KeyError, ValueError):
                raise DatasetError(f"{group}: not an UrbanCars group folder "
                                   "(obj-<urban|country>_bg-<urban|country>_co_occur_obj-<urban|country>)") from None
            for path in sorted(p for p in group.glob("*.jpg")):  # the *_mask.png files are not images of the set
                originals.append(path)
                records.append({"sample_id": f"uc_{split}_{group.name}_{path.stem}", "label": obj,
                                "label_name": f"{URBANCARS_VALUES[obj]}_car", "split": split,
                                "bias": urbancars_bias(bg, co), "bias_aligned": bg == obj and co == obj})
    return with_groups(write_images(pd.DataFrame(records), originals, image_dir, prefix, settings["image_size"]), 4)


# ---- bring your own: a folder of images plus a CSV with path,label,split[,bias] ----
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


SOURCES: dict[str, Source] = {
    "builtin_shapes": Source(build_builtin_shapes, lambda s: s["num_classes"], "grid",
                             description="the built-in offline benchmark (ddb/shapes.py)"),
    "waterbirds": Source(
        build_waterbirds, lambda s: 2, "waterbirds",
        files=(RemoteFile(WATERBIRDS_ARCHIVE, None, (
            "https://nlp.stanford.edu/data/dro/waterbird_complete95_forest2water2.tar.gz",
            "https://downloads.cs.stanford.edu/nlp/data/dro/waterbird_complete95_forest2water2.tar.gz"),
            manual="https://github.com/kohpangwei/group_DRO (the Waterbirds tarball)"),),
        description="Waterbirds (group_DRO tarball): landbird/waterbird on land/water backgrounds"),
    "bar": Source(
        build_bar, lambda s: len(BAR_CLASSES), "bar",
        files=(RemoteFile(BAR_ARCHIVE, None, ("https://github.com/alinlab/BAR/archive/refs/heads/master.zip",),
                          manual="https://github.com/alinlab/BAR (Code -> Download ZIP)"),),
        description="Biased Action Recognition: six actions; test images are bias-conflicting, no bias labels"),
    "bffhq": Source(
        build_bffhq, lambda s: 2, "bffhq",
        files=(RemoteFile(BFFHQ_ARCHIVE, None, (), manual="the DFA Google Drive folder 1JEOqxrhU_IhkdcRohdbuEtFETUxfNmNT "
                          "(github.com/kakaoenterprise/Learning-Debiased-Disentangled), zip of the bffhq/ folder"),),
        description="Biased FFHQ: young/old faces, gender as the bias, 0.5 % bias-conflicting training images"),
    "celeba": Source(
        build_celeba, lambda s: 2, "celeba",
        files=(RemoteFile(CELEBA_ARCHIVE, None, (), manual="kaggle datasets download -d jessicali9530/celeba-dataset "
                          "(the CelebA agreement applies: non-commercial research only)"),),
        description="CelebA, Blond_Hair with Male as the bias (GroupDRO protocol)"),
    "cmnist": Source(
        build_cmnist, lambda s: 10, "grid",
        files=tuple(RemoteFile(name, f"md5:{md5}", tuple(f"{url}/{name}" for url in MNIST_URLS), extract=False)
                    for name, md5 in MNIST_FILES.items()),
        description="Colored MNIST built from MNIST with the LfF protocol (digit colour as the bias)"),
    "corrupted_cifar10": Source(
        build_corrupted_cifar10, lambda s: 10, "grid",
        files=(RemoteFile(CIFAR10_ARCHIVE, "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                          ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                           "https://cave.cs.toronto.edu/kriz/cifar-10-binary.tar.gz")),),
        description="Corrupted CIFAR-10 (LfF protocol, Type1 corruptions as the bias; ddb/corruptions.py)"),
    "imagenet9": Source(
        build_imagenet9, lambda s: len(IMAGENET9_RANGES), "imagenet_a",
        files=(RemoteFile(IMAGENET_TRAIN, "md5:1d675b47d978889d74fa0da5fadfb00e", (), extract=False,
                          manual="https://image-net.org (login; ILSVRC-2012 training images, 138 GB)"),
               RemoteFile(IMAGENET_A, "md5:c3e55429088dc681f30d81f4726b6595",
                          ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",),
                          manual="https://github.com/hendrycks/natural-adv-examples")),
        description="ImageNet-9 (ReBias super-classes) for training, tested on the matching ImageNet-A images"),
    "urbancars": Source(
        build_urbancars, lambda s: 2, "urbancars",
        files=(RemoteFile(URBANCARS_ARCHIVE, None, (), manual=(
            "only with urbancars.origin: drop_in; the default, origin: generate, composites it from its sources. "
            "Zip the urbancars/ folder that facebookresearch/Whac-A-Mole "
            "scripts/prepare_dataset_models/create_urbancars.sh made")),),
        description="UrbanCars: urban/country cars with background and co-occurring-object biases, generated from "
                    "Stanford Cars, Places365 and LVIS/COCO (rule generate_urbancars)"),
    "folder": Source(build_folder, byo_num_classes, "generic",
                     description="your own images: a folder plus a CSV with path,label,split[,bias]"),
}


def download_files(name: str) -> tuple[RemoteFile, ...]:
    """The files the download stage fetches for ``name``: a dataset source or a component UrbanCars is made of."""
    return URBANCARS_COMPONENTS[name] if name in URBANCARS_COMPONENTS else SOURCES[name].files


DOWNLOADABLE = sorted([*(s for s, v in SOURCES.items() if v.files), *URBANCARS_COMPONENTS])
