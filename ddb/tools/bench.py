"""Benchmark of the heavy stages on this machine: throughput of each, fast-path variants side by side.

    python -m ddb.tools.bench --out results/bench/bench.json          # everything (GPU: a few minutes)
    python -m ddb.tools.bench --only sampling --repeats 5             # one group

Measures, after warm-up, the median over ``--repeats`` timed repeats (min and max are kept too) of:

- diffusion training (images/s) for the ``tiny`` UNet (config.yaml) and the ``paper`` UNet (configs/paper.yaml);
- sampling (images/s) per scheduler and step count, batched vs unbatched classifier-free guidance;
- amplifier training and scoring (images/s) for small_cnn and resnet18;
- data loading (images/s): PNG decoding per epoch through a DataLoader (0 / N workers) vs a decoded uint8 cache
  in memory vs the image store read batch by batch (what the stages do);
- the input pipeline (images/s): target-model training (ResNet-50, 224 px) on batches read from an image store and
  augmented with the protocol's RandomResizedCrop on the device (what the stages do), or in DataLoader workers
  into pinned memory, vs the same model on tensors already on the device (the limit: no input pipeline at all);

with variants fp32 / bf16 autocast / channels_last, and torch.compile on a GPU. Each row has the peak memory of
its measurement (GPU: allocated by torch; CPU: the process's resident high-water mark, reset before each row to
the memory in use then) and ``peak_added_mb``, how far the peak rose above what was in use when the row started
(on a CPU the allocator keeps what earlier rows freed, so ``peak_mb`` alone carries them along).
Ratios compare each variant with the first (baseline) variant of its group. Nothing here trains a real model:
weights are random, which does not change the cost of a step. A sampler is timed over at most ``--long-steps`` of
its steps and scaled to all of them, as every step costs the same (one batched UNet call); such rows say so.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from ddb.algorithms import diffusion, sampling
from ddb.core.atomic import write_text
from ddb.core.images import load_image
from ddb.core.store import SplitWriter, StoredImages
from ddb.core.logs import start_stage
from ddb.core.settings import resolve_settings
from ddb.datasets import builtin_shapes
from ddb.models.classifiers import build_classifier, predict_logits
from ddb.models.unet import build_unet
from ddb.training.augmentation import resized_crop
from ddb.training.device import autocast, native_bf16, place, to_device
from ddb.training.provenance import device_name

log = logging.getLogger("ddb.tools.bench")
REPO = Path(__file__).resolve().parents[2]
GROUPS = ("diffusion_train", "sampling", "amplifier", "data_loading", "input_pipeline")
# the protocol's augmentation (group_DRO / JTT): RandomResizedCrop 224 from 256 px images, scale (0.7, 1)
PROTOCOL_CROP = {"size": 224, "scale": (0.7, 1.0), "ratio": (0.75, 4 / 3), "stored": 256}


# ---- measurement ----
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _proc_status_mb(field: str) -> float | None:
    with contextlib.suppress(OSError, StopIteration):
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(f"{field}:"))
        return int(line.split()[1]) / 1024
    return None


def reset_peak_memory(device: torch.device) -> float | None:
    """Start a peak-memory window; returns the memory in use now (MB), which the window's peak is compared with."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    with contextlib.suppress(OSError):  # Linux: "5" resets the resident-set high-water mark (VmHWM) to VmRSS
        Path("/proc/self/clear_refs").write_text("5")
    return _proc_status_mb("VmRSS")


def peak_memory_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _proc_status_mb("VmHWM")


