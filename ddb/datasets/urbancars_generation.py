"""Compositing UrbanCars (Li et al. 2023, "A Whac-A-Mole Dilemma") from its sources (stage generate_urbancars).

As its authors build it, each image is a Stanford Cars car (label: urban or country body type) cut out and pasted
over a Places365 scene (background cue) with an LVIS/COCO object cut out by its polygon (co-occurring-object cue).
Per class and split, the group sizes follow the bias ratios: train is 95 % background- and 95 % object-aligned
(3,610 / 190 / 190 / 10 of 4,000 per class), val and test are balanced. The output has the authors' folder layout
(``bg-0.95_co_occur_obj-0.95/train/obj-urban_bg-country_co_occur_obj-urban/0000.jpg`` plus ``_mask.png`` and
``_co_occur_obj_mask.png``), so prepare_data reads a generated folder and a dropped-in one alike, and a
``provenance.csv`` naming the car, scene and object behind every image.

This is our own implementation of the published description, not the authors' code (theirs is CC-BY-NC): the
category lists and the car/object placement are ours, documented in ddb/config.schema.yaml and overridable there.
Train cars come from Stanford Cars' train split, val and test cars from disjoint halves of its test split; scenes
and objects are split disjointly between train, val and test. A split that needs more cars, scenes or objects than
its share holds reuses them in a new combination (the log says how often).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ddb.core.atomic import atomic_dir
from ddb.core.logs import Progress
from ddb.datasets.common import DatasetError, square_image
from ddb.datasets.urbancars import (
    CARS_DEVKIT,
    CARS_TEST,
    CARS_TEST_LABELS,
    CARS_TRAIN,
    COCO_ARCHIVES,
    LVIS_ARCHIVES,
    PLACES365_ARCHIVE,
    URBANCARS_RATIOS,
    URBANCARS_VALUES,
    urbancars_split_folder,
)

log = logging.getLogger("ddb.generate_urbancars")
SPLITS = tuple(URBANCARS_RATIOS)
CAR_SIDE, CAR_CENTRE = 0.55, (0.5, 0.55)  # longest side and centre of the car, as fractions of the canvas
OBJECT_SIDE, OBJECT_CENTRES = 0.3, ((0.18, 0.78), (0.82, 0.78))  # the object stands left or right of the car


# ---- the plain functions: group sizes, shares of a pool, category matching, cut-outs, placement ----
def group_counts(n: int, bg_ratio: float, co_ratio: float) -> dict[tuple[bool, bool], int]:
    """Images of one class by (background aligned, object aligned); the both-aligned group takes the rounding."""
    bg_only = round(n * (1 - bg_ratio) * co_ratio)  # background conflicts, object aligned
    co_only = round(n * bg_ratio * (1 - co_ratio))
    both = round(n * (1 - bg_ratio) * (1 - co_ratio))
    return {(True, True): n - bg_only - co_only - both, (False, True): bg_only, (True, False): co_only,
            (False, False): both}


def image_specs(per_class: dict[str, int]) -> list[tuple[str, int, int, int]]:
    """(split, car type, background type, object type) of every image to make; 0 = country, 1 = urban."""
    specs = []
    for split, ratio in URBANCARS_RATIOS.items():
        for obj in (0, 1):
            for (bg_aligned, co_aligned), count in group_counts(per_class[split], ratio, ratio).items():
                bg, co = (obj if bg_aligned else 1 - obj), (obj if co_aligned else 1 - obj)
                specs += [(split, obj, bg, co)] * count
    return specs


def allocate(items: list, needs: dict[str, int], rng: np.random.Generator, what: str) -> dict[str, list]:
    """Disjoint shares of ``items`` for the splits, proportional to what each needs, each cycled to its length."""
    wanted = {split: n for split, n in needs.items() if n > 0}
    if len(items) < len(wanted):
        raise DatasetError(f"{what}: {len(items)} found, but {len(wanted)} splits need some; check the category "
                           "lists in datasets.<name>.urbancars and that the source archives are complete")
    order = [items[i] for i in rng.permutation(len(items))]
    total, shares, start = sum(wanted.values()), {}, 0
    for k, (split, n) in enumerate(wanted.items()):
        # at least one item per split, and enough left for the splits after this one
        size = len(order) - start if k == len(wanted) - 1 else min(
            max(1, round(len(order) * n / total)), len(order) - start - (len(wanted) - k - 1))
        share = order[start:start + size]
        start += size
        shares[split] = [share[i % len(share)] for i in range(n)]
        if n > len(share):
            log.info("%s, %s: %d images use %d distinct ones (each %.1f times on average)", what, split, n,
                     len(share), n / len(share))
    return shares


def category_key(name: str) -> str:
    """A category name as compared: '/', '-' and ' ' count as '_' and case is ignored (Places365 writes nested
    categories as field/wild or field-wild depending on the edition)."""
    return name.lower().replace("/", "_").replace("-", "_").replace(" ", "_")


def kind_keys(settings: dict, option: str) -> dict[int, set[str]]:
    """The category keys of settings ``urban_<option>`` (kind 1) and ``country_<option>`` (kind 0)."""
    return {kind: {category_key(name) for name in settings[f"{URBANCARS_VALUES[kind]}_{option}"]} for kind in (0, 1)}


def kind_of(names: list[str], keys: dict[int, set[str]]) -> int | None:
    """1 urban, 0 country or None: the kind whose keys hold one of ``names``."""
    return next((kind for kind in (1, 0) if any(category_key(n) in keys[kind] for n in names)), None)


def car_type(class_name: str, keys: dict[int, set[str]]) -> int | None:
    """1 urban, 0 country, None neither: the body type is the word before the year ('Acura TL Sedan 2012')."""
    words = class_name.split()
    if words and words[-1].isdigit():
        words = words[:-1]
    return kind_of(words[-1:], keys)


def require_both_kinds(found: dict[int, list], what: str, hint) -> None:
    """Stop with ``hint(kind name)`` when one kind has nothing; else log how many of each were found."""
    for kind in (0, 1):
        if not found[kind]:
            raise DatasetError(hint(URBANCARS_VALUES[kind]))
    log.info("%s: %d urban and %d country", what, len(found[1]), len(found[0]))


def polygon_mask(size: tuple[int, int], polygons: list[list[float]], offset=(0.0, 0.0)) -> Image.Image:
    """Binary ('L') mask of COCO polygons ([x0, y0, x1, y1, ...] each) in an image of ``size``, shifted by -offset."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        points = [(x - offset[0], y - offset[1]) for x, y in zip(polygon[0::2], polygon[1::2])]
        if len(points) >= 3:
            draw.polygon(points, fill=255)
    return mask


