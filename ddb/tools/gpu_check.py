"""The one-command GPU check: what a lent GPU machine should run in at most 8 minutes, as Markdown (+ JSON).

    python -m ddb.tools.gpu_check                         # on the GPU machine (make gpu-check): results/gpu_check/
    python -m ddb.tools.gpu_check --tiny --device cpu --no-rehearsal   # the throughput code path in seconds

First the rehearsal (tests/rehearsal.py) of ``configs/waterbirds.yaml`` with ``configs/paper.yaml``, end to end as
a user types it, on the GPU: every stage's job, the paper UNet with its attention, the ancestral sampler, ResNet-50
at 224 px with the resized crops from fixture weights staged on the login node; its per-stage times go to
``rehearsal.md``. Then ``ddb.tools.bench`` with the rows the GPU questions need (``gpu_check.md``, each row written as
it finishes): training images/s of the paper UNet (batch 32) in fp32, bf16, bf16 + channels_last and
+ torch.compile; sampling images/s of DPM-Solver++ 20 steps vs ancestral DDPM 1,000 steps; ResNet-50 224 px training
images/s from the image store (crops on the device, or in DataLoader workers) vs on tensors already on the device;
each row's peak GPU memory. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from ddb.tools import bench

REPO = Path(__file__).resolve().parents[2]


def bench_arguments(args) -> list[str]:
    """The bench command line of the check: GPU-sized, or ``--tiny`` (the tiny UNet, few images, one repeat)."""
    common = ["--out", str(args.out), "--only", "diffusion_train", "sampling", "input_pipeline",
              "--samplers", "dpmsolver++:20", "ddpm:1000", "--workers", str(args.workers)]
    if args.device:
        common += ["--device", args.device]
    if args.tiny:
        return common + ["--presets", "tiny", "--repeats", "1", "--warmup", "1", "--long-steps", "2",
                         "--train-batch", "4", "--sample-batch", "4", "--pipeline-batch", "2", "--pipeline-images", "8"]
    return common + ["--presets", "paper", "--repeats", "3", "--warmup", "2", "--long-steps", "50",
                     "--sample-batch", "256", "--pipeline-batch", "128", "--pipeline-images", "2048"]


def rehearse(out: Path, cores: int) -> bool:
    """The Waterbirds + paper rehearsal on this machine; its table goes to ``out``. Whether it passed (its log
    tail is printed either way; the throughput rows follow regardless)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "tests/rehearsal.py"), "--presets", "waterbirds", "--variants",
                           "paper", "--cores", str(cores), "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    print(proc.stdout[-3000:], proc.stderr[-6000:] if proc.returncode else "", sep="\n", flush=True)
    print(f"rehearsal of waterbirds + paper: {'passed' if proc.returncode == 0 else 'FAILED'} in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return proc.returncode == 0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/gpu_check/gpu_check.json"),
                   help="JSON output of the throughput rows (gpu_check.md and rehearsal.md are written next to it)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: checks the code path in seconds, on any device")
    p.add_argument("--no-rehearsal", action="store_true", help="the throughput rows only")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers of the input-pipeline alternative")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    rehearsed = True
    if not args.no_rehearsal:
        rehearsed = rehearse(args.out.with_name("rehearsal.md"), os.cpu_count() or 2)
    bench.main(bench_arguments(args))
    if not rehearsed:
        raise SystemExit("the rehearsal failed (its log is above); the throughput rows were measured anyway")


if __name__ == "__main__":
    main()
