"""Stage "sample synthetic set" (DDB stage 2): images of one class from the diffusion model, with CFG.

One job per class, so a class can be regenerated alone. Writes ``<out>/sample_<i>.png`` (the generating class is
the folder's class) and a grid PNG of the first images for a person to look at.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers import DDPMScheduler, UNet2DModel
from PIL import Image

from ddb.algorithms import sampling
from ddb.core.atomic import atomic_dir, atomic_file
from ddb.core.images import image_grid
from ddb.core.integrity import damaged, rebuild_hint, verify_folder, write_manifest
from ddb.core.logs import Progress, start_stage
from ddb.core.settings import resolve_settings
from ddb.training.device import autocast, place, setup, uses_bf16

log = logging.getLogger("ddb.sample_synthetic")


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
    args = parse_args(argv)
    settings = resolve_settings("sampling", args.settings)
    start_stage(log, args, settings)
    verify_folder(args.model)
    info = json.loads((args.model / "model_info.json").read_text())
    history = pd.read_csv(args.model / "training_log.csv")
    stalled = sampling.never_learnt(history["step"].tolist(), history["loss"].tolist())
    if stalled:  # its samples would be noise that passes every per-image check
        raise SystemExit(f"the diffusion model {args.model} never learnt: {stalled}. Lower diffusion.lr (now "
                         f"{info['settings']['lr']}) or check its training images; {rebuild_hint(args.model)}")
    if not 0 <= args.class_index < info["num_classes"]:
        raise SystemExit(f"--class-index {args.class_index} out of range: the model knows {info['num_classes']} classes")
    # One seed per (sampling seed, class): classes are independent jobs yet the whole set is reproducible.
    device = setup(settings["seed"] * 1000 + args.class_index, args.threads)
    try:
        unet = UNet2DModel.from_pretrained(args.model / "unet")
        train_config = DDPMScheduler.from_pretrained(args.model / "scheduler").config
    except Exception as error:  # truncated or foreign files: diffusers, safetensors and json raise their own types
        raise damaged(args.model, f"cannot be loaded ({type(error).__name__}: {error})") from None
    unet = place(unet, device, settings).eval()
    scheduler = sampling.sampling_scheduler(settings["scheduler"], train_config, settings["clip_denoised"])
    generator = torch.Generator(device).manual_seed(settings["seed"] * 1000 + args.class_index)
    name = info["class_names"][args.class_index]
    total = settings["images_per_class"]
    bf16 = uses_bf16(device, settings["precision"], cpu_auto=True)
    log.info("class %d (%s): %d images, %s %d steps, w = %g, %s on %s", args.class_index, name, total,
             settings["scheduler"], settings["num_inference_steps"], settings["guidance_w"],
             "bf16 autocast" if bf16 else "fp32", device)

    # progress in denoising steps: with 1,000-step ancestral sampling one batch alone takes long
    total_steps = -(-total // settings["batch_size"]) * settings["num_inference_steps"]
    progress = Progress(total_steps, max(1, total_steps // 20), f"class {args.class_index} denoising")
    steps_done, chunks = [0], []

    def step_done() -> None:
        steps_done[0] += 1
        progress(min(steps_done[0], total_steps), images_done=sum(len(c) for c in chunks))

    with atomic_dir(args.out) as tmp:
        for start in range(0, total, settings["batch_size"]):
            n = min(settings["batch_size"], total - start)
            labels = torch.full((n,), args.class_index, dtype=torch.long, device=device)
            try:
                with autocast(device, bf16):
                    images = sampling.to_uint8(sampling.sample(unet, scheduler, labels, settings["guidance_w"],
                                                                 settings["num_inference_steps"], generator,
                                                                 info["null_label"], on_step=step_done))
            except sampling.SamplingFailed as failure:  # a broken model: no synthetic set is written from it
                raise SystemExit(f"sampling class {args.class_index} from {args.model} failed: {failure}. The "
                                 f"diffusion model is broken (did its training diverge?); {rebuild_hint(args.model)}")
            for i, img in enumerate(images.numpy()):
                Image.fromarray(img).save(tmp / f"sample_{start + i:05d}.png")
            chunks.append(images.numpy())
        write_manifest(tmp)  # the amplifier checks every image against it
    with atomic_file(args.grid) as tmp_grid:
        image_grid(np.concatenate(chunks)[:100]).save(tmp_grid, format="PNG")
    log.info("wrote %d images to %s and a grid to %s", total, args.out, args.grid)


if __name__ == "__main__":
    main()
