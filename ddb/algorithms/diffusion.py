"""Training a class-conditional diffusion model for classifier-free guidance (CFG): the forward process and the
loss (no I/O here; the sampler is ddb/algorithms/sampling.py).

Notation (DDPM, Ho et al. 2020; CFG, Ho & Salimans 2022; DDB author code):
  x_0 = clean_images in [-1, 1]; eps = noise ~ N(0, I); t = timesteps ~ U{0..T-1}
  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps                      (noise_scheduler.add_noise)
  training loss  = || eps - eps_theta(x_t, t, y~) ||^2, y~ = null with probability p_uncond (per sample)
The null condition is class index K (the DiT convention): the UNet (ddb/models/unet.py) has K + 1 class embeddings.
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler


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


def drop_labels(labels: torch.Tensor, p_uncond: float, null_label: int, generator: torch.Generator) -> torch.Tensor:
    """Replace each label by ``null_label`` independently with probability ``p_uncond`` (per-sample CFG dropout)."""
    drop = (torch.rand(labels.shape, generator=generator, device=generator.device) < p_uncond).to(labels.device)
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def diffusion_loss(unet, noise_scheduler, clean_images, labels, generator: torch.Generator) -> torch.Tensor:
    """Noise-prediction MSE at uniformly drawn timesteps (labels already dropped to null where intended). The noise
    is drawn on ``generator``'s device: pass a generator of the images' device (``device_generator``), or the draws
    are copied there."""
    noise = torch.randn(clean_images.shape, generator=generator, device=generator.device).to(clean_images.device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (clean_images.shape[0],),
                              generator=generator, device=generator.device).to(clean_images.device)
    noisy_images = noise_scheduler.add_noise(clean_images, noise, timesteps)  # the forward diffusion process
    noise_pred = unet(noisy_images, timesteps, class_labels=labels).sample
    return torch.nn.functional.mse_loss(noise_pred.float(), noise.float())