def select_car_instance(boxes, labels, scores, annotated_box, car_labels=(3, 8), min_score=0.5,
                        min_iou=0.5) -> int | None:
    """Index of the detected car (COCO label 3 car or 8 truck) that best overlaps the annotated box, or None when
    no confident detection overlaps it enough (then the annotated box is the cut-out)."""
    import torch
    from torchvision.ops import box_iou

    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    iou = box_iou(boxes, torch.tensor([annotated_box], dtype=torch.float32))[:, 0]
    candidate = (torch.isin(torch.as_tensor(labels), torch.tensor(car_labels)) & (torch.as_tensor(scores) >= min_score)
                 & (iou >= min_iou))
    if not candidate.any():
        return None
    return int(torch.where(candidate, iou, -1.0).argmax())


def paste(canvas: Image.Image, cutout: Image.Image, mask: Image.Image, longest: float, centre) -> Image.Image:
    """Scale ``cutout`` (and its mask) so its longest side is ``longest`` px, paste it centred at ``centre`` through
    its mask; returns the mask's footprint on the canvas."""
    scale = longest / max(cutout.size)
    size = (max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale)))
    cutout = cutout.resize(size, Image.Resampling.BICUBIC)
    mask = mask.resize(size, Image.Resampling.BILINEAR)
    corner = (round(centre[0] - size[0] / 2), round(centre[1] - size[1] / 2))
    canvas.paste(cutout, corner, mask)
    footprint = Image.new("L", canvas.size, 0)
    footprint.paste(mask, corner)
    return footprint


def composite(scene: Image.Image, car: Image.Image, car_mask: Image.Image, thing: Image.Image,
              thing_mask: Image.Image, canvas: int, object_left: bool):
    """An UrbanCars image: the scene, the object beside the car, the car in front. Returns the image and the car's
    and the object's masks on it (the car covers what it overlaps of the object)."""
    image = scene.copy()
    centre = OBJECT_CENTRES[0 if object_left else 1]
    thing_footprint = paste(image, thing, thing_mask, OBJECT_SIDE * canvas, (centre[0] * canvas, centre[1] * canvas))
    car_footprint = paste(image, car, car_mask, CAR_SIDE * canvas, (CAR_CENTRE[0] * canvas, CAR_CENTRE[1] * canvas))
    visible = np.asarray(thing_footprint) * (np.asarray(car_footprint) < 128)
    return image, car_footprint, Image.fromarray(visible.astype(np.uint8))


