"""UrbanCars generated from its sources: fixture archives in the real layouts of Stanford Cars (drop-in), Places365
and LVIS/COCO (served on 127.0.0.1) -> download -> generate_urbancars -> prepare_data; and the plain functions."""

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from ddb import download, generate_urbancars, prepare_data
from ddb.core.tables import read_table
from ddb.datasets.common import DatasetError
from ddb.datasets import urbancars_generation
from ddb.datasets.urbancars_generation import (CarCutter, allocate, car_type, group_counts, image_specs, kind_keys,
                                               select_car_instance)
from helpers import (BLUE, BROWN, CAR_BOX, GREEN, GREY, RED, URBANCARS_SETTINGS, YELLOW, car_photo,
                     serve_downloadable_sources, stanford_cars_files)

@pytest.fixture
def sources(file_server, tmp_path):
    """The three downloads of UrbanCars' sources, done through the download stage."""
    serve_downloadable_sources(file_server)
    downloads = tmp_path / "downloads"

    def fetch(component, *mirror):
        download.main(["--source", "urbancars", "--component", component, "--downloads", str(downloads / component), "--out",
                       str(tmp_path / component), *mirror])
        return tmp_path / component

    with pytest.raises(SystemExit) as stopped:  # Stanford Cars has no working URL: the message says what goes where
        fetch("stanford_cars")
    for name, data in stanford_cars_files().items():
        assert f"place {name} at {downloads / 'stanford_cars' / name}" in str(stopped.value)
        (downloads / "stanford_cars" / name).write_bytes(data)
    mirror = ("--mirror", f"{file_server.url}/mirror")
    return {"cars": fetch("stanford_cars"), "places": fetch("places365", *mirror), "lvis": fetch("lvis_coco", *mirror)}


def generate(sources, out, settings=URBANCARS_SETTINGS):
    generate_urbancars.main(["--cars", str(sources["cars"]), "--places", str(sources["places"]), "--lvis",
                             str(sources["lvis"]), "--settings", settings, "--out", str(out)])
    with open(out / "provenance.csv", newline="") as f:
        return list(csv.DictReader(f))


def near(pixel, colour, tolerance=40):
    return all(abs(int(p) - c) <= tolerance for p, c in zip(pixel, colour))


