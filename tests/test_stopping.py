"""The stopping rule of the one training loop (ddb/training/loop.py): patience counts evaluations without a better
validation score; the loop stops there, records the steps it trained, and resumes a stopped run as stopped."""

import torch

from ddb.core.images import ImageSet
from ddb.core.settings import resolve_settings
from ddb.models.classifiers import small_cnn
from ddb.training.checkpoint import Checkpoint
from ddb.training.loop import BestKeeper, fit


def offers(scores, patience):
    """Feed ``scores`` (one per evaluation) to a BestKeeper; the evaluation index at which the rule stops, or None."""
    keeper, model = BestKeeper(), torch.nn.Linear(1, 1)
    for i, score in enumerate(scores, start=1):
        keeper.offer(model, score, step=i)
        if keeper.patience_exhausted(patience):
            return i, keeper.step
    return None, keeper.step


def test_patience_counts_evaluations_since_the_best_score():
    # best at evaluation 2; evaluations 3, 4, 5 do not beat it (a tie is not better) -> stop at 5 with patience 3
    assert offers([0.1, 0.5, 0.4, 0.5, 0.3, 0.9], patience=3) == (5, 2)
    # an improvement resets the count
    assert offers([0.1, 0.2, 0.1, 0.3, 0.2, 0.1], patience=3) == (None, 4)
    assert offers([0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.0], patience=3) == (7, 4)
    # patience 0: never stop early
    assert offers([1.0, 0.0, 0.0, 0.0], patience=0) == (None, 1)


def test_no_early_stop_before_min_steps():
    keeper, model = BestKeeper(), torch.nn.Linear(1, 1)
    # ERM on the built-in shapes, seed 2: the worst-class score sits at its floor 0.2 for evaluations 1-6
    for step in (100, 200, 300, 400, 500, 600):
        keeper.offer(model, 0.2, step)
    assert keeper.patience_exhausted(5) and keeper.stops_at(600, 5, min_steps=0)
    assert not keeper.stops_at(600, 5, min_steps=1000) and keeper.stops_at(1000, 5, min_steps=1000)
    assert not keeper.stops_at(2000, 0, min_steps=1000)  # patience 0 never stops


def tiny_training(tmp_path, scores, patience, steps=40, checkpoint=None, min_steps=0):
    settings = resolve_settings("classifier", {"batch_size": 4, "steps": steps, "eval_every": 2}) | {"lr": 1e-3}
    data = ImageSet(torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8), torch.arange(16) % 2,
                    [str(i) for i in range(16)])
    scores = iter(scores)
    model = small_cnn(2)
    return fit(model, data, settings, steps, torch.Generator().manual_seed(0), torch.device("cpu"), eval_every=2,
               validate=lambda m: (next(scores), {}), patience=patience, checkpoint=checkpoint,
               min_steps=min_steps)


def test_fit_stops_after_patience_evaluations_and_logs_the_steps_it_trained(tmp_path):
    best, history = tiny_training(tmp_path, [0.1, 0.3, 0.2, 0.2, 0.1, 0.9, 0.9], patience=3)
    assert [row["step"] for row in history] == [2, 4, 6, 8, 10]  # evaluation 5 is the third without a better score
    assert best.step == 4
    assert all(row["update_norm"] > 0 for row in history)
    best, history = tiny_training(tmp_path, [float(i) for i in range(20)], patience=3)
    assert history[-1]["step"] == 40  # always improving: the cap
    best, history = tiny_training(tmp_path, [0.2] * 20, patience=3, min_steps=16)
    assert history[-1]["step"] == 16 and best.step == 2  # stalled from the start: kept training until min_steps


def test_a_run_killed_after_stopping_resumes_as_stopped(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run", {"test": 1}, every=2)
    tiny_training(tmp_path, [0.5, 0.1, 0.1], patience=2, checkpoint=checkpoint)  # stops at step 6, state saved
    resumed = Checkpoint(tmp_path / "run", {"test": 1}, every=2)
    best, history = tiny_training(tmp_path, [], patience=2, checkpoint=resumed)  # no evaluation left to run
    assert [row["step"] for row in history] == [2, 4, 6] and best.step == 2