# ---- reading the sources ----
@dataclass(frozen=True)
class Car:
    file: str  # e.g. cars_train/00001.jpg
    box: tuple[float, float, float, float]  # annotated x1, y1, x2, y2
    kind: int  # 1 urban, 0 country
    class_name: str


def _mat_records(path: Path, key: str):
    from scipy.io import loadmat

    if not path.is_file():
        raise DatasetError(f"{path} not found: the Stanford Cars files are incomplete (see the download stage's "
                           "message for what to place where)")
    return np.atleast_1d(loadmat(path, squeeze_me=True)[key])


def read_stanford_cars(root: Path, settings: dict) -> dict[str, list[Car]]:
    """Urban and country cars of Stanford Cars' train and test splits (annotated boxes, 1-based class ids)."""
    names = [str(n) for n in _mat_records(root / CARS_DEVKIT / "devkit" / "cars_meta.mat", "class_names")]
    keys = kind_keys(settings, "car_types")
    kinds = {i + 1: car_type(n, keys) for i, n in enumerate(names)}
    cars = {}
    for split, annotation_file, folder in (
            ("train", root / CARS_DEVKIT / "devkit" / "cars_train_annos.mat", root / CARS_TRAIN / "cars_train"),
            ("test", root / CARS_TEST_LABELS, root / CARS_TEST / "cars_test")):
        cars[split] = []
        for record in _mat_records(annotation_file, "annotations"):
            label = int(record["class"])
            if kinds.get(label) is None:
                continue
            file = folder / str(record["fname"])
            if not file.is_file():
                raise DatasetError(f"{file} not found: {annotation_file.name} lists it; the image archive is incomplete")
            box = tuple(float(record[k]) for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))
            cars[split].append(Car(str(file.relative_to(root)), box, kinds[label], names[label - 1]))
        require_both_kinds({kind: [c for c in cars[split] if c.kind == kind] for kind in (0, 1)},
                           f"Stanford Cars {split} cars", lambda kind: f"no {kind} cars in Stanford Cars {split}: no "
                           f"class name ends in one of {settings[f'{kind}_car_types']} (before the year)")
    return cars


def read_places(tar: tarfile.TarFile, settings: dict) -> dict[int, list[tarfile.TarInfo]]:
    """Scenes of the urban (1) and country (0) categories in the easyformat tar (train and val), read in place."""
    keys = kind_keys(settings, "places")
    scenes = {0: [], 1: []}
    for member in tar:  # streams the headers; the images stay in the tar
        parts = member.name.split("/")  # places365_standard/<train|val>/<category>/<n>.jpg, or .../field/wild/...
        split = next((i for i, part in enumerate(parts[:-2]) if part in ("train", "val")), None)
        if member.isfile() and split is not None and member.name.endswith(".jpg"):
            kind = kind_of(["/".join(parts[split + 1:-1])], keys)
            if kind is not None:
                scenes[kind].append(member)
    tar.members = []  # 1.8 M headers need not stay in memory
    require_both_kinds(scenes, "Places365 scenes", lambda kind: f"{tar.name}: no images in the Places365 categories "
                       f"{settings[f'{kind}_places']} (<split>/<category>/*.jpg)")
    return scenes


@dataclass(frozen=True)
class Thing:
    annotation: int  # LVIS annotation id
    image: str  # COCO zip member, e.g. train2017/000000391895.jpg
    box: tuple[float, float, float, float]  # x, y, width, height
    polygons: tuple[tuple[float, ...], ...]


