"""Each dataset source from fixture files in its real layout: download (local HTTP server) -> verify -> extract ->
prepare -> normalised metadata; and bring-your-own folders with every validation error a user can hit."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddb import download, prepare_data
from ddb.core.tables import read_table
from ddb.datasets.bar import bar_label
from ddb.datasets.common import DatasetError
from ddb.datasets.folder import build_folder
from helpers import (bar_archive, byo, idx_gz, png, rows_for, solid_jpeg, tar_bytes, waterbirds_archive,
                     zip_bytes)


def download_and_prepare(file_server, tmp_path, source, archive_name, archive, settings="{}"):
    file_server.files[f"/mirror/{archive_name}"] = archive
    download.main(["--source", source, "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw"),
                   "--mirror", f"{file_server.url}/mirror"])
    prepare_data.main(["--source", source, "--raw", str(tmp_path / "raw"), "--settings", settings,
                       "--images", str(tmp_path / "data/images"), "--metadata", str(tmp_path / "data/metadata.parquet")])
    return read_table(tmp_path / "data/metadata.parquet", "metadata")


def test_waterbirds_from_its_tarball(file_server, tmp_path):
    table = download_and_prepare(file_server, tmp_path, "waterbirds", "waterbird_complete95_forest2water2.tar.gz",
                                 waterbirds_archive(), '{"image_size": 16}')
    assert table.groupby("split").size().to_dict() == {"test": 4, "train": 4, "val": 4}
    assert set(table["label_name"]) == {"landbird", "waterbird"}
    assert (table["group"] == 2 * table["label"] + table["bias"]).all()
    assert (table["bias_aligned"] == (table["label"] == table["bias"])).all()
    image = Image.open(tmp_path / "data" / table["path"].iloc[0])
    assert image.size == (16, 16) and image.mode == "RGB"
    # no published checksum: pinned on first use
    assert (tmp_path / "downloads/CHECKSUMS").read_text().endswith("  waterbird_complete95_forest2water2.tar.gz\n")


def test_bar_from_the_github_zip_with_a_documented_val_holdout(file_server, tmp_path):
    table = download_and_prepare(file_server, tmp_path, "bar", "BAR-master.zip", bar_archive(),
                                 '{"image_size": 16, "val_fraction": 0.2}')
    assert table.groupby("split").size().to_dict() == {"test": 12, "train": 48, "val": 12}
    assert table.groupby(["split", "label"]).size().loc["val"].eq(2).all()  # stratified: 20 % of each class
    assert table["bias"].isna().all() and table["group"].isna().all()  # BAR has no bias labels
    assert "pole_vaulting" in set(table["label_name"])


def test_a_damaged_archive_stops_before_anything_is_prepared(file_server, tmp_path):
    archive = bytearray(bar_archive())
    archive[len(archive) // 2] ^= 0xFF
    file_server.files["/mirror/BAR-master.zip"] = bytes(archive)
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads/CHECKSUMS").write_text(f"{'0' * 64}  BAR-master.zip\n")  # a pinned, different version
    with pytest.raises(SystemExit, match="could not download BAR-master.zip"):
        download.main(["--source", "bar", "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw"),
                       "--mirror", f"{file_server.url}/mirror"])
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("name, label", [("climbing_3.jpg", "climbing"), ("pole vaulting_12.jpg", "pole_vaulting"),
                                         ("Pole_Vaulting_1.jpg", "pole_vaulting")])
def test_bar_file_names(name, label):
    assert bar_label(name) == label


# ---- bring your own ----
def test_byo_string_labels_bias_and_a_val_holdout(tmp_path):
    settings = byo(tmp_path, rows_for())
    table = build_folder(None, tmp_path / "images", "images", settings)
    assert list(table.columns) == ["sample_id", "path", "label", "label_name", "split", "bias", "bias_aligned", "group"]
    assert dict(zip(table["label_name"], table["label"])) == {"cat": 0, "dog": 1}  # sorted class names
    assert table.groupby("split").size().to_dict() == {"test": 4, "train": 6, "val": 2}  # 25 % of each class
    train = table[table["split"] != "test"]
    # aligned = the class's majority bias in train: cat-indoor, dog-outdoor
    expected = ((train["label_name"] == "cat") & (train["bias"] == 0)) | ((train["label_name"] == "dog") & (train["bias"] == 1))
    assert (train["bias_aligned"] == expected).all()
    assert (table["group"] == table["label"] * 2 + table["bias"]).all()
    assert all((tmp_path / p).exists() for p in table["path"])


def test_byo_without_bias_column_has_no_bias_labels(tmp_path):
    rows = [",".join(r.split(",")[:3]) for r in rows_for(with_val=True)]
    table = build_folder(None, tmp_path / "images", "images", byo(tmp_path, rows, header="path,label,split"))
    assert table["bias"].isna().all() and table.groupby("split").size()["val"] == 2


@pytest.mark.parametrize("change, message", [
    (lambda rows, header: (rows, header + ",weight"), "unknown \\['weight'\\]"),
    (lambda rows, header: ([r.replace(",train,", ",training,", 1) for r in rows], header), "line 2: split 'training'"),
    (lambda rows, header: ([r for r in rows if ",test," not in r], header), "no test rows"),
    (lambda rows, header: (rows + ["img/te9.png,bird,test,indoor"], header), "these have fewer: \\{'bird': 0\\}"),
    (lambda rows, header: (rows + ["img/missing.png,cat,test,indoor"], header), "line 14: .*missing.png"),
], ids=["unknown-column", "bad-split", "missing-split", "class-not-in-train", "missing-file"])
def test_byo_errors_name_the_row_or_file(tmp_path, change, message):
    rows, header = change(rows_for(), "path,label,split,bias")
    settings = byo(tmp_path, [r for r in rows if "missing" not in r and "te9" not in r], header)
    (tmp_path / "mine/labels.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    if any("te9" in r for r in rows):
        Image.new("RGB", (8, 8)).save(tmp_path / "mine/img/te9.png")
    with pytest.raises(DatasetError, match=message):
        build_folder(None, tmp_path / "images", "images", settings)


def test_byo_unreadable_image_is_named(tmp_path):
    settings = byo(tmp_path, rows_for())
    (tmp_path / "mine/img/tr3.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="cannot read image .*tr3.png"):
        build_folder(None, tmp_path / "images", "images", settings)


def test_byo_through_prepare_data_leaves_nothing_on_error(tmp_path):
    settings = byo(tmp_path, rows_for())
    (tmp_path / "mine/img/tr3.png").write_bytes(b"not an image")
    import json

    with pytest.raises(SystemExit, match="cannot prepare folder: cannot read image"):
        prepare_data.main(["--source", "folder", "--settings", json.dumps(settings), "--images",
                           str(tmp_path / "data/images"), "--metadata", str(tmp_path / "data/metadata.parquet")])
    assert not (tmp_path / "data").exists() or not os.listdir(tmp_path / "data")


def drop_in_and_prepare(tmp_path, source, archive_name, archive, settings="{}"):
    with pytest.raises(SystemExit, match=f"place {archive_name} at {tmp_path / 'downloads' / archive_name}"):
        download.main(["--source", source, "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw")])
    (tmp_path / "downloads" / archive_name).write_bytes(archive)  # the user places the file as told
    download.main(["--source", source, "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw")])
    prepare_data.main(["--source", source, "--raw", str(tmp_path / "raw"), "--settings", settings,
                       "--images", str(tmp_path / "data/images"), "--metadata", str(tmp_path / "data/metadata.parquet")])
    return read_table(tmp_path / "data/metadata.parquet", "metadata")


def test_bffhq_drop_in_with_labels_from_file_names(tmp_path):
    members = {}
    for kind, target, bias, n in (("align", 0, 0, 3), ("align", 1, 1, 3), ("conflict", 0, 1, 1), ("conflict", 1, 0, 1)):
        for i in range(n):
            members[f"bffhq/0.5pct/{kind}/{target}/{kind}{i}_{target}_{bias}.png"] = png((target * 200, bias * 200, 9))
    for split in ("valid", "test"):
        for target in (0, 1):
            for bias in (0, 1):
                members[f"bffhq/{split}/{target}{bias}_{target}_{bias}.png"] = png((9, 9, 9))
    table = drop_in_and_prepare(tmp_path, "bffhq", "bffhq.zip", zip_bytes(members), '{"image_size": 8}')
    assert table.groupby("split").size().to_dict() == {"test": 4, "train": 8, "val": 4}
    train = table[table["split"] == "train"]
    assert (~train["bias_aligned"]).sum() == 2 and (table["bias_aligned"] == (table["label"] == table["bias"])).all()
    assert table["sample_id"].is_unique


def test_celeba_kaggle_edition_drop_in(tmp_path):
    names = [f"{i:06d}.jpg" for i in range(1, 13)]
    blond = [1, 1, -1, -1, 1, -1, -1, -1, 1, -1, 1, -1]
    male = [-1, -1, 1, 1, 1, -1, 1, -1, -1, 1, 1, -1]
    attrs = "image_id,5_o_Clock_Shadow,Blond_Hair,Male\n" + "".join(
        f"{n},-1,{b},{m}\n" for n, b, m in zip(names, blond, male))
    partition = "image_id,partition\n" + "".join(f"{n},{0 if i < 8 else 1 if i < 10 else 2}\n" for i, n in enumerate(names))
    members = {"list_attr_celeba.csv": attrs.encode(), "list_eval_partition.csv": partition.encode(),
               **{f"img_align_celeba/img_align_celeba/{n}": solid_jpeg((i * 20, 0, 0), (17, 21)) for i, n in enumerate(names)}}
    table = drop_in_and_prepare(tmp_path, "celeba", "celeba-dataset.zip", zip_bytes(members), '{"image_size": 8}')
    assert table.groupby("split").size().to_dict() == {"test": 2, "train": 8, "val": 2}
    assert table["label"].tolist() == [int(b == 1) for b in blond]
    assert table["bias"].tolist() == [int(m == 1) for m in male]
    # training majority: blond -> female (3 of 4), not blond -> male (3 of 4)
    assert table.loc[table["label"] == 1, "bias_aligned"].tolist() == [m == -1 for b, m in zip(blond, male) if b == 1]


def test_cmnist_checks_the_published_md5_and_builds_the_lff_protocol(file_server, tmp_path):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (200, 28, 28))),
             "train-labels-idx1-ubyte.gz": idx_gz(np.arange(200) % 10),
             "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (50, 28, 28))),
             "t10k-labels-idx1-ubyte.gz": idx_gz(np.arange(50) % 10)}
    for name, data in files.items():
        file_server.files[f"/mirror/{name}"] = data
    # fixture bytes are not the real MNIST files: the published md5 refuses them, and nothing is extracted
    with pytest.raises(SystemExit, match="expected md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        download.main(["--source", "cmnist", "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw"),
                       "--mirror", f"{file_server.url}/mirror"])
    assert not (tmp_path / "raw").exists()
    (tmp_path / "raw").mkdir()
    for name, data in files.items():
        (tmp_path / "raw" / name).write_bytes(data)
    prepare_data.main(["--source", "cmnist", "--raw", str(tmp_path / "raw"),
                       "--settings", '{"conflicting_ratio": 0.05, "val_fraction": 0.1}',
                       "--images", str(tmp_path / "data/images"), "--metadata", str(tmp_path / "data/metadata.parquet")])
    table = read_table(tmp_path / "data/metadata.parquet", "metadata")
    assert table.groupby("split").size().to_dict() == {"test": 50, "train": 180, "val": 20}
    train = table[table["split"] == "train"]
    assert (~train["bias_aligned"]).sum() == 9  # exactly 5 % of 180
    assert (table["bias_aligned"] == (table["label"] == table["bias"])).all()
    assert (~table.loc[table["split"] == "test", "bias_aligned"]).sum() == 45  # uniform colours: 90 % conflicting
    image = np.asarray(Image.open(tmp_path / "data" / train["path"].iloc[0]))
    assert image.shape == (28, 28, 3)


def test_imagenet9_reads_class_tars_in_place_and_tests_on_matching_imagenet_a(tmp_path):
    from ddb.datasets.imagenet9 import IMAGENET9_RANGES, build_imagenet9

    with pytest.raises(SystemExit, match="place ILSVRC2012_img_train.tar \\(md5:1d675b47d978889d74fa0da5fadfb00e\\) at"):
        download.main(["--source", "imagenet9", "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "x")])

    wnid = [f"n{i:08d}" for i in range(1000)]  # sorted order = ImageNet class index
    with_images = {151: 3, 254: 2, 30: 2, 500: 2}  # dog (both ends of its range), frog, and a class outside IN-9
    raw = tmp_path / "raw"
    (raw / "imagenet-a.tar/imagenet-a").mkdir(parents=True)
    (raw / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes({
        f"{wnid[i]}.tar": tar_bytes({f"{wnid[i]}_{j}.JPEG": solid_jpeg((i % 255, j * 50, 0))
                                     for j in range(with_images.get(i, 0))}, mode="w")
        for i in range(1000)}, mode="w"))
    for i in (151, 30, 500):
        (raw / f"imagenet-a.tar/imagenet-a/{wnid[i]}").mkdir()
        (raw / f"imagenet-a.tar/imagenet-a/{wnid[i]}/a_{i}.jpg").write_bytes(solid_jpeg((0, 0, 0)))
    table = build_imagenet9(raw, tmp_path / "images", "images",
                            {"image_size": 16, "max_per_class": 2, "val_fraction": 0.3, "seed": 0})
    names = list(IMAGENET9_RANGES)
    train = table[table["split"] != "test"]
    assert train["label_name"].value_counts().to_dict() == {"dog": 4, "frog": 2}  # capped at 2 per ImageNet class
    assert (table["split"] == "val").sum() == 2  # one per super-class present (30 %, at least one)
    test = table[table["split"] == "test"]
    assert sorted(test["label"]) == sorted([names.index("dog"), names.index("frog")])  # wnid 500 is not IN-9
    assert table["bias"].isna().all()


def test_urbancars_drop_in_of_the_generated_layout(tmp_path):
    members = {}
    for split, root in (("train", "bg-0.95_co_occur_obj-0.95"), ("val", "bg-0.5_co_occur_obj-0.5"),
                        ("test", "bg-0.5_co_occur_obj-0.5")):
        for obj in ("urban", "country"):
            for bg in ("urban", "country"):
                for co in ("urban", "country"):
                    group = f"urbancars/{root}/{split}/obj-{obj}_bg-{bg}_co_occur_obj-{co}"
                    members[f"{group}/000.jpg"] = solid_jpeg((9, 9, 9))
                    members[f"{group}/000_mask.png"] = png((0, 0, 0))
    table = drop_in_and_prepare(tmp_path, "urbancars", "urbancars.zip", zip_bytes(members),
                                '{"image_size": 8, "origin": "drop_in"}')
    assert table.groupby("split").size().to_dict() == {"test": 8, "train": 8, "val": 8}  # masks are not images
    row = table[table["sample_id"].str.contains("train_obj-urban_bg-country_co_occur_obj-urban")].iloc[0]
    assert (row["label"], row["bias"], row["bias_aligned"]) == (1, 1, False)  # bias = 2 * bg(0) + co(1)
    assert table["bias_aligned"].sum() == 6 and table["group"].nunique() == 8


def test_corrupted_cifar10_from_the_binary_archive_layout(tmp_path):
    from ddb.algorithms.corruptions import CORRUPTIONS
    from ddb.datasets.corrupted_cifar10 import build_corrupted_cifar10

    rng = np.random.default_rng(0)
    root = tmp_path / "raw/cifar-10-binary.tar.gz/cifar-10-batches-bin"
    root.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}.bin", 20) for i in range(1, 6)] + [("test_batch.bin", 30)]:
        labels = (np.arange(n) % 10).astype(np.uint8)[:, None]
        (root / name).write_bytes(np.concatenate([labels, rng.integers(0, 256, (n, 3072), dtype=np.uint8)], 1).tobytes())
    table = build_corrupted_cifar10(tmp_path / "raw", tmp_path / "images", "images",
                                    {"conflicting_ratio": 0.05, "severity": 2, "val_fraction": 0.2, "seed": 0})
    assert table.groupby("split").size().to_dict() == {"test": 30, "train": 80, "val": 20}
    assert (~table.loc[table["split"] == "train", "bias_aligned"]).sum() == 4  # exactly 5 % of 80
    assert table["bias"].between(0, len(CORRUPTIONS) - 1).all()
    assert set(table["label_name"]) == {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                        "truck"}
    (root / "test_batch.bin").write_bytes(b"\0" * 100)
    with pytest.raises(DatasetError, match="not a CIFAR-10 binary batch"):
        build_corrupted_cifar10(tmp_path / "raw", tmp_path / "images2", "images", {"conflicting_ratio": 0.05,
                                "severity": 2, "val_fraction": 0.2, "seed": 0})


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.exists(), reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_colored_fashion_mnist_comes_from_the_debian_package_checked_by_its_own_md5(tmp_path):
    download.main(["--source", "cfmnist", "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw")])
    prepare_data.main(["--source", "cfmnist", "--raw", str(tmp_path / "raw"),
                       "--settings", '{"conflicting_ratio": 0.05, "val_fraction": 0.005, "max_train": 400, "max_test": 100}',
                       "--images", str(tmp_path / "data/images"), "--metadata", str(tmp_path / "data/metadata.parquet")])
    table = read_table(tmp_path / "data/metadata.parquet", "metadata")
    assert table.groupby("split").size().to_dict() == {"test": 100, "train": 400, "val": 300}
    assert (~table.loc[table["split"] == "train", "bias_aligned"]).sum() == 20  # exactly 5 % of 400
    assert set(table["label_name"]) <= {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                        "Sneaker", "Bag", "Ankle boot"}
    image = np.asarray(Image.open(tmp_path / "data" / table["path"].iloc[0]))
    assert image.shape == (28, 28, 3)
    # a damaged copy matches neither the published nor Debian's checksum: an error naming both
    (tmp_path / "downloads/train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(SystemExit, match="expected md5:25c81989df183df01b3e8a0aad5dffbe or md5:10bea18fdb374794d4bb42e356e600c9"):
        download.main(["--source", "cfmnist", "--downloads", str(tmp_path / "downloads"), "--out", str(tmp_path / "raw2")])
