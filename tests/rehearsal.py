"""Rehearsals of the dataset presets as a user types them: ``configs/<dataset>.yaml`` alone and with
``configs/paper.yaml``, shrunk by ``configs/rehearsal.yaml``, on fixture files in each source's real layout (served from
127.0.0.1 where the source downloads, placed by hand where its users place it) and fixture weights staged from
127.0.0.1 by the workflow's own login-node rule. Every real component runs: the paper UNet with its attention, the
ancestral sampler, ResNet-18/50 at 224 px with the resized crops, Mask R-CNN for UrbanCars.

Used by tests/test_rehearsal.py (one preset per test), tests/test_slurm.py (one preset through SLURM), and by hand:

    python tests/rehearsal.py                    # every preset, both ways: writes docs/rehearsal.md (make rehearsal)
    python tests/rehearsal.py --presets waterbirds --keep /tmp/rehearsal
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fileserver import FileServer  # noqa: E402
from helpers import (ENV, REPO, SNAKEMAKE, bar_archive, copy_workflow, idx_gz, lvis_files,  # noqa: E402
                     places_archive, png, solid_jpeg, stanford_cars_files, tar_bytes, waterbirds_archive, zip_bytes)

PRESETS = {"backgrounds": "backgrounds", "bar": "bar", "bffhq": "bffhq", "celeba": "celeba", "cmnist": "cmnist",
           "colored_fashion_mnist": "cfmnist", "corrupted_cifar10": "corrupted_cifar10", "imagenet9": "imagenet9",
           "urbancars": "urbancars", "waterbirds": "waterbirds"}  # preset file -> the dataset it configures
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist (.ci/run installs it)


# ---- fixture files, in each source's real layout ----
def celeba_archive() -> bytes:
    """The Kaggle edition: attribute and partition CSVs, images under img_align_celeba/img_align_celeba/."""
    rng = np.random.default_rng(0)
    names = [f"{i:06d}.jpg" for i in range(1, 25)]
    blond, male = rng.choice([-1, 1], len(names)), rng.choice([-1, 1], len(names))
    blond[:4], male[:4] = [1, 1, -1, -1], [1, -1, 1, -1]  # every group in train
    split = [0] * 16 + [1] * 4 + [2] * 4
    blond[16:20], male[16:20] = [1, 1, -1, -1], [1, -1, 1, -1]  # ... and in val and test
    blond[20:], male[20:] = [1, 1, -1, -1], [1, -1, 1, -1]
    attrs = "image_id,5_o_Clock_Shadow,Blond_Hair,Male\n" + "".join(
        f"{n},-1,{b},{m}\n" for n, b, m in zip(names, blond, male))
    partition = "image_id,partition\n" + "".join(f"{n},{s}\n" for n, s in zip(names, split))
    return zip_bytes({"list_attr_celeba.csv": attrs.encode(), "list_eval_partition.csv": partition.encode(),
                      **{f"img_align_celeba/img_align_celeba/{n}":
                         solid_jpeg((40 + 100 * (b > 0), 60, 40 + 100 * (m > 0)), (178, 218))
                         for n, b, m in zip(names, blond, male)}})


def bffhq_archive() -> bytes:
    """DFA's bffhq.zip: bffhq/0.5pct/{align,conflict}/<target>/..., bffhq/{valid,test}/..., labels in file names."""
    members = {}
    for kind, target, bias, n in (("align", 0, 0, 6), ("align", 1, 1, 6), ("conflict", 0, 1, 1), ("conflict", 1, 0, 1)):
        for i in range(n):
            members[f"bffhq/0.5pct/{kind}/{target}/{kind}{i}_{target}_{bias}.png"] = png((target * 200, bias * 200, 9))
    for split in ("valid", "test"):
        for target in (0, 1):
            for bias in (0, 1):
                members[f"bffhq/{split}/{target}{bias}_{target}_{bias}.png"] = png((target * 200, bias * 200, 90))
    return zip_bytes(members)


def mnist_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {"train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (200, 28, 28))),
            "train-labels-idx1-ubyte.gz": idx_gz(np.arange(200) % 10),
            "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (50, 28, 28))),
            "t10k-labels-idx1-ubyte.gz": idx_gz(np.arange(50) % 10)}


def cifar10_batches() -> dict[str, bytes]:
    """cifar-10-batches-bin/*.bin: label byte + 3,072 pixel bytes per image."""
    rng = np.random.default_rng(0)
    out = {}
    for name, n in [(f"data_batch_{i}.bin", 40) for i in range(1, 6)] + [("test_batch.bin", 60)]:
        labels = (np.arange(n) % 10).astype(np.uint8)[:, None]
        out[name] = np.concatenate([labels, rng.integers(0, 256, (n, 3072), dtype=np.uint8)], 1).tobytes()
    return out