def read_lvis(root: Path, settings: dict) -> dict[int, list[Thing]]:
    """LVIS v1 instances (train and val annotations) of the co-occurring object categories, large enough."""
    keys = kind_keys(settings, "objects")
    things = {0: [], 1: []}
    for name in LVIS_ARCHIVES:
        path = root / name / name.removesuffix(".zip")
        if not path.is_file():
            raise DatasetError(f"{path} not found: {name} does not have the LVIS layout")
        with open(path) as f:
            lvis = json.load(f)
        kinds = {category["id"]: kind_of([category["name"], *category.get("synonyms", [])], keys)
                 for category in lvis["categories"]}
        images = {image["id"]: image for image in lvis["images"]}
        for annotation in lvis["annotations"]:
            kind = kinds.get(annotation["category_id"])
            x, y, w, h = annotation["bbox"]
            if kind is None or w * h < settings["min_object_area"] or not annotation.get("segmentation"):
                continue
            url = images[annotation["image_id"]]["coco_url"]  # .../train2017/000000391895.jpg
            member = "/".join(url.rsplit("/", 2)[-2:])
            things[kind].append(Thing(annotation["id"], member, (x, y, w, h),
                                      tuple(tuple(p) for p in annotation["segmentation"])))
    require_both_kinds(things, "LVIS objects", lambda kind: f"no LVIS instances of {settings[f'{kind}_objects']} "
                       f"with a box of at least {settings['min_object_area']} px^2 in {root}")
    return things


def cut_thing(coco: dict[str, zipfile.ZipFile], thing: Thing) -> tuple[Image.Image, Image.Image]:
    """The object's box cropped from its COCO image and its polygon mask over that crop."""
    folder = thing.image.split("/")[0]
    if folder not in coco:
        raise DatasetError(f"LVIS names {thing.image}, which is in none of {sorted(coco)}")
    with coco[folder].open(thing.image) as f, Image.open(f) as image:
        image = image.convert("RGB")
    x, y, w, h = thing.box
    crop = tuple(round(v) for v in (x, y, x + w, y + h))
    return image.crop(crop), polygon_mask((crop[2] - crop[0], crop[3] - crop[1]), list(thing.polygons), crop[:2])


class CarCutter:
    """Car photos cropped to the car with its mask: the annotated box, or a Mask R-CNN instance inside it."""

    def __init__(self, root: Path, method: str, model=None):
        self.root, self.method, self.model = root, method, model
        self.fallbacks = 0
        self.cut_outs = {}  # car file -> (crop box, 1-bit mask): a reused car is segmented once
        if method == "maskrcnn" and model is None:
            raise DatasetError("car_mask: maskrcnn needs the Mask R-CNN, loaded from its staged weights "
                               "(load_maskrcnn); or set datasets.<name>.urbancars.car_mask: bbox")

    def __call__(self, car: Car) -> tuple[Image.Image, Image.Image]:
        with Image.open(self.root / car.file) as image:
            image = image.convert("RGB")
        if car.file not in self.cut_outs:
            box = tuple(round(v) for v in car.box)
            mask = Image.new("L", image.size, 0)
            mask.paste(255, box)
            if self.method == "maskrcnn":
                instance = self.instance_mask(image, car.box)
                if instance is None:
                    self.fallbacks += 1
                else:
                    mask = instance
                    box = mask.getbbox() or box
            self.cut_outs[car.file] = box, mask.crop(box).convert("1")
        box, mask = self.cut_outs[car.file]
        return image.crop(box), mask.convert("L")

    def instance_mask(self, image: Image.Image, box) -> Image.Image | None:
        import torch
        from torchvision.transforms.functional import pil_to_tensor

        device = next(self.model.parameters()).device
        with torch.no_grad():
            out = self.model([pil_to_tensor(image).float().div(255).to(device)])[0]
        best = select_car_instance(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist(), box)
        if best is None:
            return None
        return Image.fromarray((out["masks"][best, 0] > 0.5).cpu().numpy().astype(np.uint8) * 255)


def load_maskrcnn(weights_folder: Path | None):
    """torchvision's Mask R-CNN v2 with the COCO weights staged in ``weights_folder`` (rule stage_weights; nothing
    is downloaded here), in eval mode, on the GPU when there is one."""
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    from ddb.models.staged import staged_state_dict, unavailable_reason

    state = staged_state_dict(weights_folder) if weights_folder is not None else None
    if state is None:
        why = unavailable_reason(weights_folder) if weights_folder is not None else "no staged weights were given"
        raise DatasetError(
            f"the Mask R-CNN COCO weights that cut the cars out are not staged ({why}): run the workflow, whose rule "
            "stage_weights fetches maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth on the login node (or place that file "
            "in results/downloads/weights/), or set datasets.<name>.urbancars.car_mask: bbox to paste the annotated "
            "boxes instead")
    model = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
    model.load_state_dict(state)
    return model.eval().to("cuda" if torch.cuda.is_available() else "cpu")


