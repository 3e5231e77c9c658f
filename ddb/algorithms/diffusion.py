"""Class-conditional diffusion with classifier-free guidance (CFG), built from diffusers parts (no I/O here).

Notation (DDPM, Ho et al. 2020; CFG, Ho & Salimans 2022; DDB author code):
  x_0 = clean_images in [-1, 1]; eps = noise ~ N(0, I); t = timesteps ~ U{0..T-1}
  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps                      (noise_scheduler.add_noise)
  training loss  = || eps - eps_theta(x_t, t, y~) ||^2, y~ = null with probability p_uncond (per sample)
  guided noise   = (1 + w) eps_theta(x_t, t, y) - w eps_theta(x_t, t, null)   (w = 1 in the paper; s = 1 + w)
The null condition is class index K (the DiT convention): the UNet has K + 1 class embeddings.
"""

from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DModel


def build_unet(settings: dict, num_classes: int) -> UNet2DModel:
    """UNet2DModel with ``num_classes + 1`` class embeddings (the last one is the null condition)."""
    levels = len(settings["block_out_channels"])
    attention = set(settings["attention_levels"])
    if max(attention, default=0) >= levels:
        raise ValueError(f"attention_levels {sorted(attention)} name a level >= the {levels} UNet levels")
    if settings["image_size"] % 2 ** (levels - 1):
        raise ValueError(f"image_size {settings['image_size']} is not divisible by 2^{levels - 1} ({levels} UNet levels)")
    down = tuple("AttnDownBlock2D" if i in attention else "DownBlock2D" for i in range(levels))
    up_attention = attention if settings["attention_in_up_path"] else set()
    up = tuple("AttnUpBlock2D" if i in up_attention else "UpBlock2D" for i in reversed(range(levels)))
    return UNet2DModel(
        sample_size=settings["image_size"],
        in_channels=3,
        out_channels=3,
        block_out_channels=tuple(settings["block_out_channels"]),
        layers_per_block=settings["layers_per_block"],
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=settings["norm_num_groups"],
        dropout=settings["dropout"],
        num_class_embeds=num_classes + 1,
    )


def build_noise_scheduler(settings: dict) -> DDPMScheduler:
    """The training (forward-process) schedule; DDB: T = 1000, linear beta 1e-4 -> 0.028, fixed-large variance."""
    return DDPMScheduler(
        num_train_timesteps=settings["num_train_timesteps"],
        beta_start=settings["beta_start"],
        beta_end=settings["beta_end"],
        beta_schedule="linear",
        variance_type="fixed_large",
        clip_sample=False,
        prediction_type="epsilon",
    )


def sampling_scheduler(name: str, train_config: dict, clip_denoised: bool = True):
    """A sampler sharing the training schedule: ddpm (ancestral), ddim (eta = 0) or dpmsolver++ (multistep).

    ``clip_denoised`` clips each step's x_0 estimate to [-1, 1]. With DDB's schedule (beta_end = 0.028, so
    sqrt(abar_t) ~ 1e-3 over the last few hundred steps) a deterministic sampler otherwise amplifies small
    noise-prediction errors several-hundred-fold and diverges; the author code's ancestral sampler does not clip.
    """
    if name == "ddpm":
        return DDPMScheduler.from_config(train_config, clip_sample=clip_denoised, clip_sample_range=1.0)
    if name == "ddim":
        return DDIMScheduler.from_config(train_config, clip_sample=clip_denoised, clip_sample_range=1.0)
    if name == "dpmsolver++":
        # dpmsolver++ predicts x_0 internally; thresholding with ratio 1.0 at max 1.0 is the same clip.
        return DPMSolverMultistepScheduler.from_config(
            train_config, algorithm_type="dpmsolver++", solver_order=2,
            thresholding=clip_denoised, dynamic_thresholding_ratio=1.0, sample_max_value=1.0)
    raise ValueError(f"unknown sampling scheduler {name!r}; use ddpm, ddim or dpmsolver++")


def drop_labels(labels: torch.Tensor, p_uncond: float, null_label: int, generator: torch.Generator) -> torch.Tensor:
    """Replace each label by ``null_label`` independently with probability ``p_uncond`` (per-sample CFG dropout)."""
    drop = torch.rand(labels.shape, generator=generator, device=labels.device) < p_uncond
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def diffusion_loss(unet, noise_scheduler, clean_images, labels, generator: torch.Generator) -> torch.Tensor:
    """Noise-prediction MSE at uniformly drawn timesteps (labels already dropped to null where intended)."""
    noise = torch.randn(clean_images.shape, generator=generator, device=clean_images.device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (clean_images.shape[0],),
                              generator=generator, device=clean_images.device)
    noisy_images = noise_scheduler.add_noise(clean_images, noise, timesteps)  # the forward diffusion process
    noise_pred = unet(noisy_images, timesteps, class_labels=labels).sample
    return torch.nn.functional.mse_loss(noise_pred.float(), noise.float())


def cfg_combine(noise_pred_cond: torch.Tensor, noise_pred_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """DDB's guidance: (1 + w) * eps(x, t, y) - w * eps(x, t, null)."""
    return (1 + w) * noise_pred_cond - w * noise_pred_uncond


@torch.no_grad()
def sample(unet, scheduler, labels: torch.Tensor, w: float, num_inference_steps: int,
           generator: torch.Generator, null_label: int, on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Generate one image per entry of ``labels`` with CFG; returns images in [-1, 1], shape (N, 3, H, W).

    Conditional and null predictions come from one batched UNet call (batched CFG). ``on_step`` is called after
    every denoising step (progress reporting)."""
    size = unet.config.sample_size
    device = labels.device
    images = torch.randn((len(labels), 3, size, size), generator=generator, device=device)
    images = images * scheduler.init_noise_sigma
    scheduler.set_timesteps(num_inference_steps, device=device)
    both_labels = torch.cat([labels, torch.full_like(labels, null_label)])
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([images, images]), t)
        noise_pred_cond, noise_pred_uncond = unet(model_input, t, class_labels=both_labels).sample.chunk(2)
        noise_pred = cfg_combine(noise_pred_cond, noise_pred_uncond, w)
        images = scheduler.step(noise_pred, t, images, generator=generator).prev_sample
        if on_step is not None:
            on_step()
    return images.clamp(-1, 1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, 3, H, W) -> uint8 (N, H, W, 3), inverting the training normalisation exactly."""
    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()