def imagenet9_files(root: Path) -> None:
    """ILSVRC2012_img_train.tar (1,000 class tars, images in the IN-9 ranges) and imagenet-a/, as extracted."""
    from ddb.datasets.imagenet9 import IMAGENET9_RANGES

    wnid = [f"n{i:08d}" for i in range(1000)]
    classes = [start for start, _ in IMAGENET9_RANGES.values()]  # one ImageNet class per super-class
    root.mkdir(parents=True)
    (root / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes({
        f"{wnid[i]}.tar": tar_bytes({f"{wnid[i]}_{j}.JPEG": solid_jpeg((i % 255, j * 50, 0), (80, 60))
                                     for j in range(3)} if i in classes else {}, mode="w")
        for i in range(1000)}, mode="w"))
    for i in classes:
        (root / f"imagenet-a.tar/imagenet-a/{wnid[i]}").mkdir(parents=True)
        (root / f"imagenet-a.tar/imagenet-a/{wnid[i]}/a_{i}.jpg").write_bytes(solid_jpeg((i % 255, 9, 9), (80, 60)))


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def stage_dataset(preset: str, work: Path, server: FileServer) -> None:
    """Make the preset's dataset obtainable as its users obtain it: served for the download stage (``/mirror/``,
    which the runs get as ``$DDB_MIRRORS``), placed by hand in ``results/downloads/<source>/``, or, where the source
    checks a published checksum that fixture bytes cannot have (MNIST, CIFAR-10, ImageNet), as the download stage's
    extracted folder."""
    downloads = work / "results/downloads"
    if preset == "waterbirds":
        server.files["/mirror/waterbird_complete95_forest2water2.tar.gz"] = waterbirds_archive()
    elif preset == "bar":
        server.files["/mirror/BAR-master.zip"] = bar_archive()
    elif preset == "celeba":
        write_files(downloads / "celeba", {"celeba-dataset.zip": celeba_archive()})
    elif preset == "bffhq":
        write_files(downloads / "bffhq", {"bffhq.zip": bffhq_archive()})
    elif preset == "cmnist":
        write_files(downloads / "cmnist/extracted", mnist_files())
    elif preset == "corrupted_cifar10":
        write_files(downloads / "corrupted_cifar10/extracted/cifar-10-binary.tar.gz/cifar-10-batches-bin",
                    cifar10_batches())
    elif preset == "imagenet9":
        imagenet9_files(downloads / "imagenet9/extracted")
    elif preset == "urbancars":
        write_files(downloads / "stanford_cars", stanford_cars_files())
        for name, data in {"places365standard_easyformat.tar": places_archive(), **lvis_files()}.items():
            server.files[f"/mirror/{name}"] = data
    elif preset == "colored_fashion_mnist" and not FASHION_MNIST.exists():
        raise RuntimeError(f"{FASHION_MNIST} missing: apt-get install dataset-fashion-mnist")


# ---- fixture weights: torchvision's layouts, random values ----
@functools.lru_cache(maxsize=None)
def fixture_weights(name: str) -> bytes:
    import torch
    from torchvision import models
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    torch.manual_seed(0)
    model = {"resnet18": lambda: models.resnet18(weights=None), "resnet50": lambda: models.resnet50(weights=None),
             "maskrcnn_resnet50_fpn_v2": lambda: maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)}[name]()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def serve_weights(work: Path, server: FileServer) -> str:
    """Serve fixture weights for every name and write the config file that points the workflow at them (the
    ``pretrained_weights`` section: a site's own files); returns its name."""
    from ddb.models.pretrained import WEIGHTS

    sources = {}
    for name in WEIGHTS:
        data = fixture_weights(name)
        server.files[f"/weights/{name}-fixture.pth"] = data
        sources[name] = {"url": f"{server.url}/weights/{name}-fixture.pth", "sha256": hashlib.sha256(data).hexdigest()}
    (work / "fixture_weights.yaml").write_text(yaml.safe_dump({"pretrained_weights": sources}))
    return "fixture_weights.yaml"


# ---- running ----
def configfiles(preset: str, paper: bool, weights_config: str) -> list[str]:
    """The user's command line (paper preset first, as the README writes it), the rehearsal overlay, the fixtures."""
    return [*(["configs/paper.yaml"] if paper else []), f"configs/{preset}.yaml", "configs/rehearsal.yaml",
            weights_config]


