"""A frozen amplifier sees images at the resolution it was trained on, wherever it is used: Recipe II resizes the
target model's batch to it (antialiased), scoring and measuring stop on a store at another resolution."""

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ddb import measure_bias, score_real
from ddb.core.integrity import write_manifest
from ddb.core.settings import resolve_settings
from ddb.methods import ddb_ii
from ddb.models.classifiers import load_classifier, save_classifier, small_cnn
from tests.helpers import prepared_shapes, store_of


def saved_classifier(folder, image_size: int, num_classes: int = 3, **info):
    torch.manual_seed(0)
    save_classifier(small_cnn(num_classes), folder, {"arch": "small_cnn", "num_classes": num_classes,
                                                     "image_size": image_size, "holdout_acc": 1.0, **info})
    write_manifest(folder)
    return folder


def test_recipe_ii_resizes_the_target_batch_to_the_amplifier_resolution(tmp_path):
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    context = SimpleNamespace(amplifier=saved_classifier(tmp_path / "amplifier", 16), device=torch.device("cpu"),
                              train=SimpleNamespace(labels=labels),
                              method_settings=resolve_settings("recipes")["ddb_ii"])
    objective = ddb_ii.objective(context)
    seen = []  # the input size of the amplifier's first convolution, however the method wraps it
    first_conv = next(m for m in objective.amplifier.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[-2:])))
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # the target model's 32 px batch
    objective.loss(torch.arange(8), images, labels, torch.ones(8))
    assert seen == [(16, 16)]

    raw = load_classifier(context.amplifier)[0]
    shrunk = F.interpolate(images, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(objective.amplifier(images), raw(shrunk))
    at_16 = images[:, :, ::2, ::2]  # a batch already at the amplifier's side goes through bit for bit
    assert torch.equal(objective.amplifier(at_16), raw(at_16))
    assert not objective.amplifier.training and not objective.amplifier.classifier.training


@pytest.mark.parametrize("stage", ["score_real", "measure_bias"])
def test_a_store_at_another_resolution_stops_the_stage_naming_both(tmp_path, stage):
    metadata = prepared_shapes(tmp_path / "data", n_train=12, n_val=6, n_test=6, num_classes=3, image_size=32)
    classifier = saved_classifier(tmp_path / "amplifier", 16)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        if stage == "score_real":
            score_real.main(["--amplifier", str(classifier), "--metadata", str(metadata), "--store",
                             store_of(metadata), "--out", str(out)])
        else:
            measure_bias.main(["--classifier", str(classifier), "--metadata", str(metadata), "--real", "--store",
                               store_of(metadata), "--dataset", "shapes", "--measured", "real", "--out", str(out)])
    message = str(stopped.value)
    assert str(classifier) in message and "trained on 16 px" in message and "are 32 px" in message
    assert store_of(metadata) in message and not out.exists()


def test_recipe_ii_group_table_averages_each_class_and_alignment():
    from ddb.tools.recipe_ii_groups import group_table, sample_table

    labels = torch.tensor([0, 0, 1, 1])
    aligned = pd.Series([True, False, True, True])
    amp_logits = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])  # wrong on the conflicting 0 and one 1
    model_logits = torch.zeros(4, 2)  # the model's loss is ln 2 everywhere
    table = group_table(sample_table(labels, aligned, amp_logits, model_logits)).set_index(["label", "aligned"])
    assert table["n"].to_dict() == {(0, False): 1, (0, True): 1, (1, True): 2}
    assert table.loc[(1, True), "amp_acc"] == 0.5
    amp_loss = F.cross_entropy(amp_logits, labels, reduction="none")
    weights = amp_loss / (amp_loss + torch.log(torch.tensor(2.0)))
    assert table.loc[(0, False), "W"] == pytest.approx(float(weights[1]), rel=1e-5)
    assert table.loc[(1, True), "W"] == pytest.approx(float(weights[2:].mean()), rel=1e-5)
    at_chance = amp_loss / (amp_loss + torch.log(torch.tensor(2.0)))  # W against a model at chance: the same here
    assert table.loc[(0, False), "W_start"] == pytest.approx(float(at_chance[1]), rel=1e-5)


def test_recipe_ii_divides_the_amplifier_logits_by_its_temperature(tmp_path):
    labels = torch.tensor([0, 1, 2, 0])
    amplifier = saved_classifier(tmp_path / "amplifier", 16)
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))

    def weights(temperature):
        settings = resolve_settings("recipes")["ddb_ii"] | {"amplifier_temperature": temperature}
        context = SimpleNamespace(amplifier=amplifier, device=torch.device("cpu"),
                                  train=SimpleNamespace(labels=labels), method_settings=settings)
        objective = ddb_ii.objective(context)
        objective.loss(torch.arange(4), images, labels, torch.ones(4))
        return objective.weights.total

    raw = load_classifier(amplifier)[0]
    amp_loss = F.cross_entropy(raw(images) / 2.0, labels, reduction="none")
    torch.testing.assert_close(weights(2.0), (amp_loss / (amp_loss + 1 + 1e-8)).sum())
    amp_loss = F.cross_entropy(raw(images), labels, reduction="none")
    torch.testing.assert_close(weights(1.0), (amp_loss / (amp_loss + 1 + 1e-8)).sum())
