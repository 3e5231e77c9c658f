"""What several test modules share: running the workflow on a copy of the checkout, archive and image builders,
and fixture datasets in the real layouts of their sources (served from 127.0.0.1 by ``fileserver.py``)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from scipy.io import savemat

from ddb.datasets.urbancars_generation import car_type, kind_keys


# ---- the workflow on a copy of the checkout ----
REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "tiny_config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(workdir / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=1200, cwd=workdir)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (empty when nothing is to be done)."""
    out = snakemake(workdir, "-n", *args).stdout
    if "Job stats:" not in out:
        return {}
    table = out.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M) if m[1] != "all"}


def copy_workflow(work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "ddb", "envs", "report", "slurm", "config.yaml"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, work / name)
    shutil.copy(TINY, work / "tiny.yaml")
    return work


def copy_of_run(work: Path, destination: Path) -> Path:
    """A copy of a workflow copy with its results, modification times kept, so Snakemake sees what was finished
    there as finished in the copy too."""
    shutil.copytree(work, destination, symlinks=True)
    return destination


def tiny_with(work: Path, name: str, **changes) -> str:
    """Write the tiny config with ``changes`` (section -> dict of keys) merged in; return its file name."""
    config = yaml.safe_load(TINY.read_text())
    for section, values in changes.items():
        config[section] = {**config.get(section, {}), **values}
    (work / name).write_text(yaml.safe_dump(config))
    return name


def prepared_shapes(root: Path, **settings) -> Path:
    """prepare_data and the native image store of a small builtin_shapes set under ``root``; returns the metadata
    table's path (the store is ``root/store/native``)."""
    from ddb import build_image_store, prepare_data

    prepare_data.main(["--source", "builtin_shapes", "--settings", json.dumps(settings), "--images",
                       str(root / "images"), "--metadata", str(root / "metadata.parquet")])
    build_image_store.main(["--metadata", str(root / "metadata.parquet"), "--resolution", "native", "--out",
                            str(root / "store/native")])
    return root / "metadata.parquet"


def store_of(metadata: Path) -> str:
    return str(metadata.parent / "store/native")


