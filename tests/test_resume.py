"""Killed training resumes from its checkpoint and ends with the same weights as an uninterrupted run (CPU, same
seed); and the same seed twice gives identical amplifier scores."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import ENV, REPO, prepared_shapes, store_of

pytestmark = pytest.mark.slow  # real stage runs (make test-fast leaves them out)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return prepared_shapes(tmp_path_factory.mktemp("data"), num_classes=3, image_size=16, n_train=90, n_val=18,
                           n_test=18, conflicting_ratio=0.05)


def run_stage(args, out: Path, kill_at_checkpoint: bool = False, checkpoint_name: str = "checkpoint") -> str:
    """Run ``python -m ddb.<stage> ...``; optionally SIGKILL it as soon as its first checkpoint of that name exists."""
    checkpoint = out.with_name(f"{out.name}.{checkpoint_name}.pt")
    verified = checkpoint.with_name(checkpoint.name + ".sha256")  # written once the checkpoint is complete
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if kill_at_checkpoint:
        deadline = time.monotonic() + 300
        while not verified.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert not out.exists() and checkpoint.exists()  # nothing that looks complete, a state to resume from
        return ""
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-3000:]
    assert not list(out.parent.glob(f"{out.name}.*.pt"))  # every checkpoint removed once the output is complete
    return output


def tensors(path: Path) -> dict:
    return load_file(path)


@pytest.mark.parametrize("method", ["erm", "lff", "groupdro_oracle"])
def test_killed_classifier_training_resumes_to_the_same_weights(tiny_data, tmp_path, method):
    settings = json.dumps({"steps": 120, "batch_size": 16, "eval_every": 20, "checkpoint_every": 20, "checkpoint_minutes": 0})
    args = lambda out: ["ddb.train_debiased", "--method", method, "--metadata", str(tiny_data), "--store", store_of(tiny_data), "--seed", "3",
                        "--out", str(out), "--settings", settings, "--threads", "1"]
    run_stage(args(tmp_path / "straight"), tmp_path / "straight")
    run_stage(args(tmp_path / "resumed"), tmp_path / "resumed", kill_at_checkpoint=True)
    log = run_stage(args(tmp_path / "resumed"), tmp_path / "resumed")
    assert "resuming from" in log
    a, b = tensors(tmp_path / "straight/model.safetensors"), tensors(tmp_path / "resumed/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "straight/training_log.csv").read_text() == (tmp_path / "resumed/training_log.csv").read_text()


def test_jtt_killed_after_identification_resumes_without_training_it_again(tiny_data, tmp_path):
    settings = json.dumps({"steps": 60, "batch_size": 16, "eval_every": 20, "checkpoint_every": 20, "checkpoint_minutes": 0})
    args = lambda out: ["ddb.train_debiased", "--method", "jtt", "--metadata", str(tiny_data), "--store", store_of(tiny_data), "--seed", "1",
                        "--out", str(out), "--settings", settings, "--method-settings", '{"identification_epochs": 2}',
                        "--threads", "1"]
    run_stage(args(tmp_path / "straight"), tmp_path / "straight")
    run_stage(args(tmp_path / "resumed"), tmp_path / "resumed", kill_at_checkpoint=True,
              checkpoint_name="identification")
    log = run_stage(args(tmp_path / "resumed"), tmp_path / "resumed")
    assert "resumed.identification.pt after step 10" in log, log
    assert "jtt identification step 10/10" not in log  # restored, not trained again
    a, b = tensors(tmp_path / "straight/model.safetensors"), tensors(tmp_path / "resumed/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_killed_diffusion_training_resumes_to_the_same_weights(tiny_data, tmp_path):
    settings = json.dumps({"image_size": 16, "block_out_channels": [8, 16], "norm_num_groups": 4,
                           "num_train_timesteps": 50, "steps": 100, "batch_size": 8, "warmup_steps": 5,
                           "log_every": 10, "checkpoint_every": 10, "checkpoint_minutes": 0, "dropout": 0.1})
    args = lambda out: ["ddb.train_diffusion", "--metadata", str(tiny_data), "--store", store_of(tiny_data), "--out", str(out), "--settings", settings,
                        "--threads", "1"]
    run_stage(args(tmp_path / "straight"), tmp_path / "straight")
    run_stage(args(tmp_path / "resumed"), tmp_path / "resumed", kill_at_checkpoint=True)
    assert "resuming from" in run_stage(args(tmp_path / "resumed"), tmp_path / "resumed")
    weights = "unet/diffusion_pytorch_model.safetensors"
    a, b = tensors(tmp_path / "straight" / weights), tensors(tmp_path / "resumed" / weights)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_other_settings_is_not_resumed(tiny_data, tmp_path):
    base = {"steps": 300, "batch_size": 16, "eval_every": 20, "checkpoint_every": 20, "checkpoint_minutes": 0}
    args = lambda s: ["ddb.train_debiased", "--method", "erm", "--metadata", str(tiny_data), "--store", store_of(tiny_data), "--out",
                      str(tmp_path / "m"), "--settings", json.dumps(s), "--threads", "1"]
    run_stage(args(base), tmp_path / "m", kill_at_checkpoint=True)
    log = run_stage(args({**base, "lr": 0.002}), tmp_path / "m")
    assert "resuming from" not in log and "written for other settings or inputs" in log


def test_same_seed_gives_identical_scores(tiny_data, tmp_path):
    from ddb.core.tables import read_table

    scores = []
    for run in ("a", "b"):
        amp = tmp_path / run / "amplifier"
        subprocess.run([sys.executable, "-m", "ddb.train_amplifier", "--real-metadata", str(tiny_data), "--store", store_of(tiny_data), "--out",
                        str(amp), "--settings", '{"epochs": 2, "batch_size": 16}', "--threads", "1"],
                       cwd=REPO, env=ENV, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "ddb.score_real", "--amplifier", str(amp), "--metadata", str(tiny_data), "--store", store_of(tiny_data),
                        "--out", str(tmp_path / run / "scores.parquet"), "--threads", "1"],
                       cwd=REPO, env=ENV, check=True, capture_output=True)
        scores.append(read_table(tmp_path / run / "scores.parquet", "scores"))
    assert scores[0].equals(scores[1])


def test_killed_amplifier_training_resumes_to_the_same_weights(tiny_data, tmp_path):
    args = lambda out: ["ddb.train_amplifier", "--real-metadata", str(tiny_data), "--store", store_of(tiny_data), "--out", str(out), "--settings",
                        '{"epochs": 60, "batch_size": 16}', "--threads", "1"]
    run_stage(args(tmp_path / "straight"), tmp_path / "straight")
    run_stage(args(tmp_path / "resumed"), tmp_path / "resumed", kill_at_checkpoint=True)
    assert "resuming from" in run_stage(args(tmp_path / "resumed"), tmp_path / "resumed")
    a, b = tensors(tmp_path / "straight/model.safetensors"), tensors(tmp_path / "resumed/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_damaged_on_disk_is_moved_aside_and_the_rerun_succeeds(tiny_data, tmp_path):
    settings = json.dumps({"steps": 120, "batch_size": 16, "eval_every": 20, "checkpoint_every": 20, "checkpoint_minutes": 0})
    args = lambda out: ["ddb.train_debiased", "--method", "erm", "--metadata", str(tiny_data), "--store", store_of(tiny_data), "--seed", "3",
                        "--out", str(out), "--settings", settings, "--threads", "1"]
    run_stage(args(tmp_path / "straight"), tmp_path / "straight")
    run_stage(args(tmp_path / "m"), tmp_path / "m", kill_at_checkpoint=True)
    checkpoint = tmp_path / "m.checkpoint.pt"
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2: len(data) // 2 + 2048] = bytes(2048)  # 2 kB of a weight tensor overwritten
    checkpoint.write_bytes(bytes(data))
    log = run_stage(args(tmp_path / "m"), tmp_path / "m")
    assert "is damaged or unreadable" in log and "moved to" in log and "resuming from" not in log
    assert not (tmp_path / "m.checkpoint.pt.damaged").exists()  # kept aside while unfinished, removed at the end
    a, b = tensors(tmp_path / "straight/model.safetensors"), tensors(tmp_path / "m/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # started afresh: the weights of a run never interrupted
