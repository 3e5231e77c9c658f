"""An estimate of a configuration's GPU cost per stage, from FLOP counts: what a run of the paper's settings costs
before anyone pays for it.

    python -m ddb.tools.cost                                     # Waterbirds + the paper preset: docs/gpu-cost.md
    python -m ddb.tools.cost --configfile configs/paper.yaml configs/celeba.yaml --dataset celeba \\
        --split-sizes 162770 19867 19962 --out /tmp/celeba-cost.md
    python -m ddb.tools.cost --measured results/gpu_check/gpu_check.json     # with a GPU's measured throughput

The FLOPs of one image through each network (forward; forward + backward for training) are counted by PyTorch's
FlopCounterMode on the meta device (shapes only: nothing is computed; attention through its math kernel, so it is
counted too), at the resolution each stage uses, and multiplied by the images each stage processes under the config:
training steps x batch, sampling steps x images x 2 (classifier-free guidance doubles the batch), scoring and
evaluation passes. GPU-hours follow from an assumed sustained share of the GPU's bf16 dense peak (default: an H100
SXM's 989 TFLOP/s at 10 % and at 30 %; PyTorch's ResNet-50 training is typically near the lower end); these columns
are estimates. ``--measured`` adds a column from ``python -m ddb.tools.gpu_check``'s table (images/s of the paper
UNet's training, the ancestral sampler and ResNet-50 224 px training on that GPU) for the stages it measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from snakemake.utils import validate

from ddb.core.atomic import write_text
from ddb.workflow.planning import REPO, SCHEMA, Plan, merged

WATERBIRDS_SPLITS = (4795, 1199, 5794)  # train, val, test images of the group_DRO release


def load_config(configfiles: list[Path]) -> dict:
    """config.yaml with the config files merged over it in order, as ``snakemake --configfile`` does, validated."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in configfiles:
        config = merged(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str(SCHEMA))
    return config


class Flops:
    """FLOPs of one image through the networks the stages use, counted once per (network, size, training)."""

    def __init__(self):
        self.cache: dict[tuple, float] = {}

    def _count(self, model, inputs: tuple, train: bool) -> float:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.utils.flop_counter import FlopCounterMode

        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            if train:
                model(*inputs).float().sum().backward()
            else:
                with torch.no_grad():
                    model(*inputs)
        return float(counter.get_total_flops())

    def unet(self, settings: dict, num_classes: int, train: bool) -> float:
        import torch

        from ddb.models.unet import build_unet

        key = ("unet", json.dumps(settings, sort_keys=True), num_classes, train)
        if key not in self.cache:
            with torch.device("meta"):  # shapes only: FLOPs follow from them, nothing is computed
                unet, size = build_unet(settings, num_classes), settings["image_size"]
                conditional = lambda x: unet(x, torch.tensor([10]), class_labels=torch.tensor([0])).sample  # noqa: E731
                self.cache[key] = self._count(conditional, (torch.zeros(1, 3, size, size),), train)
        return self.cache[key]

    def classifier(self, arch: str, size: int, train: bool) -> float:
        import torch

        from ddb.models.classifiers import build_classifier

        key = (arch, size, train)
        if key not in self.cache:
            with torch.device("meta"):
                self.cache[key] = self._count(build_classifier(arch, 2), (torch.zeros(1, 3, size, size),), train)
        return self.cache[key]


def stage_costs(plan: Plan, dataset: str, splits: tuple[int, int, int], flops: Flops) -> list[dict]:
    """One row per stage: jobs, images through a network, and FLOPs, for ``dataset`` under ``plan``."""
    n_train, n_val, n_test = splits
    classes = len(plan.class_indices(dataset))
    diffusion, sampling = plan.section(dataset, "diffusion"), plan.sampling_section(dataset, "base")
    amplifier, bias_classifier = plan.section(dataset, "amplifier"), plan.bias_classifier_section(dataset)
    classifier = plan.section(dataset, "classifier")
    low = diffusion["image_size"]
    native = plan.source_settings(dataset).get("image_size", low)
    target = classifier["crop_size"] if classifier["augmentation"] == "resized_crop" else native
    rows = []

    def row(stage, jobs, images, per_image, model):
        rows.append({"stage": stage, "jobs": jobs, "images": images, "flops": images * per_image, "model": model})

    train_unet, unet = flops.unet(diffusion, classes, True), flops.unet(diffusion, classes, False)
    if plan.synthetic_methods:
        row("train_diffusion", 1, diffusion["steps"] * diffusion["batch_size"], train_unet, "unet_train")
        synthetic = classes * sampling["images_per_class"]
        row("sample_synthetic", classes, synthetic * sampling["num_inference_steps"] * 2, unet, "sampling")
        held_out = round(amplifier["holdout_fraction"] * synthetic)
        row("train_amplifier", 1, amplifier["epochs"] * (synthetic - held_out),
            flops.classifier(amplifier["arch"], low, True) + held_out / max(1, synthetic - held_out)
            * flops.classifier(amplifier["arch"], low, False), "")
        row("score_real", 1, n_train + n_val + n_test, flops.classifier(amplifier["arch"], low, False), "")
    if plan.measures_bias(dataset):
        held_out = round(bias_classifier["holdout_fraction"] * n_val)
        row("train_bias_classifier", 1, bias_classifier["epochs"] * (n_val - held_out),
            flops.classifier(bias_classifier["arch"], low, True) + held_out / max(1, n_val - held_out)
            * flops.classifier(bias_classifier["arch"], low, False), "")
    runs = plan.run_seed_pairs()
    train_step = flops.classifier(classifier["arch"], target, True)
    evaluation = flops.classifier(classifier["arch"], target, False)
    for run, seed in runs:
        method = plan.run_method(run)
        per_image = train_step
        if method == "lff":  # the biased model trains alongside
            per_image += train_step
        if method in ("ddb_ii", "ddb_ii_real_amplifier"):  # the frozen amplifier scores every batch
            per_image += flops.classifier(amplifier["arch"], target, False)
        steps = classifier["steps"]
        evaluations = steps // classifier["eval_every"]
        images = steps * classifier["batch_size"]
        row(f"train_debiased {run} seed {seed}", 1, images + evaluations * n_val * evaluation / per_image, per_image,
            "resnet_train" if classifier["arch"] == "resnet50" and target == 224 else "")
        row(f"evaluate {run} seed {seed}", 1, n_test, evaluation, "")
    return rows


