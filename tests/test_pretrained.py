"""Pretrained weights are staged on the login node (rule stage_weights) and read from there: fetched with their
checksum from a local server, refused when the bytes differ, and a job that starts from them runs with the network
cut off (compute nodes have none)."""

import copy
import hashlib
import json
import subprocess
import sys

import pytest
import torch
import yaml
from snakemake.utils import validate

from ddb import stage_weights
from ddb.models.classifiers import build_classifier
from ddb.models.pretrained import WEIGHTS
from ddb.models.staged import staged_state_dict
from ddb.workflow.planning import REPO, SCHEMA, Plan
from helpers import ENV, prepared_shapes, store_of
from rehearsal import fixture_weights

# what a compute node without internet does to a connection: refuse it
NO_NETWORK = """import socket
def _refuse(*args, **kwargs):
    raise OSError("network unreachable (a compute node)")
socket.socket.connect = _refuse
socket.create_connection = _refuse
"""


def stage(file_server, tmp_path, name="resnet18", sha256=None, optional=False):
    data = fixture_weights(name)
    file_server.files[f"/w/{name}.pth"] = data
    source = {"url": f"{file_server.url}/w/{name}.pth", "sha256": sha256 or hashlib.sha256(data).hexdigest()}
    out = tmp_path / "weights" / name
    stage_weights.main(["--weight", name, "--downloads", str(tmp_path / "downloads"), "--out", str(out),
                        "--settings", json.dumps(source), *(["--optional"] if optional else [])])
    return out


def test_torchvision_files_are_pinned_to_their_published_sha256():
    for remote in WEIGHTS.values():  # torchvision names each file by the first 8 hex digits of its sha256
        assert remote.checksum.removeprefix("sha256:").startswith(remote.name.rsplit("-", 1)[1].removesuffix(".pth"))


def test_weights_are_staged_with_their_checksum_and_load_as_the_model_they_came_from(file_server, tmp_path):
    folder = stage(file_server, tmp_path)
    assert json.loads((folder / "weights.json").read_text())["available"] is True
    assert (folder / "MANIFEST.sha256").exists()
    model = build_classifier("resnet18", 3, "yes", folder)
    expected = torch.load(__import__("io").BytesIO(fixture_weights("resnet18")), weights_only=True)
    assert torch.equal(model[1].conv1.weight, expected["conv1.weight"])  # the staged values, not a fresh init
    assert model[1].fc.out_features == 3  # a new head for the dataset's classes
    assert staged_state_dict(folder).keys() == expected.keys()


def test_bytes_that_are_not_the_published_file_are_refused_with_the_fix(file_server, tmp_path):
    with pytest.raises(SystemExit, match=r"(?s)staging the resnet18 weights failed.*checksum.*place resnet18.pth"):
        stage(file_server, tmp_path, sha256="0" * 64)
    assert not (tmp_path / "weights/resnet18").exists()
    folder = stage(file_server, tmp_path / "auto", sha256="0" * 64, optional=True)  # pretrained: auto
    assert json.loads((folder / "weights.json").read_text())["available"] is False
    with pytest.warns(UserWarning, match="ImageNet weights for resnet18 unavailable"):
        build_classifier("resnet18", 3, "auto", folder)
    with pytest.raises(SystemExit, match="pretrained: yes needs its ImageNet weights"):
        build_classifier("resnet18", 3, "yes", folder)


@pytest.mark.slow
def test_a_job_starting_from_pretrained_weights_runs_with_the_network_cut_off(file_server, tmp_path):
    folder = stage(file_server, tmp_path)
    metadata = prepared_shapes(tmp_path / "data", num_classes=2, image_size=32, n_train=20, n_val=8, n_test=8)
    (tmp_path / "site").mkdir()
    (tmp_path / "site/sitecustomize.py").write_text(NO_NETWORK)
    env = {**ENV, "PYTHONPATH": str(tmp_path / "site"), "TORCH_HOME": str(tmp_path / "empty_torch_home")}
    settings = json.dumps({"arch": "resnet18", "pretrained": "yes", "steps": 2, "batch_size": 4, "eval_every": 1,
                           "min_steps": 0})
    command = [sys.executable, "-m", "ddb.train_debiased", "--method", "erm", "--metadata", str(metadata),
               "--store", store_of(metadata), "--out", str(tmp_path / "model"), "--settings", settings,
               "--threads", "1"]
    unstaged = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert unstaged.returncode != 0 and "rule stage_weights" in unstaged.stderr
    staged = subprocess.run(command + ["--pretrained-weights", str(folder)], cwd=REPO, env=env, capture_output=True,
                            text=True)
    assert staged.returncode == 0, staged.stderr[-3000:]
    assert not (tmp_path / "empty_torch_home").exists()  # torch.hub was never asked


def plan(**changes) -> Plan:
    config = yaml.safe_load((REPO / "tests" / "tiny_config.yaml").read_text())
    config.update(copy.deepcopy(changes))
    validate(config, str(SCHEMA))
    return Plan(config)


def test_planning_stages_the_weights_each_classifier_starts_from():
    p = plan(classifier={"arch": "resnet50", "pretrained": "yes"}, amplifier={"arch": "resnet18", "pretrained": "auto"})
    assert p.classifier_weights(p.section("shapes", "classifier")) == {"pretrained_weights": "results/weights/resnet50"}
    assert p.classifier_weights(p.section("shapes", "amplifier")) == {"pretrained_weights": "results/weights/resnet18"}
    assert p.classifier_weights({"arch": "small_cnn", "pretrained": "yes"}) == {}
    assert p.weight_optional("resnet18") and not p.weight_optional("resnet50")  # auto only / yes somewhere
    source = {"url": "https://example.org/r50.pth", "sha256": "a" * 64}
    assert plan(pretrained_weights={"resnet50": source}).weight_source("resnet50") == source
