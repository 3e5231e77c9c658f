"""Amplifiers and the bias classifier by epochs (ddb/training/holdout.py): the kept epoch follows select_epoch, and
the held-out accuracy of that epoch is recorded with the model."""

import json

import pandas as pd
import pytest
import torch

from ddb.core.images import ImageSet
from ddb.core.settings import resolve_settings
from ddb.training.holdout import train_with_holdout


@pytest.mark.parametrize("select_epoch", ["holdout_loss", "last"])
def test_the_kept_epoch_follows_select_epoch(tmp_path, select_epoch):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (40, 3, 8, 8), dtype=torch.uint8, generator=generator)
    data = ImageSet(images, torch.arange(40) % 2, [str(i) for i in range(40)])  # noise: held-out loss wanders
    settings = resolve_settings("amplifier", {"epochs": 6, "batch_size": 8, "holdout_fraction": 0.25,
                                              "select_epoch": select_epoch, "lr": 0.01})
    train_with_holdout(data, 2, settings, torch.device("cpu"), tmp_path / "m", {"trained_on": "test"}, {}, "t", "x.lr")
    info = json.loads((tmp_path / "m/model.json").read_text())
    log = pd.read_csv(tmp_path / "m/training_log.csv").set_index("epoch")
    kept = 6 if select_epoch == "last" else int(log["holdout_loss"].idxmin())
    assert info["best_epoch"] == kept and info["trained_on"] == "test"
    assert info["holdout_acc"] == pytest.approx(log.loc[kept, "holdout_acc"])
