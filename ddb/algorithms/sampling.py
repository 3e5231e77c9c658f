"""Sampling a class-conditional diffusion model with classifier-free guidance (CFG), batched (no I/O here).

Notation (CFG, Ho & Salimans 2022; DDB author code):
  guided noise = (1 + w) eps_theta(x_t, t, y) - w eps_theta(x_t, t, null)   (w = 1 in the paper; s = 1 + w)
The null condition is class index K (the DiT convention). The samplers share the training schedule
(ddb/algorithms/diffusion.py), loaded from the saved model.
"""

from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler


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
    images = torch.randn((len(labels), 3, size, size), generator=generator, device=generator.device).to(device)
    images = images * scheduler.init_noise_sigma
    # DDPM's and DDIM's step() look the timestep up and branch on it in Python: kept on the CPU, that costs no wait
    # for the GPU (the UNet copies each timestep over itself); DPM-Solver keeps its schedule where the images are
    on_host = isinstance(scheduler, (DDPMScheduler, DDIMScheduler))
    scheduler.set_timesteps(num_inference_steps, device="cpu" if on_host else device)
    both_labels = torch.cat([labels, torch.full_like(labels, null_label)])
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([images, images]), t)
        noise_pred_cond, noise_pred_uncond = unet(model_input, t, class_labels=both_labels).sample.chunk(2)
        noise_pred = cfg_combine(noise_pred_cond, noise_pred_uncond, w)
        images = scheduler.step(noise_pred, t, images, generator=generator).prev_sample
        if on_step is not None:
            on_step()
    problem = broken_samples(images)
    if problem:
        raise SamplingFailed(problem)
    return images.clamp(-1, 1)


class SamplingFailed(ValueError):
    """The sampler produced images no working diffusion model makes."""


def broken_samples(images: torch.Tensor) -> str | None:
    """Why a batch of sampled images (before clipping to [-1, 1]) is broken, or None: any non-finite value, or most
    images saturated entirely (every value at or beyond +-1: pure black, white or primary colours)."""
    if not torch.isfinite(images).all():
        return f"{int((~torch.isfinite(images)).flatten(1).any(1).sum())} of {len(images)} images hold NaN or inf"
    saturated = (images.abs() >= 1).flatten(1).all(1)
    if saturated.float().mean() > 0.5:
        return f"{int(saturated.sum())} of {len(images)} images are saturated in every pixel"
    return None


# The noise is unit-variance, so a model that predicts zero noise has a loss of 1. A working model falls far below it
# within a hundred steps (0.52 over the first 50 steps and 0.10 at step 100 on the built-in sets); shorter runs (the
# tests' and rehearsals' few steps) are not judged.
JUDGED_AFTER_STEPS = 100
NOT_LEARNT_LOSS = 0.9


def never_learnt(steps: list[int], losses: list[float]) -> str | None:
    """Why a diffusion model's training log (logged steps and their mean losses) shows it learnt nothing, or None:
    after enough steps to judge, its last loss is no better than predicting zero noise."""
    if not steps or steps[-1] < JUDGED_AFTER_STEPS or losses[-1] < NOT_LEARNT_LOSS:
        return None
    return (f"its training loss was {losses[0]:.3f} at step {steps[0]} and still {losses[-1]:.3f} at step "
            f"{steps[-1]}, where predicting zero noise gives 1.0")


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, 3, H, W) -> uint8 (N, H, W, 3), inverting the training normalisation exactly."""
    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()
