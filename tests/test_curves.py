"""TensorBoard event files (ddb/training/curves.py): switched on, a training stage's log rows are scalars kept in
its output; a resumed run does not show the rows it wrote twice; switched off, TensorBoard is never imported (nor
torchvision by a small CNN's job: each would add seconds to every job's start-up)."""

import subprocess
import sys

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ddb.training.curves import TENSORBOARD_ENV, Curves
from helpers import ENV, REPO

# a 6-epoch amplifier on 40 noise images, in memory (the stage module of train_amplifier and train_bias_classifier)
TRAIN = """
import torch
from ddb.core.images import ImageSet
from ddb.core.settings import resolve_settings
from ddb.training.holdout import train_with_holdout
generator = torch.Generator().manual_seed(0)
data = ImageSet(torch.randint(0, 255, (40, 3, 8, 8), dtype=torch.uint8, generator=generator), torch.arange(40) % 2,
                [str(i) for i in range(40)])
settings = resolve_settings("amplifier", {"epochs": 6, "batch_size": 8, "holdout_fraction": 0.25})
train_with_holdout(data, 2, settings, torch.device("cpu"), OUT, {"trained_on": "test"}, {}, "amplifier", "x.lr")
"""


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Tag -> (step, value) of every event TensorBoard shows, in order (a step written twice would show twice)."""
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def train(out, env_value: str | None) -> str:
    """TRAIN in a fresh interpreter; returns the TensorBoard and torchvision modules it imported."""
    env = {key: value for key, value in ENV.items() if key != TENSORBOARD_ENV}
    env |= {TENSORBOARD_ENV: env_value} if env_value else {}
    script = f"OUT = {str(out)!r}\n{TRAIN}\nimport sys\nprint(sorted(m for m in sys.modules if 'tensorboard' in m or 'torchvision' in m))"
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_switched_on_the_training_log_rows_are_scalars_kept_in_the_output(tmp_path):
    assert "torch.utils.tensorboard" in train(tmp_path / "m", "yes")
    log = pd.read_csv(tmp_path / "m/training_log.csv")
    curves = scalars(tmp_path / "m/tensorboard")
    assert set(curves) == set(log.columns) - {"epoch", "step"}  # every logged column, named like it
    for column, values in curves.items():
        assert [step for step, _ in values] == log["step"].tolist()
        assert [value for _, value in values] == pytest.approx(log[column].tolist(), rel=1e-6)  # stored as float32
    assert not (tmp_path / "m.tensorboard").exists()  # the live folder goes once the output is in place


def test_switched_off_neither_tensorboard_nor_torchvision_is_imported_and_nothing_is_written(tmp_path):
    assert train(tmp_path / "m", None) == "[]" == train(tmp_path / "n", "no")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "n"]
    assert not (tmp_path / "m/tensorboard").exists() and (tmp_path / "m/training_log.csv").exists()


def test_a_resumed_run_shows_each_step_once(tmp_path, monkeypatch):
    monkeypatch.setenv(TENSORBOARD_ENV, "yes")
    killed = Curves(tmp_path / "m")
    killed.start(1)
    for step in range(1, 7):  # killed after step 6, its last checkpoint at step 4
        killed.add({"step": step, "train_loss": 1.0})
    killed.close()
    resumed = Curves(tmp_path / "m")
    resumed.start(5)
    for step in range(5, 9):
        resumed.add({"step": step, "train_loss": 2.0, "method": "erm", "stopped": True})  # only numbers are curves
    resumed.keep(tmp_path)
    assert scalars(tmp_path / "tensorboard") == {"train_loss": [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 2.0),
                                                                (6, 2.0), (7, 2.0), (8, 2.0)]}


def test_a_fresh_run_clears_what_a_failed_one_left(tmp_path, monkeypatch):
    monkeypatch.setenv(TENSORBOARD_ENV, "yes")
    for value in (1.0, 2.0):
        curves = Curves(tmp_path / "m")
        curves.start(1)
        curves.add({"step": 3, "train_loss": value})
        curves.close()
    assert scalars(tmp_path / "m.tensorboard") == {"train_loss": [(3, 2.0)]}


def test_a_run_switched_off_removes_what_one_switched_on_left_and_keeps_none_of_it(tmp_path, monkeypatch):
    monkeypatch.setenv(TENSORBOARD_ENV, "yes")
    killed = Curves(tmp_path / "m")
    killed.start(1)
    killed.add({"step": 1, "train_loss": 1.0})
    monkeypatch.setenv(TENSORBOARD_ENV, "no")
    finished = Curves(tmp_path / "m")
    finished.start(1)
    (tmp_path / "out").mkdir()
    finished.keep(tmp_path / "out")
    finished.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not list((tmp_path / "out").iterdir())


def test_a_wrong_switch_value_says_which_values_work(monkeypatch):
    monkeypatch.setenv(TENSORBOARD_ENV, "1")
    with pytest.raises(ValueError, match="use yes or no"):
        Curves("out")
