"""Nothing wrong looks finished: each fault a user or a machine can cause, injected for real, ends in a clear error
or a correct recovery, and leaves no complete-looking artifact behind (README, "What is checked, when")."""

import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from ddb import collect, sample_synthetic, train_diffusion
from ddb.algorithms.objective import Objective
from ddb.algorithms import sampling
from ddb.algorithms.sampling import broken_samples
from ddb.core.atomic import atomic_dir
from ddb.core.images import ImageSet, load_split, load_synthetic, write_store
from ddb.core.integrity import DamagedArtifact, write_manifest
from ddb.core.tables import read_table, write_table
from ddb.datasets.common import DatasetError, square_image
from ddb.datasets.folder import build_folder, checked_table
from ddb.models.classifiers import load_classifier, save_classifier, small_cnn
from ddb.training.checkpoint import Checkpoint
from ddb.training.divergence import TrainingDiverged
from ddb.training.loop import fit
from helpers import byo, prepared_shapes, rows_for, store_of


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return prepared_shapes(tmp_path_factory.mktemp("shapes"), num_classes=3, image_size=16, n_train=30, n_val=9,
                           n_test=9)


def damage(path, at=None, length=2048):
    """Overwrite ``length`` bytes of ``path`` in its middle (or at ``at``) with other bytes."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2 if at is None else at
    data[start:start + length] = bytes((b ^ 0x5A) for b in data[start:start + length])
    path.write_bytes(bytes(data))


# ---- training and sampling ----
class NaNAfter(Objective):
    def __init__(self, step):
        self.step, self.calls = step, 0

    def loss(self, idx, images, labels, per_sample_ce):
        self.calls += 1
        return per_sample_ce.mean() * (float("nan") if self.calls >= self.step else 1.0)


def test_a_non_finite_loss_stops_training_with_the_step_and_the_setting_to_change(tmp_path):
    train = ImageSet(torch.randint(0, 255, (32, 3, 16, 16), dtype=torch.uint8), torch.arange(32) % 3,
                     [str(i) for i in range(32)])
    settings = {"batch_size": 8, "lr": 0.5, "weight_decay": 0.0, "precision": "fp32"}
    checkpoint = Checkpoint(tmp_path / "model", {"run": 1}, every=2)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 4: loss nan, .*last finite loss: [0-9.]+.*"
                                               r"lower amplifier.lr \(now 0.5\)"):
        fit(small_cnn(3), train, settings, 10, torch.Generator().manual_seed(0), torch.device("cpu"), eval_every=5,
            objective=NaNAfter(4), checkpoint=checkpoint, what="the amplifier", lr_setting="amplifier.lr")
    assert Checkpoint(tmp_path / "model", {"run": 1}, every=2).restore() == 2  # the last finite step's state only


def test_diffusion_training_that_diverges_writes_no_model(shapes, tmp_path, monkeypatch):
    from ddb.algorithms import diffusion

    real_loss = diffusion.diffusion_loss
    calls = []

    def exploding(*args):
        calls.append(1)
        return real_loss(*args) * (float("inf") if len(calls) >= 3 else 1.0)

    monkeypatch.setattr(diffusion, "diffusion_loss", exploding)
    settings = {"image_size": 16, "block_out_channels": [8, 16], "norm_num_groups": 4, "num_train_timesteps": 20,
                "steps": 6, "batch_size": 4, "lr": 1e-3}
    with pytest.raises(TrainingDiverged, match="the diffusion model diverged at step 3.*lower diffusion.lr"):
        train_diffusion.main(["--metadata", str(shapes), "--store", store_of(shapes), "--out", str(tmp_path / "model"), "--settings",
                              json.dumps(settings)])
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob(".model.tmp-*"))


def test_sampling_a_broken_model_stops_and_writes_no_synthetic_set(shapes, tmp_path):
    from diffusers import DDPMScheduler

    from ddb.algorithms.diffusion import build_noise_scheduler
    from ddb.core.settings import resolve_settings
    from ddb.models.unet import build_unet

    settings = resolve_settings("diffusion", {"image_size": 16, "block_out_channels": [8, 16], "norm_num_groups": 4,
                                              "num_train_timesteps": 20})
    unet = build_unet(settings, 3)
    with torch.no_grad():  # what a diverged run that was saved anyway would hold
        next(unet.parameters()).fill_(float("nan"))
    model = tmp_path / "model"
    unet.save_pretrained(model / "unet")
    scheduler: DDPMScheduler = build_noise_scheduler(settings)
    scheduler.save_pretrained(model / "scheduler")
    (model / "model_info.json").write_text(json.dumps({"num_classes": 3, "class_names": ["a", "b", "c"],
                                                       "null_label": 3, "settings": settings}))
    pd.DataFrame({"step": [50, 100], "loss": [0.5, 0.1]}).to_csv(model / "training_log.csv", index=False)
    write_manifest(model)
    with pytest.raises(SystemExit, match="sampling class 1 .* failed: 4 of 4 images hold NaN .* broken"):
        sample_synthetic.main(["--model", str(model), "--class-index", "1", "--out", str(tmp_path / "images"),
                               "--grid", str(tmp_path / "grid.png"), "--settings",
                               '{"images_per_class": 4, "num_inference_steps": 2, "batch_size": 4}'])
    assert not (tmp_path / "images").exists() and not (tmp_path / "grid.png").exists()


def test_a_diffusion_model_that_never_learnt_is_not_sampled(shapes, tmp_path):
    # the learning rate the schema allows but no UNet trains at: the loss stays at that of predicting zero noise
    settings = {"image_size": 16, "block_out_channels": [8, 16], "norm_num_groups": 4, "num_train_timesteps": 20,
                "steps": 100, "batch_size": 4, "lr": 0.9, "log_every": 20}
    model = tmp_path / "model"
    train_diffusion.main(["--metadata", str(shapes), "--store", store_of(shapes), "--out", str(model), "--settings",
                          json.dumps(settings)])
    with pytest.raises(SystemExit, match=rf"the diffusion model {model} never learnt: its training loss was .* still "
                                         r"[0-9.]+ at step 100.*Lower diffusion.lr \(now 0.9\).*snakemake --force"):
        sample_synthetic.main(["--model", str(model), "--class-index", "0", "--out", str(tmp_path / "images"),
                               "--grid", str(tmp_path / "grid.png"), "--settings", '{"images_per_class": 2}'])
    assert not (tmp_path / "images").exists()
    assert pd.read_csv(model / "training_log.csv")["loss"].iloc[-1] >= sampling.NOT_LEARNT_LOSS
    assert sampling.never_learnt([50, 100], [0.52, 0.10]) is None  # the default config's first two log rows
    assert sampling.never_learnt([2, 4], [1.0, 1.0]) is None  # too short to judge (tests, rehearsals)


def test_a_debiased_model_no_better_than_the_majority_class_on_val_is_flagged(shapes, tmp_path, caplog):
    from ddb import evaluate
    from ddb.core.settings import resolve_settings

    model = small_cnn(3)
    with torch.no_grad():  # every parameter 0 but one bias: the model always predicts class 0
        for parameter in model.parameters():
            parameter.zero_()
        list(model.parameters())[-1][0] = 1.0
    folder = tmp_path / "model"
    save_classifier(model, folder, {"arch": "small_cnn", "num_classes": 3, "image_size": 16, "method": "erm",
                                    "seed": 0, "settings": resolve_settings("classifier")})
    (folder / "selection.json").write_text(json.dumps({"selection": "label_free", "step": 1, "uses_bias_labels": False,
                                                       "method_uses_bias_labels": False}))
    write_manifest(folder)
    out = tmp_path / "metrics.json"
    evaluate.main(["--model", str(folder), "--metadata", str(shapes), "--store", store_of(shapes), "--dataset",
                   "shapes", "--out", str(out)])
    assert json.loads(out.read_text())["val_acc"] == pytest.approx(1 / 3)
    assert f"{folder} is no better on val (33.3 % accuracy) than always predicting its most frequent class" in caplog.text
    (folder / "selection.json").write_text('{"selection": "lab')  # cut short after it was written
    with pytest.raises(DamagedArtifact, match=r"selection.json: changed after it was written"):
        evaluate.main(["--model", str(folder), "--metadata", str(shapes), "--store", store_of(shapes), "--dataset",
                       "shapes", "--out", str(out)])


def test_saturated_or_non_finite_samples_are_named():
    fine = torch.rand(4, 3, 8, 8) * 2 - 1
    assert broken_samples(fine) is None
    assert broken_samples(torch.ones(4, 3, 8, 8) * 3) == "4 of 4 images are saturated in every pixel"
    assert "1 of 4 images hold NaN" in broken_samples(torch.cat([fine[:3], torch.full((1, 3, 8, 8), float("nan"))]))


# ---- checkpoints ----
@pytest.mark.parametrize("fault", ["overwritten", "truncated", "no_digest"])
def test_a_damaged_checkpoint_is_moved_aside_and_training_starts_afresh(tmp_path, fault, caplog):
    model = torch.nn.Linear(64, 64)
    checkpoint = Checkpoint(tmp_path / "model", {"run": 1}, every=1)
    checkpoint.track(model=model)
    checkpoint.save(5)
    if fault == "overwritten":
        damage(checkpoint.path)
    elif fault == "truncated":
        checkpoint.path.write_bytes(checkpoint.path.read_bytes()[:1000])
    else:
        checkpoint.digest_path.unlink()
    assert checkpoint.restore() == 0  # a fresh start, not a resume from unchecked bytes
    assert (tmp_path / "model.checkpoint.pt.damaged").exists() and not checkpoint.path.exists()
    assert "moved to" in caplog.text and str(checkpoint.path) in caplog.text
    checkpoint.save(1)  # the rerun checkpoints again as usual
    assert checkpoint.restore() == 1
    checkpoint.remove()  # the output is complete: the damaged copy is of no more use
    assert not list(tmp_path.iterdir())


def test_a_full_disk_during_a_checkpoint_names_the_file_and_the_free_space(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    try:
        checkpoint = Checkpoint(disk / "model", {"run": 1}, every=1)
        checkpoint.track(model=torch.nn.Linear(256, 256))  # 257 kB: more than the disk holds
        with pytest.raises(SystemExit, match=rf"could not write the checkpoint {disk}/model.checkpoint.pt after step 3 "
                                             r".* 0 MiB are free on its disk. Free space there"):
            checkpoint.save(3)
        assert not list(disk.iterdir())  # no partial file left
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# ---- finished artifacts read by a later stage ----
def test_an_image_edited_or_deleted_after_prepare_data_stops_the_reading_stage(shapes, tmp_path):
    table = read_table(shapes, "metadata")
    image = shapes.parent / table["path"].iloc[3]
    original = image.read_bytes()
    try:
        Image.new("RGB", (16, 16), (1, 2, 3)).save(image)
        with pytest.raises(DamagedArtifact, match=f"{image}: changed after it was written.*snakemake --force "
                                                  f".*images"):
            write_store(table, shapes.parent, tmp_path, None)
        image.unlink()
        with pytest.raises(DamagedArtifact, match="missing"):
            write_store(table, shapes.parent, tmp_path, None)
    finally:
        image.write_bytes(original)
    assert len(load_split(table, store_of(shapes), "train")) == 30


@pytest.mark.parametrize("fault", ["overwritten", "truncated", "header", "deleted", "other_table"])
def test_a_damaged_or_foreign_image_store_stops_the_reading_stage(shapes, tmp_path, fault):
    table = read_table(shapes, "metadata")
    store = tmp_path / "store"
    write_store(table, shapes.parent, store, 8)
    assert load_split(table, store, "val").images[[0, 1]].shape == (2, 3, 8, 8)
    if fault == "overwritten":
        damage(store / "train.npy", length=16)
        expected = "train.npy: changed after it was written"
    elif fault == "truncated":
        (store / "train.npy").write_bytes((store / "train.npy").read_bytes()[:-100])
        expected = "train.npy: holds uint8 .* the store recorded"
    elif fault == "header":
        (store / "train.npy").write_bytes(b"not numpy" + (store / "train.npy").read_bytes()[9:])
        expected = "train.npy: is not a readable .npy array"
    elif fault == "deleted":
        (store / "train.npy").unlink()
        expected = "train.npy: missing"
    else:  # a store built from another version of the dataset
        table = table.assign(sample_id=table["sample_id"].str.upper())
        expected = "not the metadata table's"
    with pytest.raises(DamagedArtifact, match=f"{expected}.*snakemake --force {store}"):
        load_split(table, store, "train")


def test_a_deleted_or_added_synthetic_image_stops_the_amplifier(tmp_path):
    folder = tmp_path / "class_0/images"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"sample_{i:05d}.png")
    write_manifest(folder)
    (folder / "sample_00001.png").unlink()
    with pytest.raises(DamagedArtifact, match=r"missing \['sample_00001.png'\]"):
        load_synthetic([folder])
    Image.new("RGB", (8, 8)).save(folder / "sample_00001.png")
    Image.new("RGB", (8, 8)).save(folder / "extra.png")
    with pytest.raises(DamagedArtifact, match=r"not listed \['extra.png'\]"):
        load_synthetic([folder])


@pytest.mark.parametrize("fault", ["truncated", "overwritten"])
def test_a_damaged_table_is_named_with_the_command_that_rebuilds_it(tmp_path, fault):
    path = tmp_path / "scores.parquet"
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(2000)], "path": "p", "label": 0, "label_name": "a",
                          "split": "train", "bias": pd.array([0] * 2000, dtype="Int64"),
                          "bias_aligned": pd.array([True] * 2000, dtype="boolean"),
                          "group": pd.array([0] * 2000, dtype="Int64")})
    frame["sample_id"] = [f"sample-{np.random.default_rng(i).integers(1 << 60)}" for i in range(2000)]
    write_table(frame, path, "metadata")
    if fault == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        damage(path, at=200, length=64)
    with pytest.raises(DamagedArtifact, match=f"{path}: is not a readable Parquet metadata table.*snakemake --force "
                                              f"{path}"):
        read_table(path, "metadata")


def test_damaged_weights_are_found_before_they_are_used(tmp_path):
    folder = tmp_path / "amplifier"
    folder.mkdir()
    save_classifier(small_cnn(3), folder, {"arch": "small_cnn", "num_classes": 3})
    write_manifest(folder)
    assert load_classifier(folder)[1]["num_classes"] == 3
    damage(folder / "model.safetensors", length=256)
    with pytest.raises(DamagedArtifact, match="model.safetensors: changed after it was written"):
        load_classifier(folder)


# ---- interrupted writes and permissions ----
def test_a_killed_writer_s_temporary_folder_is_removed_by_the_next_run(tmp_path):
    leftover = tmp_path / ".images.tmp-abc123"
    (leftover / "train").mkdir(parents=True)
    (leftover / "train/0.png").write_bytes(b"half")
    with atomic_dir(tmp_path / "images") as tmp:
        (tmp / "done").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]


def test_weights_written_by_libraries_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "unet") as tmp:
            save_file({"w": torch.zeros(2)}, tmp / "diffusion_pytorch_model.safetensors")
            os.chmod(tmp / "diffusion_pytorch_model.safetensors", 0o600)  # as some writers leave it
    finally:
        os.umask(mask)
    assert (tmp_path / "unet/diffusion_pytorch_model.safetensors").stat().st_mode & 0o777 == 0o644


# ---- your own dataset ----
def test_a_16_bit_image_is_rescaled_not_clipped(tmp_path):
    grey = np.full((10, 12), 40000, dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    pixel = np.asarray(square_image(tmp_path / "deep.png", 8))[0, 0]
    assert pixel.tolist() == [156, 156, 156]  # 40000 / 65535 * 255, where a plain conversion gives 255


@pytest.mark.parametrize("mode", ["P", "RGBA", "CMYK", "LA"])
def test_palette_alpha_and_cmyk_images_become_rgb(tmp_path, mode):
    image = Image.new("RGB", (8, 8), (200, 40, 40)).convert(mode)
    if mode in ("RGBA", "LA"):
        image.putalpha(0)  # fully transparent: the white background shows
    image.save(tmp_path / "x.png" if mode != "CMYK" else tmp_path / "x.jpg")
    rgb = np.asarray(square_image(tmp_path / ("x.png" if mode != "CMYK" else "x.jpg"), 4))
    assert rgb.shape == (4, 4, 3)
    expected = [255, 255, 255] if mode in ("RGBA", "LA") else [200, 40, 40]
    assert np.abs(rgb[0, 0].astype(int) - expected).max() <= 12


def test_a_float_image_is_refused_with_its_name(tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(DatasetError, match="f.tiff: 32-bit float image"):
        square_image(tmp_path / "f.tiff", 4)


def test_byo_csv_from_excel_with_bom_crlf_and_stray_spaces_is_read(tmp_path):
    settings = byo(tmp_path, rows_for())
    csv_path = tmp_path / "mine/labels.csv"
    text = csv_path.read_text().replace(",cat,", ",cat ,").replace(",dog,", ", dog,")
    csv_path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    table = build_folder(None, tmp_path / "images", "images", settings)
    assert sorted(table["label_name"].unique()) == ["cat", "dog"]  # "cat " is cat, not a third class


@pytest.mark.parametrize(("row", "message"), [
    ("../outside.png,cat,train,indoor", "leaves the dataset folder"),
    ("/etc/hostname,cat,train,indoor", "leaves the dataset folder"),
    ("img/tr0.png,dog,test,outdoor", "listed in two splits \\(test, train: a leak"),
    ("img/./tr1.png,cat,train,indoor", "listed twice"),
])
def test_byo_paths_that_escape_or_repeat_are_refused(tmp_path, row, message):
    settings = byo(tmp_path, rows_for())
    (tmp_path / "outside.png").write_bytes((tmp_path / "mine/img/tr0.png").read_bytes())
    with open(settings["csv"], "a") as f:
        f.write(row + "\n")
    with pytest.raises(DatasetError, match=message):
        checked_table(settings)


def test_byo_with_one_image_per_class_and_no_val_rows_is_refused_with_the_numbers(tmp_path):
    rows = ["img/a.png,cat,train,x", "img/b.png,dog,train,y", "img/c.png,dog,train,y", "img/d.png,cat,test,x",
            "img/e.png,dog,test,y"]
    settings = byo(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"at least 2 training images \(one is held out for validation.*"
                                           r"\{'cat': 1\}"):
        checked_table(settings)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda row: row.replace(",dog,", ",cat,"), r"every row has the label 'cat'; a classifier needs at least 2"),
    (lambda row: row.replace(",dog,", ",1,").replace(",cat,train", ",1.0,train"),
     r"the labels \['1', '1.0'\] are one number written in different ways"),
    (lambda row: row.rsplit(",", 1)[0] + ",indoor", r"every test image has its class's most frequent training bias"),
    (lambda row: row.replace(",indoor", ",1").replace(",outdoor", ",1.0") if "tr0" not in row else row,
     r"the bias values \['1', '1.0'\] are one number written in different ways"),
    (lambda row: row if "va" not in row else row.replace(",dog,", ",cat,"), r"no val rows for the class\(es\) \['dog'\]"),
])
def test_a_degenerate_byo_dataset_is_refused_when_planned(tmp_path, edit, message):
    settings = byo(tmp_path, [edit(row) for row in rows_for(with_val=True)])
    with pytest.raises(DatasetError, match=message):
        checked_table(settings)


def test_a_byo_image_too_large_to_decode_safely_is_named(tmp_path):
    settings = byo(tmp_path, rows_for())
    Image.new("1", (15000, 15000)).save(tmp_path / "mine/img/tr3.png")  # 225 Mpixel, a few kB as a PNG
    with pytest.raises(DatasetError, match=r"img/tr3.png \(.*labels.csv line 5\): Image size \(225000000 pixels\)"
                                           r".*Downscale it"):
        build_folder(None, tmp_path / "images", "images", settings)


def test_a_byte_identical_copy_in_another_split_is_a_leak(tmp_path):
    settings = byo(tmp_path, rows_for())
    (tmp_path / "mine/img/te1.png").write_bytes((tmp_path / "mine/img/tr3.png").read_bytes())  # renamed copy
    with pytest.raises(DatasetError, match=r"lines 5 and 11: the same image \(byte for byte\) is listed in train and "
                                           r"in test under two names"):
        build_folder(None, tmp_path / "images", "images", settings)


def test_a_bad_byo_csv_stops_the_workflow_before_any_job(tmp_path):
    import yaml
    from snakemake.utils import validate

    from ddb.workflow.planning import REPO, SCHEMA, Plan

    settings = byo(tmp_path, rows_for() + ["../outside.png,cat,train,indoor"])
    config = yaml.safe_load((REPO / "tests/tiny_config.yaml").read_text())
    config["datasets"] = {"mine": {"source": "folder", "folder": settings}}
    validate(config, str(SCHEMA))
    with pytest.raises(DatasetError, match="leaves the dataset folder"):
        Plan(config)


# ---- results ----
def test_a_run_on_another_dataset_keeps_the_earlier_rows(tmp_path):
    def metrics(dataset, method):
        path = tmp_path / f"results/{dataset}/debias/{method}/seed0/metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"dataset": dataset, "source": "builtin_shapes", "method": method, "seed": 0,
                                    "amplifier": None, "uses_bias_labels": False, "selection": "label_free",
                                    "avg_acc": 0.5, "per_group": []}))
        return path

    earlier, current = metrics("shapes", "erm"), metrics("waterbirds", "erm")
    collect.main(["--metrics", str(current), "--results-root", str(tmp_path / "results"), "--out-dir",
                  str(tmp_path / "tables")])
    table = pd.read_csv(tmp_path / "tables/summary.csv").set_index("dataset")
    assert table["in_config"].to_dict() == {"shapes": False, "waterbirds": True}
    assert earlier.exists() and "| shapes" in (tmp_path / "tables/summary.md").read_text()


def test_a_damaged_result_file_is_named_and_one_outside_the_config_is_left_out(shapes, tmp_path, caplog):
    from ddb import check_results
    from ddb.figures import group_accuracy

    def metrics(dataset):
        path = tmp_path / f"results/{dataset}/debias/erm/seed0/metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"dataset": dataset, "source": "builtin_shapes", "method": "erm", "seed": 0,
                                    "amplifier": None, "uses_bias_labels": False, "selection": "label_free",
                                    "avg_acc": 0.5, "per_group": []}))
        return path

    other, current = metrics("shapes"), metrics("waterbirds")
    other.write_text(other.read_text()[:40])  # cut short, as by a full disk or a killed copy
    collect.main(["--metrics", str(current), "--results-root", str(tmp_path / "results"), "--out-dir",
                  str(tmp_path / "tables")])
    assert pd.read_csv(tmp_path / "tables/summary.csv")["dataset"].tolist() == ["waterbirds"]
    assert f"left out of the tables: {other}: is not valid JSON" in caplog.text

    current.write_text(current.read_text()[:40])
    rebuild = f"snakemake --force {current}"
    with pytest.raises(DamagedArtifact, match=f"{current}: is not valid JSON.*{rebuild}"):
        check_results.main(["--metrics", str(current), "--out", str(tmp_path / "checked.tsv")])
    with pytest.raises(DamagedArtifact, match=f"{current}: is not valid JSON"):
        group_accuracy.main(["--metrics", str(current), "--debias-root", str(tmp_path / "results/waterbirds/debias"),
                             "--metadata", str(shapes), "--dataset", "waterbirds", "--out", str(tmp_path / "f.png")])
    current.write_text(json.dumps({"dataset": "waterbirds"}))  # valid JSON, but not a metrics.json
    with pytest.raises(DamagedArtifact, match="missing method, seed"):
        check_results.main(["--metrics", str(current), "--out", str(tmp_path / "checked.tsv")])
    assert not (tmp_path / "checked.tsv").exists()


def test_each_result_records_the_thread_count_that_changes_its_sums():
    from ddb.training.provenance import compute_record

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert compute_record(torch.device("cpu"))["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert compute_record(torch.device("cpu"))["device"].startswith("cpu: ")
