"""Stage "sample synthetic set" (DDB stage 2): images of one class from the diffusion model, with CFG.

One job per class, so a class can be regenerated alone. Writes ``<out>/sample_<i>.png`` (the generating class is
the folder's class) and a grid PNG of the first images for a person to look at.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel
from PIL import Image

from ddb import diffusion
from ddb.atomic import atomic_dir, atomic_file
from ddb.config import stage_settings
from ddb.logs import start_logging
from ddb.training import Progress, setup

log = logging.getLogger("ddb.sample_synthetic")


def image_grid(images: np.ndarray, columns: int = 10, scale: int | None = None) -> Image.Image:
    """Tile uint8 images (N, H, W, 3) into one picture, upscaled ``scale`` x without smoothing
    (default: so that each image is at least 64 px wide)."""
    n, h, w, _ = images.shape
    scale = scale or max(1, -(-64 // w))
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * (h + 2), columns * (w + 2), 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (w + 2) + 1 : c * (w + 2) + 1 + w] = img
    grid = Image.fromarray(canvas)
    return grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model folder written by train_diffusion")
    p.add_argument("--class-index", required=True, type=int, help="class to generate (0..K-1)")
    p.add_argument("--out", required=True, type=Path, help="output folder of PNG images")
    p.add_argument("--grid", required=True, type=Path, help="output grid PNG")
    p.add_argument("--settings", default=None, help="JSON 'sampling' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def main(argv=None) -> None:
    start_logging()
    args = parse_args(argv)
    settings = stage_settings("sampling", args.settings)
    log.info("settings: %s", json.dumps(settings, sort_keys=True))
    info = json.loads((args.model / "model_info.json").read_text())
    if not 0 <= args.class_index < info["num_classes"]:
        raise SystemExit(f"--class-index {args.class_index} out of range: the model knows {info['num_classes']} classes")
    # One seed per (sampling seed, class): classes are independent jobs yet the whole set is reproducible.
    device = setup(settings["seed"] * 1000 + args.class_index, args.threads)
    unet = UNet2DModel.from_pretrained(args.model / "unet").to(device).eval()
    train_config = DDPMScheduler.from_pretrained(args.model / "scheduler").config
    scheduler = diffusion.sampling_scheduler(settings["scheduler"], train_config, settings["clip_denoised"])
    generator = torch.Generator(device).manual_seed(settings["seed"] * 1000 + args.class_index)
    name = info["class_names"][args.class_index]
    total = settings["images_per_class"]
    log.info("class %d (%s): %d images, %s %d steps, w = %g", args.class_index, name, total,
             settings["scheduler"], settings["num_inference_steps"], settings["guidance_w"])

    progress = Progress(total, 1, f"class {args.class_index} images")
    chunks = []
    with atomic_dir(args.out) as tmp:
        for start in range(0, total, settings["batch_size"]):
            n = min(settings["batch_size"], total - start)
            labels = torch.full((n,), args.class_index, dtype=torch.long, device=device)
            images = diffusion.to_uint8(diffusion.sample(unet, scheduler, labels, settings["guidance_w"],
                                                         settings["num_inference_steps"], generator, info["null_label"]))
            for i, img in enumerate(images.numpy()):
                Image.fromarray(img).save(tmp / f"sample_{start + i:05d}.png")
            chunks.append(images.numpy())
            progress(start + n, generated=start + n)
    with atomic_file(args.grid) as tmp_grid:
        image_grid(np.concatenate(chunks)[:100]).save(tmp_grid, format="PNG")
    log.info("wrote %d images to %s and a grid to %s", total, args.out, args.grid)


if __name__ == "__main__":
    main()