def test_generated_from_downloaded_sources_then_prepared(sources, tmp_path):
    rows = generate(sources, tmp_path / "generated")
    # the authors' layout; train is 95/95 % aligned (18 / 1 / 1 / 0 of 20 per class), val and test balanced
    train = tmp_path / "generated/bg-0.95_co_occur_obj-0.95/train"
    assert len(list((train / "obj-urban_bg-urban_co_occur_obj-urban").glob("*.jpg"))) == 18
    assert len(list((train / "obj-urban_bg-country_co_occur_obj-urban").glob("*.jpg"))) == 1
    assert len(list((train / "obj-country_bg-country_co_occur_obj-urban").glob("*.jpg"))) == 1
    assert not (train / "obj-country_bg-urban_co_occur_obj-urban").exists()
    test = tmp_path / "generated/bg-0.5_co_occur_obj-0.5/test"
    assert {p.name: len(list(p.glob("*.jpg"))) for p in test.iterdir()} == {
        f"obj-{o}_bg-{b}_co_occur_obj-{c}": 1 for o in ("urban", "country") for b in ("urban", "country")
        for c in ("urban", "country")}
    assert (test / "obj-urban_bg-country_co_occur_obj-urban/0000_mask.png").exists()
    assert (test / "obj-urban_bg-country_co_occur_obj-urban/0000_co_occur_obj_mask.png").exists()

    # what each image shows is what its folder says: car colour, scene colour, object colour
    for row in rows:
        image = np.asarray(Image.open(tmp_path / "generated" / row["image"]))
        assert near(image[26, 24], RED if row["obj"] == "urban" else BLUE), row
        assert near(image[2, 2], GREY if row["bg"] == "urban" else GREEN), row
        object_mask = np.asarray(Image.open(tmp_path / "generated" / row["image"].replace(".jpg",
                                                                                             "_co_occur_obj_mask.png")))
        ys, xs = np.nonzero(object_mask > 128)
        assert near(image[ys[len(ys) // 2], xs[len(xs) // 2]], YELLOW if row["co_occur_obj"] == "urban" else BROWN)
        assert ("cars_train/" in row["car"]) == (row["split"] == "train")  # val/test cars: Stanford's test split
        assert ("Van" not in row["car_class"]) and row["lvis_annotation"].endswith("0")  # small instances skipped
    # scenes and objects are never shared between train, val and test
    for column in ("scene", "lvis_annotation"):
        used = {split: {r[column] for r in rows if r["split"] == split} for split in ("train", "val", "test")}
        assert not (used["train"] & used["val"]) and not (used["train"] & used["test"]) and not (
            used["val"] & used["test"]), column
    cars = {split: {r["car"] for r in rows if r["split"] == split} for split in ("val", "test")}
    assert not cars["val"] & cars["test"]

    prepare_data.main(["--source", "urbancars", "--raw", str(tmp_path / "generated"), "--settings",
                       '{"image_size": 16}', "--images", str(tmp_path / "data/images"), "--metadata",
                       str(tmp_path / "data/metadata.parquet")])
    table = read_table(tmp_path / "data/metadata.parquet", "metadata")
    assert table.groupby("split").size().to_dict() == {"test": 8, "train": 40, "val": 8}
    train_rows = table[table["split"] == "train"]
    assert train_rows["bias_aligned"].sum() == 36 and set(train_rows["label"]) == {0, 1}
    row = table[table["sample_id"].str.contains("train_obj-urban_bg-country_co_occur_obj-urban")].iloc[0]
    assert (row["label"], row["bias"], row["group"]) == (1, 1, 1 * 4 + 1)  # bias = 2 * bg(0) + co(1)

    # a seed fixes the dataset
    assert generate(sources, tmp_path / "again") == rows
    assert (tmp_path / "again" / rows[5]["image"]).read_bytes() == (tmp_path / "generated" / rows[5]["image"]).read_bytes()


def test_missing_category_is_a_clear_error_and_writes_nothing(sources, tmp_path):
    settings = URBANCARS_SETTINGS.replace('"pasture/nested"]', '"pasture/nested"], "urban_objects": ["zebra_crossing_sign"]')
    with pytest.raises(SystemExit, match=r"no LVIS instances of \['zebra_crossing_sign'\]"):
        generate(sources, tmp_path / "generated", settings)
    assert not (tmp_path / "generated").exists()


def test_group_counts_follow_the_published_ratios():
    assert group_counts(4000, 0.95, 0.95) == {(True, True): 3610, (False, True): 190, (True, False): 190,
                                              (False, False): 10}
    assert set(group_counts(500, 0.5, 0.5).values()) == {125}
    specs = image_specs({"train": 4000, "val": 500, "test": 500})
    assert len(specs) == 10000 and sum(1 for s in specs if s[0] == "train" and s[1] == s[2] == s[3]) == 7220


def test_body_types_from_class_names():
    keys = kind_keys({"urban_car_types": ["Sedan", "Hatchback", "Coupe", "Convertible"],
                      "country_car_types": ["SUV", "Cab"]}, "car_types")
    assert car_type("Acura RL Sedan 2012", keys) == 1
    assert car_type("Chevrolet Silverado 1500 Extended Cab 2012", keys) == 0
    assert car_type("AM General Hummer SUV 2000", keys) == 0
    assert car_type("Chrysler Town and Country Minivan 2012", keys) is None
    assert car_type("Acura TL Type-S 2008", keys) is None


def test_allocate_gives_disjoint_proportional_shares_cycled_to_length():
    shares = allocate(list(range(10)), {"val": 30, "test": 10, "none": 0}, np.random.default_rng(0), "cars")
    assert set(shares) == {"val", "test"} and len(shares["val"]) == 30 and len(shares["test"]) == 10
    assert len(set(shares["val"])) == 8 and len(set(shares["test"])) == 2  # 3 : 1 of the 10
    assert not set(shares["val"]) & set(shares["test"])
    with pytest.raises(DatasetError, match="1 found, but 2 splits need some"):
        allocate([0], {"val": 1, "test": 1}, np.random.default_rng(0), "cars")


def test_car_instance_matching_the_annotated_box():
    boxes = [[0, 0, 10, 10], [10, 12, 50, 36], [11, 12, 50, 35], [12, 13, 49, 35]]
    labels = [3, 1, 3, 3]  # a person exactly on the box is not a car
    scores = [0.99, 0.99, 0.9, 0.3]  # the last is not confident
    assert select_car_instance(boxes, labels, scores, CAR_BOX) == 2
    assert select_car_instance(boxes[:2], labels[:2], scores[:2], CAR_BOX) is None


def test_mask_cut_out_follows_the_detected_instance(tmp_path):
    (tmp_path / "cars_train").mkdir()
    (tmp_path / "cars_train/00001.jpg").write_bytes(car_photo(urban=True))

    class Detector(torch.nn.Module):  # what a torchvision detection model returns for one image
        def __init__(self, found: bool):
            super().__init__()
            self.found, self.weight = found, torch.nn.Parameter(torch.zeros(1))

        def forward(self, images):
            masks = torch.zeros(1, 1, 48, 64)
            masks[0, 0, 20:30, 15:40] = 1.0  # the car's silhouette, inside its box
            return [{"boxes": torch.tensor([[10.0, 12, 50, 36]]), "labels": torch.tensor([3 if self.found else 1]),
                     "scores": torch.tensor([0.9]), "masks": masks}]

    car = urbancars_generation.Car("cars_train/00001.jpg", CAR_BOX, 1, "Acura RL Sedan 2012")
    crop, mask = CarCutter(tmp_path, "maskrcnn", Detector(found=True))(car)
    assert crop.size == mask.size == (25, 10) and np.asarray(mask).min() == 255
    cutter = CarCutter(tmp_path, "maskrcnn", Detector(found=False))
    crop, mask = cutter(car)
    assert crop.size == (40, 24) and cutter.fallbacks == 1  # no car found: the annotated box


def test_mask_weights_not_staged_name_the_file_the_stage_and_the_alternative(tmp_path):
    with pytest.raises(DatasetError, match=r"stage_weights.*maskrcnn_resnet50_fpn_v2_coco-.*\.pth.*car_mask: bbox"):
        urbancars_generation.load_maskrcnn(None)
    with pytest.raises(DatasetError, match=r"needs the Mask R-CNN"):
        CarCutter(tmp_path, "maskrcnn")
