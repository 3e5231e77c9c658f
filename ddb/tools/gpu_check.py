"""The one-command GPU check: what a lent GPU machine should measure in a few minutes, as JSON + Markdown.

    python -m ddb.tools.gpu_check                         # on the GPU machine: results/gpu_check/gpu_check.{json,md}
    python -m ddb.tools.gpu_check --tiny --device cpu     # the same code path in seconds (tests/test_bench.py)

It runs ``ddb.tools.bench`` with the rows the GPU questions need, on the device's name in the header: training
images/s of the paper-preset diffusion UNet (configs/paper.yaml, batch 32) in fp32, bf16, bf16 + channels_last and
+ torch.compile; sampling images/s of DPM-Solver++ 20 steps vs ancestral DDPM 1,000 steps; ResNet-50 224 px
training images/s from the image store (crops on the device, or in DataLoader workers) vs on tensors already on the
device; and each row's peak GPU memory. Sized to finish within 8 minutes on one current GPU (torch.compile's first
call is most of it); nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ddb.tools import bench


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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/gpu_check/gpu_check.json"),
                   help="JSON output (the Markdown table is written next to it)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: checks the code path in seconds, on any device")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers of the input-pipeline alternative")
    return p.parse_args(argv)


def main(argv=None) -> None:
    bench.main(bench_arguments(parse_args(argv)))


if __name__ == "__main__":
    main()