# ---- archives and images ----
def jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], links: dict[str, str] | None = None, mode: str = "w:gz") -> bytes:
    """A tar archive (gzip-compressed by default) of ``members``, plus symbolic ``links`` name -> target."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# ---- fixture datasets ----
def waterbirds_archive() -> bytes:
    """The group_DRO tarball layout: waterbird_complete95_forest2water2/{metadata.csv, NNN.Species/*.jpg}."""
    rows, members = [], {}
    # (y, place, split) for 12 images: every group in every split
    spec = [(y, place, split) for split in (0, 1, 2) for y in (0, 1) for place in (0, 1)]
    for i, (y, place, split) in enumerate(spec, start=1):
        name = f"{'001.Black_footed_Albatross' if y else '010.Red_winged_Blackbird'}/img_{i:04d}.jpg"
        members[f"waterbird_complete95_forest2water2/{name}"] = jpeg(Image.new("RGB", (40, 30), (200 * place, 100, 200 * y)))
        rows.append(f"{i},{name},{y},{split},{place},places/x.jpg")
    members["waterbird_complete95_forest2water2/metadata.csv"] = (
        "img_id,img_filename,y,split,place,place_filename\n" + "\n".join(rows) + "\n").encode()
    return tar_bytes(members)


def solid_jpeg(colour, size=(40, 30)) -> bytes:
    return jpeg(Image.new("RGB", size, colour))


def bar_archive() -> bytes:
    """The GitHub zip layout: BAR-master/{train,test}/<action>_<n>.jpg."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for split, n in (("train", 10), ("test", 2)):
            for action in ("climbing", "diving", "fishing", "pole vaulting", "racing", "throwing"):
                for i in range(n):
                    zf.writestr(f"BAR-master/{split}/{action}_{i}.jpg", solid_jpeg((i * 20, 50, 90)))
        zf.writestr("BAR-master/README.md", "BAR")
    return buffer.getvalue()


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def idx_gz(array: np.ndarray) -> bytes:
    import gzip

    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def byo(tmp_path, rows, header="path,label,split,bias", images=True):
    root = tmp_path / "mine"
    (root / "img").mkdir(parents=True, exist_ok=True)
    if images:
        for i, row in enumerate(rows):  # each image its own colour: a byte-identical pair is a leak
            path = root / row.split(",")[0]
            if not path.exists():
                Image.new("RGB", (20, 24), (i * 7 % 255, 80, 160)).save(path)
    (root / "labels.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return {"root": str(root), "csv": str(root / "labels.csv"), "image_size": 8, "val_fraction": 0.25, "seed": 0}


def rows_for(n_train=8, with_val=False):
    rows = []
    for i in range(n_train):
        label = "cat" if i % 2 else "dog"
        bias = ("indoor" if label == "cat" else "outdoor") if i > 1 else ("outdoor" if label == "cat" else "indoor")
        rows.append(f"img/tr{i}.png,{label},train,{bias}")
    rows += [f"img/te{i}.png,{'cat' if i % 2 else 'dog'},test,{'indoor' if i < 2 else 'outdoor'}" for i in range(4)]
    if with_val:
        rows += [f"img/va{i}.png,{'cat' if i % 2 else 'dog'},val,indoor" for i in range(2)]
    return rows


# ---- UrbanCars' sources: Stanford Cars (by hand), Places365 and LVIS/COCO ----
RED, BLUE, GREY, GREEN, YELLOW, BROWN = (220, 20, 20), (20, 20, 220), (128, 128, 128), (30, 160, 30), (230, 220, 0), \
    (120, 70, 20)
CLASSES = ["Acura RL Sedan 2012", "AM General Hummer SUV 2000", "Chevrolet Express Cargo Van 2007",
           "Ford F-150 Regular Cab 2012", "Audi TT Hatchback 2011"]  # urban, country, neither, country, urban
CAR_BOX = (10, 12, 50, 36)  # x1, y1, x2, y2 of the car in every 64 x 48 photo


def car_photo(urban: bool) -> bytes:
    image = Image.new("RGB", (64, 48), (250, 250, 250))  # the photo's own surroundings
    image.paste(RED if urban else BLUE, CAR_BOX)
    return jpeg(image)


def mat_bytes(variables: dict) -> bytes:
    buffer = io.BytesIO()
    savemat(buffer, variables)
    return buffer.getvalue()


def annotations(files: list[tuple[str, int]]) -> np.ndarray:
    """A Stanford Cars annotation struct array (1 x n, fields as in cars_train_annos.mat)."""
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    records = np.zeros((1, len(files)), dtype=[(f, "O") for f in fields])
    for i, (name, label) in enumerate(files):
        records[0, i] = (*(np.array([[v]], dtype=np.uint8) for v in CAR_BOX), np.array([[label]], dtype=np.uint8),
                         np.array([name]))
    return records


def stanford_cars_files() -> dict[str, bytes]:
    """cars_train.tgz, cars_test.tgz, car_devkit.tgz and cars_test_annos_withlabels.mat, 1-based class ids."""
    labels = [1, 2, 3, 4, 5] * 4  # 8 urban, 8 country and 4 vans (neither) per split
    keys = kind_keys({"urban_car_types": ["Sedan", "Hatchback"], "country_car_types": ["SUV", "Cab"]}, "car_types")
    out = {}
    for split in ("train", "test"):
        names = [(f"{i + 1:05d}.jpg", label) for i, label in enumerate(labels)]
        out[f"cars_{split}.tgz"] = tar_bytes({f"cars_{split}/{name}": car_photo(car_type(CLASSES[label - 1], keys) == 1)
                                              for name, label in names})
        if split == "train":
            out["car_devkit.tgz"] = tar_bytes({
                "devkit/cars_meta.mat": mat_bytes({"class_names": np.array([CLASSES], dtype=object)}),
                "devkit/cars_train_annos.mat": mat_bytes({"annotations": annotations(names)}),
                "devkit/cars_test_annos.mat": mat_bytes({"annotations": annotations(names)})})
        else:
            out["cars_test_annos_withlabels.mat"] = mat_bytes({"annotations": annotations(names)})
    return out


def places_archive() -> bytes:
    """places365standard_easyformat.tar: places365_standard/{train,val}/<category>/*.jpg (nested as field-wild)."""
    members = {}
    for split, n in (("train", 6), ("val", 2)):
        for category, colour in (("street", GREY), ("alley", GREY), ("field-wild", GREEN), ("pasture/nested", GREEN),
                                 ("bedroom", (255, 0, 255))):
            for i in range(n):
                members[f"places365_standard/{split}/{category}/{i:08d}.jpg"] = jpeg(Image.new("RGB", (40, 30), colour))
    members["places365_standard/train.txt"] = b"street/00000000.jpg 0\n"
    return tar_bytes(members, mode="w")


def lvis_files() -> dict[str, bytes]:
    """lvis_v1_{train,val}.json.zip and COCO {train,val}2017.zip: hydrants (urban) and cows (country) as squares."""
    categories = [{"id": 1, "name": "fireplug", "synonyms": ["fire_hydrant", "fireplug", "hydrant"]},
                  {"id": 2, "name": "cow", "synonyms": ["cow"]}, {"id": 3, "name": "banana", "synonyms": ["banana"]}]
    out, coco = {}, {"train2017": {}, "val2017": {}}
    for part, folder, first in (("train", "train2017", 1), ("val", "val2017", 100)):
        images, annotations_ = [], []
        for k in range(6):
            image_id = first + k
            name = f"{image_id:012d}.jpg"
            category = (1, 2, 3)[k % 3]
            photo = Image.new("RGB", (100, 100), (0, 0, 0))
            photo.paste({1: YELLOW, 2: BROWN, 3: (255, 255, 255)}[category], (20, 20, 80, 80))
            coco[folder][f"{folder}/{name}"] = jpeg(photo)
            images.append({"id": image_id, "coco_url": f"http://images.cocodataset.org/{folder}/{name}",
                           "height": 100, "width": 100})
            annotations_.append({"id": 10 * image_id, "image_id": image_id, "category_id": category,
                                 "bbox": [20, 20, 60, 60], "area": 3600,
                                 "segmentation": [[20, 20, 80, 20, 80, 80, 20, 80]]})
            annotations_.append({"id": 10 * image_id + 1, "image_id": image_id, "category_id": category,  # too small
                                 "bbox": [0, 0, 10, 10], "area": 100, "segmentation": [[0, 0, 10, 0, 10, 10]]})
        lvis = {"images": images, "annotations": annotations_, "categories": categories}
        out[f"lvis_v1_{part}.json.zip"] = zip_bytes({f"lvis_v1_{part}.json": json.dumps(lvis).encode()})
    for folder, members in coco.items():
        out[f"{folder}.zip"] = zip_bytes(members)
    return out


URBANCARS_SETTINGS = ('{"per_class": {"train": 20, "val": 4, "test": 4}, "canvas": 48, "car_mask": "bbox", '
            '"urban_car_types": ["Sedan", "Hatchback"], "urban_places": ["street", "alley"], '
            '"country_places": ["field/wild", "pasture/nested"], "seed": 3}')


def serve_downloadable_sources(file_server) -> None:
    """Places365 and LVIS/COCO at ``<file_server.url>/mirror/`` (Stanford Cars is placed by hand)."""
    for name, data in {"places365standard_easyformat.tar": places_archive(), **lvis_files()}.items():
        file_server.files[f"/mirror/{name}"] = data
