import pytest
import torch

from ddb.algorithms import diffusion, sampling
from ddb.core.settings import resolve_settings
from ddb.models.unet import build_unet

TINY = {"image_size": 8, "block_out_channels": [8, 16], "norm_num_groups": 4, "num_train_timesteps": 20}


def test_cfg_combine_is_one_plus_w_convention():
    cond, uncond = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    assert sampling.cfg_combine(cond, uncond, 1.0).tolist() == [3.0, -3.0]  # 2*cond - uncond
    assert sampling.cfg_combine(cond, uncond, 0.0).tolist() == cond.tolist()  # w = 0: plain conditional
    # w <-> diffusers scale s = 1 + w: uncond + s (cond - uncond)
    s = 1 + 2.5
    assert torch.allclose(sampling.cfg_combine(cond, uncond, 2.5), uncond + s * (cond - uncond))


def test_drop_labels_is_per_sample_and_seeded():
    labels = torch.zeros(20000, dtype=torch.long)
    dropped = diffusion.drop_labels(labels, 0.1, 7, torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, 7}
    assert (dropped == 7).float().mean().item() == pytest.approx(0.1, abs=0.01)
    again = diffusion.drop_labels(labels, 0.1, 7, torch.Generator().manual_seed(0))
    assert torch.equal(dropped, again)


def test_unet_has_a_null_class_and_trains():
    settings = resolve_settings("diffusion", TINY)
    unet = build_unet(settings, num_classes=3)
    assert unet.config.num_class_embeds == 4  # 3 classes + null
    scheduler = diffusion.build_noise_scheduler(settings)
    assert scheduler.config.beta_end == 0.028 and scheduler.config.variance_type == "fixed_large"
    images = torch.rand(4, 3, 8, 8) * 2 - 1
    loss = diffusion.diffusion_loss(unet, scheduler, images, torch.tensor([0, 1, 2, 3]), torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and unet.class_embedding.weight.grad[3].abs().sum() > 0  # null row is trained


@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpmsolver++"])
def test_sampling_is_seeded_and_bounded(name):
    settings = resolve_settings("diffusion", TINY)
    unet = build_unet(settings, num_classes=2).eval()
    config = diffusion.build_noise_scheduler(settings).config
    run = lambda: sampling.sample(unet, sampling.sampling_scheduler(name, config), torch.tensor([0, 1, 1]), 1.0, 3,
                                   torch.Generator().manual_seed(5), null_label=2)
    first, second = run(), run()
    assert first.shape == (3, 3, 8, 8)
    assert torch.equal(first, second)
    assert first.min() >= -1 and first.max() <= 1
    assert sampling.to_uint8(first).shape == (3, 8, 8, 3)


def test_unet_shape_errors_are_explained():
    with pytest.raises(ValueError, match="not divisible"):
        build_unet(resolve_settings("diffusion", TINY | {"image_size": 9}), 2)
    with pytest.raises(ValueError, match="attention_levels"):
        build_unet(resolve_settings("diffusion", TINY | {"attention_levels": [5]}), 2)


def test_paper_preset_builds_the_author_unet_shape():
    import yaml
    from pathlib import Path

    preset = yaml.safe_load((Path(__file__).parents[1] / "configs" / "paper.yaml").read_text())
    settings = resolve_settings("diffusion", preset["diffusion"])
    unet = build_unet(settings, num_classes=2)
    assert unet.config.block_out_channels == (128, 256, 256, 256) and unet.config.layers_per_block == 2
    assert unet.config.down_block_types == ("AttnDownBlock2D",) * 4  # attention at every down resolution
    assert unet.config.up_block_types == ("UpBlock2D",) * 4  # none in the up path
    assert unet.config.dropout == 0.15 and unet.config.sample_size == 64
    assert unet.config.num_class_embeds == 3
    sampling = resolve_settings("sampling", preset["sampling"])
    assert (sampling["scheduler"], sampling["num_inference_steps"], sampling["images_per_class"]) == ("ddpm", 1000, 1000)


def test_precision_auto_uses_bf16_only_where_measured(monkeypatch):
    from ddb.training import device as training
    cpu = torch.device("cpu")
    assert training.uses_bf16(cpu, "bf16") and not training.uses_bf16(cpu, "fp32", cpu_auto=True)
    for native in (True, False):
        monkeypatch.setattr(training, "native_bf16", lambda device, native=native: native)
        assert training.uses_bf16(cpu, "auto", cpu_auto=True) is native  # sampling: the sampler check measured it
        assert training.uses_bf16(cpu, "auto") is False                   # CPU training stays fp32