def benchmark_seconds(work: Path, since: float = 0.0) -> dict[str, tuple[int, float]]:
    """Rule -> (jobs, summed wall seconds) from Snakemake's benchmark records written after ``since`` (a time)."""
    out = {}
    for tsv in (work / "results/benchmarks").rglob("*.tsv"):
        if tsv.stat().st_mtime < since:
            continue
        rule = tsv.relative_to(work / "results/benchmarks").parts[0]
        with open(tsv) as f:
            seconds = float(next(csv.DictReader(f, delimiter="\t"))["s"])
        jobs, total = out.get(rule, (0, 0.0))
        out[rule] = (jobs + 1, total + seconds)
    return out


def run(work: Path, preset: str, paper: bool, weights_config: str, server: FileServer, prefix: list[str] | None = None,
        env: dict | None = None, timeout: float = 3000, overlays: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``snakemake [prefix] --configfile ... [overlays] -- all`` in ``work`` (``prefix``: e.g. ``--profile slurm``;
    default ``--cores 2``; ``overlays``: more config files, last)."""
    command = [*SNAKEMAKE, *(prefix or ["--cores", "2"]), "--configfile", *configfiles(preset, paper, weights_config),
               *overlays, "--", "all"]
    environment = {**ENV, **(env or {}), "DDB_MIRRORS": f"{server.url}/mirror"}
    return subprocess.run(command, cwd=work, env=environment, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def rehearsal_copy(preset: str, work: Path):
    """A copy of the repository with the preset's fixtures staged and the fixture server running; yields
    (work, weights config file name, server)."""
    copy_workflow(work)
    shutil.copytree(REPO / "configs", work / "configs", dirs_exist_ok=True)
    with FileServer().running() as server:
        stage_dataset(preset, work, server)
        yield work, serve_weights(work, server), server


def rehearse(preset: str, work: Path, variants=("alone", "paper"), cores: int = 2) -> dict:
    """The preset alone, then with the paper preset (in the same results/, so only what the paper settings change
    reruns); returns per-variant wall time and per-rule benchmark seconds. Raises with the log tail on failure."""
    result = {}
    with rehearsal_copy(preset, work) as (work, weights_config, server):
        for paper in [variant == "paper" for variant in variants]:
            started, start = time.time(), time.perf_counter()
            proc = run(work, preset, paper, weights_config, server, prefix=["--cores", str(cores)])
            wall = time.perf_counter() - start
            if proc.returncode:
                raise AssertionError(f"rehearsal of {preset}{' + paper' if paper else ''} failed:\n"
                                     f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
            result["paper" if paper else "alone"] = {"wall_s": wall, "rules": benchmark_seconds(work, started)}
    return result


# ---- the table of docs/rehearsal.md ----
def render(results: dict[str, dict], total_s: float, cores: int) -> str:
    rules = sorted({rule for r in results.values() for v in r.values() for rule in v["rules"]})
    header = ["preset", "with", "wall s", *rules]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for preset, variants in results.items():
        for variant, record in variants.items():
            cells = [f"{record['rules'][r][1]:.0f} ({record['rules'][r][0]})" if r in record["rules"] else ""
                     for r in rules]
            lines.append("| " + " | ".join([preset, "configs/paper.yaml" if variant == "paper" else "alone",
                                             f"{record['wall_s']:.0f}", *cells]) + " |")
    import torch

    cpu = platform.processor() or platform.machine()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return ("# Rehearsals of the dataset presets\n\n"
            "Generated by `python tests/rehearsal.py` (`make rehearsal`); do not edit by hand. Each preset ran as a "
            f"user types it, `snakemake --cores {cores} --configfile [configs/paper.yaml] configs/<preset>.yaml "
            "configs/rehearsal.yaml -- all`, on fixture files (tests/rehearsal.py), the paper variant in the same "
            "results/ after the preset alone, so it reruns only what the paper settings change. Cells: seconds "
            "summed over the rule's jobs (jobs), from Snakemake's benchmark records; an empty cell: the rule did not "
            f"run. Machine: {os.cpu_count()} CPUs ({cpu}), {device}; {total_s / 60:.1f} min in all.\n\n"
            + "\n".join(lines) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=sorted(PRESETS))
    p.add_argument("--variants", nargs="+", choices=("alone", "paper"), default=["alone", "paper"],
                   help="the preset alone, and with configs/paper.yaml (in that order, in one results/ folder)")
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    p.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    p.add_argument("--out", type=Path, default=REPO / "docs/rehearsal.md", help="the Markdown table to write")
    args = p.parse_args(argv)
    import tempfile

    root = args.keep or Path(tempfile.mkdtemp(prefix="ddb-rehearsal-"))
    start, results = time.perf_counter(), {}
    for preset in args.presets:
        print(f"rehearsing {preset} ...", flush=True)
        results[preset] = rehearse(preset, root / preset, args.variants, args.cores)
        print(f"  {preset}: " + ", ".join(f"{v} {r['wall_s']:.0f} s" for v, r in results[preset].items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, time.perf_counter() - start, args.cores))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