def measure(fn, items: int, device: torch.device, warmup: int, repeats: int, scale: float = 1.0) -> dict:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; ``items`` images per call, and a call
    stands for ``scale`` calls (sampling timed over part of its steps)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    in_use = reset_peak_memory(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append((time.perf_counter() - start) * scale)
    median = statistics.median(seconds)
    peak = peak_memory_mb(device)
    return {"images_per_s": items / median, "s_per_call": median, "s_min": min(seconds), "s_max": max(seconds),
            "peak_mb": peak, "peak_added_mb": None if peak is None or in_use is None else max(0.0, peak - in_use)}


def precision_context(device: torch.device, variant: str):
    return autocast(device, "bf16" in variant)


def prepare(model: torch.nn.Module, variant: str, device: torch.device) -> torch.nn.Module:
    """The stages' own placement (``ddb.training.place``), plus torch.compile for the compile variant."""
    model = place(model, device, {"channels_last": "channels_last" in variant})
    return torch.compile(model) if "compile" in variant else model


def variants(device: torch.device) -> list[str]:
    out = ["fp32", "bf16", "fp32+channels_last", "bf16+channels_last"]
    return out + ["bf16+channels_last+compile"] if device.type == "cuda" else out


# ---- configurations ----
def diffusion_presets(args) -> dict[str, dict]:
    """UNet settings of config.yaml (``tiny``) and configs/paper.yaml (``paper``) over the schema defaults."""
    presets = {}
    for name, path in (("tiny", args.config), ("paper", REPO / "configs/paper.yaml")):
        if name not in args.presets:
            continue
        section = (yaml.safe_load(Path(path).read_text()) or {}).get("diffusion", {}) if Path(path).exists() else {}
        presets[name] = resolve_settings("diffusion", section)
    return presets


def paper_on_cpu(preset: str, device: torch.device) -> bool:
    """The paper UNet takes seconds per step on a CPU: such rows use a small batch, few steps and fewer variants."""
    return preset == "paper" and device.type == "cpu"


# ---- groups ----
def bench_diffusion_train(args, device, rows: list) -> None:
    for preset, settings in diffusion_presets(args).items():
        slow = paper_on_cpu(preset, device)
        batch = args.train_batch or settings["batch_size"]
        batch = min(args.cpu_paper_batch, batch) if slow else batch
        for variant in ["fp32", "fp32+channels_last"] if slow else variants(device):
            torch.manual_seed(0)
            unet = prepare(build_unet(settings, 10), variant, device)
            optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
            scheduler = diffusion.build_noise_scheduler(settings)
            size = settings["image_size"]
            generator = torch.Generator(device).manual_seed(0)  # the stage's rule: draws on the device's generator
            images = torch.rand(batch, 3, size, size, generator=generator, device=generator.device) * 2 - 1
            labels = torch.randint(0, 11, (batch,), generator=generator, device=generator.device)
            if "channels_last" in variant:
                images = images.contiguous(memory_format=torch.channels_last)

            def step():
                with precision_context(device, variant):
                    loss = diffusion.diffusion_loss(unet, scheduler, images, labels, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            rows.append({"group": "diffusion_train", "config": f"{preset} UNet {size}px batch {batch}",
                         "variant": variant, **measure(step, batch, device, args.warmup, args.repeats)})


def bench_sampling(args, device, rows: list) -> None:
    presets = diffusion_presets(args)
    for preset, settings in presets.items():
        on_cpu_paper = paper_on_cpu(preset, device)  # a few steps of two samplers, fp32 only
        samplers = [("ddpm", 1000), ("ddim", 25)] if on_cpu_paper else [("ddpm", 1000), ("ddim", 50), ("ddim", 25),
                                                                         ("dpmsolver++", 20)]
        if args.samplers:
            samplers = [(name, int(steps)) for name, steps in (s.split(":") for s in args.samplers)]
        batch = args.cpu_paper_batch if on_cpu_paper else args.sample_batch
        max_timed = args.cpu_paper_steps if on_cpu_paper else args.long_steps
        torch.manual_seed(0)
        for variant in ["fp32"] if on_cpu_paper else ["fp32", "bf16"] + (["bf16+channels_last"] if device.type == "cuda" else []):
            unet = prepare(build_unet(settings, 10), variant, device).eval()
            train_config = diffusion.build_noise_scheduler(settings).config
            for name, steps in samplers:
                timed_steps = min(steps, max_timed)
                # the fast paths of CFG and batching, compared once: (ddim 25, fp32)
                ways = [("batched", batch)]
                if (name, steps, variant) == ("ddim", 25, "fp32"):
                    ways += [("unbatched", batch), ("batched", max(1, batch // 4))]
                for cfg, n in ways:
                    scheduler = sampling.sampling_scheduler(name, train_config)
                    labels = torch.zeros(n, dtype=torch.long, device=device)

                    def run():
                        generator = torch.Generator(device).manual_seed(0)
                        with torch.no_grad(), precision_context(device, variant):
                            sample_steps(unet, scheduler, labels, steps, timed_steps, generator, cfg == "batched")

                    rows.append({"group": "sampling", "config": f"{preset} UNet, {name} {steps} steps",
                                 "variant": f"{variant}, {cfg} CFG, batch {n}",
                                 **measure(run, n, device, 1, args.repeats, scale=steps / timed_steps),
                                 "note": f"timed over {timed_steps} of {steps} steps" if timed_steps < steps else ""})


def sample_steps(unet, scheduler, labels, steps: int, timed_steps: int, generator, batched_cfg: bool) -> None:
    """The first ``timed_steps`` of :func:`ddb.algorithms.sampling.sample`'s loop; unbatched CFG calls the UNet twice."""
    size = unet.config.sample_size
    images = torch.randn((len(labels), 3, size, size), generator=generator, device=generator.device).to(labels.device)
    scheduler.set_timesteps(steps, device=labels.device)
    null = torch.full_like(labels, unet.config.num_class_embeds - 1)
    for t in scheduler.timesteps[:timed_steps]:
        model_input = scheduler.scale_model_input(images, t)
        if batched_cfg:
            cond, uncond = unet(torch.cat([model_input, model_input]), t, class_labels=torch.cat([labels, null])).sample.chunk(2)
        else:
            cond = unet(model_input, t, class_labels=labels).sample
            uncond = unet(model_input, t, class_labels=null).sample
        images = scheduler.step(sampling.cfg_combine(cond, uncond, 1.0), t, images, generator=generator).prev_sample


def bench_amplifier(args, device, rows: list) -> None:
    for arch, size, batch in (("small_cnn", 32, 128), ("resnet18", 64, 64 if device.type == "cpu" else 256)):
        for variant in variants(device):
            torch.manual_seed(0)
            model = prepare(build_classifier(arch, 10), variant, device)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            generator = torch.Generator(device).manual_seed(0)
            images = torch.rand(batch, 3, size, size, generator=generator, device=generator.device)
            if "channels_last" in variant:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = torch.randint(0, 10, (batch,), generator=generator, device=generator.device)

            def train_step():
                with precision_context(device, variant):
                    loss = F.cross_entropy(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            rows.append({"group": "amplifier", "config": f"train {arch} {size}px batch {batch}", "variant": variant,
                         **measure(train_step, batch, device, args.warmup, args.repeats)})
            cpu = torch.Generator().manual_seed(0)
            score_images = torch.randint(0, 256, (args.score_images, 3, size, size), dtype=torch.uint8, generator=cpu,
                                         device=cpu.device)

            def score():
                with precision_context(device, variant):
                    predict_logits(model, score_images, device, batch_size=512)

            rows.append({"group": "amplifier", "config": f"score {arch} {size}px, {args.score_images} images", "variant": variant,
                         **measure(score, len(score_images), device, 1, args.repeats)})


class PngDataset(torch.utils.data.Dataset):
    """The usual per-item loader: open and decode one PNG each time an item is asked for."""

    def __init__(self, files: list[Path]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(load_image(self.files[i], None).copy()).permute(2, 0, 1)


def bench_data_loading(args, device, rows: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        images, _, _ = builtin_shapes.generate("train", args.data_images, 5, 32, 0.01, seed=0)
        files = [Path(tmp) / f"{i:05d}.png" for i in range(len(images))]
        for f, img in zip(files, images):
            Image.fromarray(img).save(f)
        n = len(files)
        for workers in sorted({0, args.workers}):
            loader = torch.utils.data.DataLoader(PngDataset(files), batch_size=128, shuffle=True, num_workers=workers,
                                                 persistent_workers=workers > 0)

            def epoch():
                for batch in loader:
                    batch.to(device).float().div_(255)

            rows.append({"group": "data_loading", "config": f"epoch of {n} PNGs 32px, batch 128",
                         "variant": f"decode per epoch, {workers} workers",
                         **measure(epoch, n, device, 1, args.repeats)})
        start = time.perf_counter()
        cache = torch.from_numpy(np.stack([load_image(f, None) for f in files])).permute(0, 3, 1, 2).contiguous()
        decode_once = time.perf_counter() - start
        generator = torch.Generator().manual_seed(0)

        def cached_epoch():
            for idx in torch.randperm(n, generator=generator, device=generator.device).split(128):
                cache[idx].to(device).float().div_(255)

        rows.append({"group": "data_loading", "config": f"epoch of {n} PNGs 32px, batch 128",
                     "variant": "decoded uint8 cache in memory (ddb before the store)",
                     **measure(cached_epoch, n, device, 1, args.repeats),
                     "note": f"one-time decode {decode_once:.2f} s ({n / decode_once:.0f} images/s)"})
        writer = SplitWriter(Path(tmp) / "store.npy", n, tuple(cache.shape[1:]))
        for image in cache.numpy():
            writer.write(image)
        writer.close()
        stored = StoredImages(Path(tmp) / "store.npy")

        def store_epoch():
            for idx in torch.randperm(n, generator=generator, device=generator.device).split(128):
                to_device(stored[idx], device).float().div_(255)

        rows.append({"group": "data_loading", "config": f"epoch of {n} PNGs 32px, batch 128",
                     "variant": "image store, batches read from disk (ddb)",
                     **measure(store_epoch, n, device, 1, args.repeats)})


class StoreCrops(torch.utils.data.Dataset):
    """The DataLoader alternative to augmenting on the device: each worker reads one stored image and crops it."""

    def __init__(self, images, seed: int):
        self.images, self.seed = images, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        return resized_crop(self.images[[i]], generator, PROTOCOL_CROP["size"], PROTOCOL_CROP["scale"],
                            PROTOCOL_CROP["ratio"])[0]


def bench_input_pipeline(args, device, rows: list) -> None:
    side, crop = PROTOCOL_CROP["stored"], PROTOCOL_CROP["size"]
    batch, variant = args.pipeline_batch, ("fp32" if device.type == "cpu" else "bf16+channels_last")
    with tempfile.TemporaryDirectory() as tmp:
        writer = SplitWriter(Path(tmp) / "train.npy", args.pipeline_images, (3, side, side))
        rng = np.random.default_rng(0)
        for _ in range(args.pipeline_images):
            writer.write(rng.integers(0, 256, (3, side, side), dtype=np.uint8))
        writer.close()
        stored = StoredImages(Path(tmp) / "train.npy")
        torch.manual_seed(0)
        model = prepare(build_classifier("resnet50", 10), variant, device)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        on_device = torch.Generator(device).manual_seed(0)
        labels = torch.randint(0, 10, (batch,), generator=on_device, device=on_device.device)
        generator = torch.Generator().manual_seed(0)

        def train_step(images_uint8):
            with precision_context(device, variant):
                loss = F.cross_entropy(model(images_uint8.float().div_(255)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        on_device = torch.randint(0, 256, (batch, 3, crop, crop), dtype=torch.uint8, generator=on_device,
                                  device=on_device.device)
        loader = torch.utils.data.DataLoader(StoreCrops(stored, 0), batch_size=batch, shuffle=True, drop_last=True,
                                             num_workers=args.workers, pin_memory=device.type == "cuda",
                                             persistent_workers=args.workers > 0)
        batches = iter(())

        def from_loader():
            nonlocal batches
            images = next(batches, None)
            if images is None:
                batches = iter(loader)
                images = next(batches)
            train_step(images.to(device, non_blocking=True))

        pinned = " (pinned)" if device.type == "cuda" else ""  # one part of the variant: a switch (render_switches)
        ways = {
            "tensors already on the device (the limit)": lambda: train_step(on_device),
            "store, crop on the device (ddb)": lambda: train_step(resized_crop(
                to_device(stored[torch.randint(0, len(stored), (batch,), generator=generator,
                                              device=generator.device)], device), generator,
                crop, PROTOCOL_CROP["scale"], PROTOCOL_CROP["ratio"])),
            f"store, crop in {args.workers} DataLoader workers{pinned}": from_loader,
        }
        for way, step in ways.items():
            rows.append({"group": "input_pipeline", "config": f"train resnet50 {crop}px from {side}px, batch {batch}",
                         "variant": f"{variant}, {way}", **measure(step, batch, device, args.warmup, args.repeats)})


# ---- output ----
def with_ratios(rows: list[dict]) -> pd.DataFrame:
    """Throughput relative to the first variant measured for the same (group, config)."""
    table = pd.DataFrame(rows)
    order = {config: i for i, config in enumerate(dict.fromkeys(table["config"]))}  # first-measured order
    table = table.sort_values(["group", "config"], key=lambda c: c.map(GROUPS.index) if c.name == "group"
                              else c.map(order), kind="stable").reset_index(drop=True)
    if "note" not in table:
        table["note"] = ""
    base = table.groupby(["group", "config"], sort=False)["images_per_s"].transform("first")
    table["vs_baseline"] = table["images_per_s"] / base
    return table.fillna({"note": ""})


def render(table: pd.DataFrame, machine: dict) -> str:
    return f"# ddb benchmark\n\n{caption(machine)}\n\n" + render_rows(table) + "\n" + render_switches(table)


def caption(machine: dict) -> str:
    """Where and how the rows were measured, from the JSON's ``machine``."""
    native = {True: ", native bf16", False: ", bf16 emulated"}.get(machine.get("native_bf16"), "")
    threads = f", {machine['cpu_threads']} torch threads" if machine.get("cpu_threads") else ""
    sampling_warmup = " (the sampling rows: 1)" if machine["warmup"] != 1 else ""
    parts = [f"`{machine['command']}`" if machine.get("command") else "",
             f"on {machine['device_name']} ({machine['device']}, {machine['cpu_count']} CPUs{threads}{native})",
             f"torch {machine['torch']}" if machine.get("torch") else "",
             f"median of {machine['repeats']} timed repeats after {machine['warmup']} warm-up{sampling_warmup}"]
    text = "Measured with " + ", ".join(part for part in parts if part) + "."
    return text + (f" {machine['note']}." if machine.get("note") else "")


def switch_effects(table: pd.DataFrame) -> pd.DataFrame:
    """What each switch buys: every two rows of one (group, config) whose variants differ by one switch, one part
    replaced (``fp32`` -> ``bf16``) or added (``+ channels_last``); the later row's throughput over the earlier's."""
    def parts(variant: str) -> list[str]:
        return [part.strip() for part in re.split(r"[+,]", variant)]

    effects = []
    for (group, config), rows in table.groupby(["group", "config"], sort=False):
        measured = [(parts(variant), speed) for variant, speed in zip(rows["variant"], rows["images_per_s"])]
        for (before, earlier_speed), (after, later_speed) in itertools.combinations(measured, 2):
            dropped, added = [p for p in before if p not in after], [p for p in after if p not in before]
            if len(added) == 1 and len(dropped) <= 1:
                change = f"{dropped[0]} -> {added[0]}" if dropped else f"+ {added[0]}"
                kept = ", ".join(p for p in before if p not in dropped)
                effects.append({"group": group, "config": config, "switch": change, "with": kept,
                                "speed_up": later_speed / earlier_speed})
    return pd.DataFrame(effects, columns=["group", "config", "switch", "with", "speed_up"])


def render_switches(table: pd.DataFrame) -> str:
    """:func:`switch_effects` as a Markdown table, a switch's rows together."""
    effects = switch_effects(table)
    effects = effects.sort_values("switch", key=lambda c: c.map(list(dict.fromkeys(c)).index), kind="stable")
    effects["speed_up"] = effects["speed_up"].map(lambda v: f"{v:.2f}x")
    return effects[["switch", "group", "config", "with", "speed_up"]].to_markdown(index=False) + "\n"


def render_rows(table: pd.DataFrame) -> str:
    """The Markdown table of measured rows (with their ratios: :func:`with_ratios`)."""
    shown = table[["group", "config", "variant", "images_per_s", "vs_baseline", "s_per_call", "peak_mb", "peak_added_mb",
                   "note"]].copy()
    shown["images_per_s"] = shown["images_per_s"].map(lambda v: f"{v:,.1f}" if v >= 10 else f"{v:.3g}")
    shown["vs_baseline"] = shown["vs_baseline"].map(lambda v: f"{v:.2f}x")
    shown["s_per_call"] = shown["s_per_call"].map(lambda v: f"{v:.3f}")
    for column in ("peak_mb", "peak_added_mb"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
    return shown.to_markdown(index=False) + "\n"


def machine_info(device: torch.device, args, argv: list[str]) -> dict:
    return {"device": device.type, "device_name": device_name(device), "cpu_model": device_name(torch.device("cpu")),
            "native_bf16": native_bf16(device), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "repeats": args.repeats, "warmup": args.warmup,
            "command": shlex.join(["python", "-m", "ddb.tools.bench", *argv])}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/bench/bench.json"), help="JSON output (a .md is written next to it)")
    p.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="benchmark groups to run")
    p.add_argument("--config", type=Path, default=REPO / "config.yaml", help="config whose diffusion section is the tiny preset")
    p.add_argument("--presets", nargs="+", choices=("tiny", "paper"), default=["tiny", "paper"], help="UNet presets to run")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per row (the median is reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before timing")
    p.add_argument("--long-steps", type=int, default=50, help="at most this many sampling steps are timed (then scaled)")
    p.add_argument("--samplers", nargs="+", metavar="NAME:STEPS",
                   help="samplers to time, e.g. dpmsolver++:20 ddpm:1000 (default: ddpm 1000, ddim 50 and 25, dpmsolver++ 20)")
    p.add_argument("--train-batch", type=int, default=None, help="diffusion training batch (default: the preset's)")
    p.add_argument("--sample-batch", type=int, default=200, help="sampling batch (the config default)")
    p.add_argument("--cpu-paper-batch", type=int, default=4, help="batch of the paper UNet on a CPU")
    p.add_argument("--cpu-paper-steps", type=int, default=3, help="sampling steps timed of the paper UNet on a CPU")
    p.add_argument("--data-images", type=int, default=2000, help="PNG images in the data-loading benchmark")
    p.add_argument("--pipeline-batch", type=int, default=16, help="batch of the input-pipeline rows (ResNet-50, 224 px)")
    p.add_argument("--pipeline-images", type=int, default=256, help="images in the input-pipeline rows' store (256 px)")
    p.add_argument("--score-images", type=int, default=2048, help="images per scoring call")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers to compare with 0")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    return p.parse_args(argv)


class Rows(list):
    """The measured rows, written out (JSON and Markdown, atomically) as each one is measured, so a run cut short
    (a lent machine given back, a time limit) keeps every row it finished."""

    def __init__(self, out: Path, machine: dict):
        super().__init__()
        self.out, self.machine = out, machine

    def append(self, row: dict) -> None:
        super().append(row)
        log.info("%s", row)
        self.write()

    def write(self) -> str:
        table = with_ratios(list(self))
        text = render(table, self.machine)
        write_text(self.out, json.dumps({"machine": self.machine, "rows": table.to_dict("records")}, indent=2,
                                        default=float))
        write_text(self.out.with_suffix(".md"), text)
        return text


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    start_stage(log, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as the stages set it (deterministic: auto)
    benches = {"diffusion_train": bench_diffusion_train, "sampling": bench_sampling, "amplifier": bench_amplifier,
               "data_loading": bench_data_loading, "input_pipeline": bench_input_pipeline}
    rows = Rows(args.out, machine_info(device, args, argv))
    for group in args.only:
        benches[group](args, device, rows)
    print(rows.write())


if __name__ == "__main__":
    main()
