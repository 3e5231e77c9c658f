"""UrbanCars (Li et al., CVPR 2023, "A Whac-A-Mole Dilemma"): label = car type, two biases in one value (background
and co-occurring object: ``bias = 2 * background + object``, 0 = country, 1 = urban).

Read from the Whac-A-Mole folder layout: the one rule generate_urbancars composites from Stanford Cars, Places365
and LVIS/COCO (ddb/datasets/urbancars_generation.py; the default ``origin: generate``), or a zipped folder the
authors' script made (``origin: drop_in``). Train is 95 % background- and 95 % object-aligned, val and test are
balanced. Headline columns: ``train_weighted_acc`` (ID.ACC) and the BG / CoObj / BG+CoObj gaps.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ddb.datasets.common import DatasetError, Source, with_groups, write_images
from ddb.datasets.fetch import RemoteFile
from ddb.models.pretrained import MASK_RCNN

URBANCARS_ARCHIVE = "urbancars.zip"  # origin: drop_in (a folder Whac-A-Mole's script made)
URBANCARS_VALUES = ("country", "urban")
# origin: generate (ddb/datasets/urbancars_generation.py) composites it from three downloads, as its authors do
CARS_TRAIN, CARS_TEST, CARS_DEVKIT = "cars_train.tgz", "cars_test.tgz", "car_devkit.tgz"
CARS_TEST_LABELS = "cars_test_annos_withlabels.mat"
PLACES365_ARCHIVE = "places365standard_easyformat.tar"
LVIS_ARCHIVES = ("lvis_v1_train.json.zip", "lvis_v1_val.json.zip")
COCO_ARCHIVES = ("train2017.zip", "val2017.zip")
STANFORD_CARS_MANUAL = ("a mirror of the original Stanford Cars files (ai.stanford.edu/~jkrause is gone; "
                        "pytorch/vision issue #7545 lists Kaggle mirrors)")
COMPONENTS: dict[str, tuple[RemoteFile, ...]] = {
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


def generated_inputs(dataset: str, settings: dict) -> dict[str, str]:
    """With ``origin: generate`` the preparation reads the folder rule generate_urbancars composites."""
    return {"raw": f"results/{dataset}/data/urbancars"} if settings["origin"] == "generate" else {}


def generation_weights(settings: dict) -> tuple[str, ...]:
    """The staged Mask R-CNN that cuts the cars out, with ``origin: generate`` and ``car_mask: maskrcnn``."""
    return (MASK_RCNN,) if settings["origin"] == "generate" and settings["car_mask"] == "maskrcnn" else ()


def whac_a_mole_gaps(pred, label, bias, metrics: dict) -> dict:
    """The BG / CoObj / BG+CoObj gaps against ID.ACC, the training-composition-weighted accuracy."""
    from ddb.algorithms.benchmark_conventions import urbancars_gaps

    return urbancars_gaps(pred, label, bias, metrics["train_weighted_acc"])


SOURCE = Source(
    build_urbancars, lambda settings: 2,
    inputs=generated_inputs, staged_weights=generation_weights, benchmark_metrics=whac_a_mole_gaps,
    files=(RemoteFile(URBANCARS_ARCHIVE, None, (), manual=(
        "only with urbancars.origin: drop_in; the default, origin: generate, composites it from its sources. "
        "Zip the urbancars/ folder that facebookresearch/Whac-A-Mole "
        "scripts/prepare_dataset_models/create_urbancars.sh made")),),
    components=COMPONENTS)