def measured_throughput(path: Path) -> dict[str, float]:
    """images/s of the stages gpu_check measured: the best variant of each row group it times."""
    rows = json.loads(path.read_text())["rows"]
    best = {}
    for kind, match in (("unet_train", lambda r: r["group"] == "diffusion_train" and "paper UNet" in r["config"]),
                        ("sampling", lambda r: r["group"] == "sampling" and "paper UNet, ddpm 1000" in r["config"]),
                        ("resnet_train", lambda r: r["group"] == "input_pipeline" and "(ddb)" in r["variant"])):
        speeds = [r["images_per_s"] for r in rows if match(r)]
        if speeds:
            best[kind] = max(speeds)
    if "sampling" in best:  # a sampling row's images went through all 1,000 steps, twice (CFG)
        best["sampling"] *= 1000 * 2
    return best


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.2f}" if seconds >= 36 else "< 0.01"


def render(rows: list[dict], args, measured: dict[str, float]) -> str:
    peak = args.peak_tflops * 1e12
    shares = args.utilisation
    header = ["stage", "jobs", "images through the network", "PFLOP",
              *[f"GPU-h at {share:.0%} of peak" for share in shares], *(["GPU-h measured"] if measured else [])]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    grouped: dict[str, dict] = {}
    for row in rows:
        name = row["stage"].split()[0] if row["stage"].startswith(("train_debiased", "evaluate")) else row["stage"]
        group = grouped.setdefault(name, {"jobs": 0, "images": 0.0, "flops": 0.0, "measured_s": 0.0,
                                          "model": row["model"]})
        group["jobs"] += row["jobs"]
        group["images"] += row["images"]
        group["flops"] += row["flops"]
        if row["model"] in measured:
            group["measured_s"] += row["images"] / measured[row["model"]]
    total = {"flops": 0.0, "measured_s": 0.0}
    for name, group in grouped.items():
        total["flops"] += group["flops"]
        total["measured_s"] += group["measured_s"]
        cells = [name, str(group["jobs"]), f"{group['images']:,.0f}", f"{group['flops'] / 1e15:.3g}",
                 *[hours(group["flops"] / (share * peak)) for share in shares]]
        if measured:
            cells.append(hours(group["measured_s"]) if group["model"] in measured else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| **total** | | | " + f"{total['flops'] / 1e15:,.0f} | "
                 + " | ".join(f"**{total['flops'] / (share * peak) / 3600:,.1f}**" for share in shares)
                 + (" | " if measured else "") + " |")
    command = " ".join(["python -m ddb.tools.cost", *(["--configfile", *map(str, args.configfile)]
                                                       if args.configfile != DEFAULT_CONFIGS else [])])
    return (f"# GPU cost of {args.dataset} with {', '.join(str(c) for c in args.configfile)} (estimate)\n\n"
            f"Generated by `{command}`; do not edit by hand. **An estimate until measured**: FLOPs are counted "
            f"exactly (PyTorch's FlopCounterMode, one image through each network at the resolution its stage uses), "
            f"the GPU-hours assume a sustained share of a {args.peak_tflops:g} TFLOP/s bf16 dense peak (an H100 SXM). "
            "PyTorch's ResNet-50 training reaches about a tenth of that peak on such a GPU; a small UNet with "
            "attention at 64 px may reach more. `python -m ddb.tools.cost --measured results/gpu_check/gpu_check.json` "
            "adds a column from a GPU's measured images/s (`python -m ddb.tools.gpu_check`). Split sizes: "
            f"{args.split_sizes[0]:,} train, {args.split_sizes[1]:,} val, {args.split_sizes[2]:,} test images; "
            f"one seed per method as configured.\n\n" + "\n".join(lines) + "\n")


DEFAULT_CONFIGS = [Path("configs/paper.yaml"), Path("configs/waterbirds.yaml")]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configfile", nargs="+", type=Path, default=DEFAULT_CONFIGS,
                   help="config files merged over config.yaml, as snakemake --configfile")
    p.add_argument("--dataset", default="waterbirds", help="the dataset of the config to estimate")
    p.add_argument("--split-sizes", nargs=3, type=int, default=WATERBIRDS_SPLITS, metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's bf16 dense peak (H100 SXM: 989)")
    p.add_argument("--utilisation", nargs="+", type=float, default=[0.1, 0.3], help="assumed shares of the peak")
    p.add_argument("--measured", type=Path, default=None, help="gpu_check.json of a GPU's throughput rows")
    p.add_argument("--out", type=Path, default=REPO / "docs/gpu-cost.md")
    return p.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    plan = Plan(load_config([REPO / c if not Path(c).is_absolute() else c for c in args.configfile]))
    rows = stage_costs(plan, args.dataset, tuple(args.split_sizes), Flops())
    text = render(rows, args, measured_throughput(args.measured) if args.measured else {})
    write_text(args.out, text)
    print(text)
    return text


if __name__ == "__main__":
    main()