# ---- the generation ----
def group_folder(obj: int, bg: int, co: int) -> str:
    return f"obj-{URBANCARS_VALUES[obj]}_bg-{URBANCARS_VALUES[bg]}_co_occur_obj-{URBANCARS_VALUES[co]}"


def generate(cars_root: Path, places_root: Path, lvis_root: Path, out: Path, settings: dict, model=None) -> int:
    """Write the UrbanCars folder into ``out`` (atomically); returns the number of images."""
    with contextlib.ExitStack() as archives:
        return _generate(cars_root, places_root, lvis_root, out, settings, model, archives)


def _generate(cars_root, places_root, lvis_root, out, settings, model, archives: contextlib.ExitStack) -> int:
    rng = np.random.default_rng(settings["seed"])
    specs = image_specs(settings["per_class"])
    cars = read_stanford_cars(cars_root, settings)
    places = places_root / PLACES365_ARCHIVE
    if not places.exists():
        raise DatasetError(f"{places} not found: the places365 download is incomplete")
    tar = archives.enter_context(tarfile.open(places))
    scenes = read_places(tar, settings)
    things = read_lvis(lvis_root, settings)
    coco = {}
    for name in COCO_ARCHIVES:
        path = lvis_root / name
        if not zipfile.is_zipfile(path):
            raise DatasetError(f"{path} is not the COCO zip archive {name}")
        coco[name.removesuffix(".zip")] = archives.enter_context(zipfile.ZipFile(path))

    def need(column: int, kind: int) -> dict[str, int]:
        return {split: sum(1 for s in specs if s[0] == split and s[column] == kind) for split in SPLITS}

    pools = {}
    for kind in (0, 1):
        name = URBANCARS_VALUES[kind]
        pools["car", kind] = {
            **allocate([c for c in cars["train"] if c.kind == kind], {"train": need(1, kind)["train"]}, rng,
                       f"{name} cars"),
            **allocate([c for c in cars["test"] if c.kind == kind], {s: need(1, kind)[s] for s in ("val", "test")},
                       rng, f"{name} cars")}
        pools["scene", kind] = allocate(scenes[kind], need(2, kind), rng, f"{name} scenes")
        pools["thing", kind] = allocate(things[kind], need(3, kind), rng, f"{name} objects")
    cutter = CarCutter(cars_root, settings["car_mask"], model)
    canvas = settings["canvas"]
    taken = {}  # (pool, kind, split) -> items used so far
    progress = Progress(len(specs), max(1, len(specs) // 20), "images composited")
    with atomic_dir(out) as tmp, open(tmp / "provenance.csv", "w", newline="") as manifest:
        writer = csv.writer(manifest)
        writer.writerow(["image", "split", "obj", "bg", "co_occur_obj", "car", "car_class", "scene", "lvis_annotation",
                         "coco_image"])
        counters = {}
        for done, (split, obj, bg, co) in enumerate(specs, start=1):
            picks = []
            for pool, kind in (("car", obj), ("scene", bg), ("thing", co)):
                index = taken.get((pool, kind, split), 0)
                taken[pool, kind, split] = index + 1
                picks.append(pools[pool, kind][split][index])
            car, scene, thing = picks
            folder = tmp / urbancars_split_folder(split) / group_folder(obj, bg, co)
            number = counters.get(folder, 0)
            counters[folder] = number + 1
            if number == 0:
                folder.mkdir(parents=True)
            image, car_mask, thing_mask = composite(
                square_image(io.BytesIO(tar.extractfile(scene).read()), canvas), *cutter(car),
                *cut_thing(coco, thing), canvas, object_left=bool(rng.integers(2)))
            stem = folder / f"{number:04d}"
            image.save(f"{stem}.jpg", quality=95)
            car_mask.save(f"{stem}_mask.png")
            thing_mask.save(f"{stem}_co_occur_obj_mask.png")
            writer.writerow([f"{stem.relative_to(tmp)}.jpg", split, URBANCARS_VALUES[obj], URBANCARS_VALUES[bg],
                             URBANCARS_VALUES[co], car.file, car.class_name, scene.name, thing.annotation, thing.image])
            progress(done)
    if cutter.fallbacks:
        log.warning("Mask R-CNN found no car matching the annotated box in %d photos; their box was pasted",
                    cutter.fallbacks)
    return len(specs)
