"""Stage "train diffusion model" (DDB stage 1): a class-conditional UNet on the real *training* split.

Reads the metadata table and the train images (class labels only; bias labels are never read).
Writes a folder with ``unet/`` and ``scheduler/`` (diffusers ``save_pretrained``, safetensors), ``model_info.json``
(classes, null label, settings) and ``training_log.csv`` (loss per logged step), and ``tensorboard/`` when switched
on (ddb/training/curves.py).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd
import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel

from ddb.algorithms import diffusion
from ddb.core.atomic import atomic_dir
from ddb.core.images import load_split
from ddb.core.integrity import write_manifest
from ddb.core.logs import Progress, start_stage
from ddb.core.settings import resolve_settings
from ddb.core.tables import read_table
from ddb.models.unet import build_unet
from ddb.training.batches import BatchSampler
from ddb.training.checkpoint import Checkpoint, RandomState, TrainingRecord, input_fingerprint
from ddb.training.curves import Curves
from ddb.training.device import autocast, device_generator, place, setup, to_device, uses_bf16
from ddb.training.divergence import DivergenceWatch

log = logging.getLogger("ddb.train_diffusion")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--out", required=True, type=Path, help="output model folder")
    p.add_argument("--store", required=True, type=Path, help="image store folder of the metadata table at the diffusion resolution (build_image_store)")
    p.add_argument("--settings", default=None, help="JSON 'diffusion' settings (defaults: ddb/config.schema.yaml)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = resolve_settings("diffusion", args.settings)
    start_stage(log, args, settings)
    device = setup(settings["seed"], args.threads)

    metadata = read_table(args.metadata, "metadata")
    train = load_split(metadata, args.store, "train")
    class_names = metadata.drop_duplicates("label").sort_values("label")["label_name"].tolist()
    num_classes = len(class_names)
    log.info("%d training images, %d classes, image size %d", len(train), num_classes, settings["image_size"])

    unet = place(build_unet(settings, num_classes), device, settings)
    noise_scheduler = diffusion.build_noise_scheduler(settings)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, settings["warmup_steps"], settings["steps"])
    # on a GPU the multi-tensor EMA update (a few kernels per step instead of several per parameter); on a CPU the
    # per-parameter one, whose rounding the CPU results were made with
    ema = EMAModel(unet.parameters(), decay=settings["ema_decay"], foreach=device.type == "cuda") \
        if settings["ema"] else None
    log.info("UNet parameters: %.2fM; %d steps at batch %d", sum(p.numel() for p in unet.parameters()) / 1e6,
             settings["steps"], settings["batch_size"])

    # batches and label dropout are drawn on the CPU (the store is read there); the noise and timesteps on the
    # device, from a generator of its own there (the same one on a CPU)
    generator = torch.Generator().manual_seed(settings["seed"])
    noise_generator = device_generator(generator, device)
    batches = BatchSampler(len(train), settings["batch_size"], generator)
    progress = Progress(settings["steps"], settings["log_every"], "diffusion")
    record = TrainingRecord()
    checkpoint = Checkpoint(args.out, {"settings": settings, "inputs": input_fingerprint(args.metadata)},
                            settings["checkpoint_every"], minutes=settings["checkpoint_minutes"])
    # everything a resumed run needs back, registered once
    checkpoint.track(unet=unet, optimizer=optimizer, lr_schedule=lr_schedule, batches=batches,
                     random=RandomState(generator, noise_generator), record=record,
                     **({"ema": ema} if ema is not None else {}))
    first_step = checkpoint.restore() + 1  # resume a killed or preempted run where its last checkpoint left it
    curves = Curves(args.out)
    curves.start(first_step)
    if ema is not None:
        ema.to(device)  # a restored EMA's weights arrive on the CPU

    unet.train()
    bf16 = uses_bf16(device, settings["precision"])
    watch = DivergenceWatch("the diffusion model", "diffusion.lr", settings["lr"])
    for step in range(first_step, settings["steps"] + 1):
        idx = next(batches)
        clean_images = to_device(train.images[idx], device).float().div_(127.5).sub_(1)  # uint8 -> [-1, 1]
        labels = to_device(diffusion.drop_labels(train.labels[idx], settings["p_uncond"], num_classes, generator),
                           device)
        with autocast(device, bf16):
            loss = diffusion.diffusion_loss(unet, noise_scheduler, clean_images, labels, noise_generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(unet.parameters(), settings["grad_clip"])  # before clipping
        watch.add(step, loss, grad_norm)
        optimizer.step()
        lr_schedule.step()
        if ema is not None:
            ema.step(unet.parameters())
        record.add(loss)
        if step % settings["log_every"] == 0 or step == settings["steps"]:
            watch.check()
            record.history.append({"step": step, "loss": record.mean_running(), "lr": lr_schedule.get_last_lr()[0]})
            curves.add(record.history[-1])
            progress(step, loss=record.history[-1]["loss"])
        else:
            progress(step)
        if checkpoint.wanted(step):
            watch.check()  # never a checkpoint of a diverged run
            checkpoint.save(step)
    watch.check()

    if ema is not None:
        ema.copy_to(unet.parameters())  # the saved model is the EMA model
    with atomic_dir(args.out) as tmp:
        unet.save_pretrained(tmp / "unet")
        noise_scheduler.save_pretrained(tmp / "scheduler")
        info = {"num_classes": num_classes, "class_names": class_names, "null_label": num_classes,
                "image_size": settings["image_size"], "settings": settings}
        (tmp / "model_info.json").write_text(json.dumps(info, indent=2))
        pd.DataFrame(record.history).to_csv(tmp / "training_log.csv", index=False)
        curves.keep(tmp)
        write_manifest(tmp)  # sampling checks the weights against it
    checkpoint.remove()
    curves.remove()
    log.info("saved diffusion model to %s", args.out)


if __name__ == "__main__":
    main()
