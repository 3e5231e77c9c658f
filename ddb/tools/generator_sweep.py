"""The generator sweep of configs/generator_sweep.yaml: which files it needs, and its table and figures.

Each knob of the generator is varied alone from the default; a point is a (dataset, sampling variant) whose
synthetic set has its rho (``synthetic/<variant>/bias_share.json``) and whose amplifier has its detection of the
bias-conflicting training images (``amplifier/synthetic/<variant>/detection.json``). Uses bias labels: evaluation.

    python -m ddb.tools.generator_sweep targets            # the files for snakemake
    python -m ddb.tools.generator_sweep report --out results/generator_sweep
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ddb.workflow.planning import sampling_variant_name

# knob -> points (dataset, sampling override, the knob's value), named as planning names the synthetic sets; the
# first point of a dataset is its reference
AT_40 = {"images_per_class": 40}
SAMPLERS = [(AT_40, "DPM-Solver++ 20"), (AT_40 | {"scheduler": "ddim", "num_inference_steps": 50}, "DDIM 50"),
            (AT_40 | {"scheduler": "ddpm", "num_inference_steps": 1000, "clip_denoised": False}, "DDPM 1000")]
GUIDANCE = [({"guidance_w": 0.0}, 0.0), ({}, 1.0), ({"guidance_w": 3.0}, 3.0), ({"guidance_w": 7.0}, 7.0)]
KNOBS = {
    "sampler (40 images per class)": [(d, v, x) for d in ("backgrounds", "cfmnist") for v, x in SAMPLERS],
    "guidance w": [(d, v, x) for d in ("backgrounds", "cfmnist") for v, x in GUIDANCE],
    "diffusion training steps": [("cfmnist_steps500", {}, 500), ("cfmnist", {}, 1000),
                                 ("cfmnist_steps2k", {}, 2000), ("cfmnist_steps4k", {}, 4000)],
    # at 40 images per class: sampling 32 px images costs about four times 16 px on 2 CPU cores
    "diffusion resolution (px, 40 images per class)": [("cfmnist", AT_40, 16), ("cfmnist_32px", AT_40, 32)],
}


def point_files(dataset: str, variant: str, root: Path = Path("results")) -> dict[str, Path]:
    return {"rho_real": root / dataset / "bias_classifier/real_bias_share.json",
            "rho_synthetic": root / dataset / "synthetic" / variant / "bias_share.json",
            "detection": root / dataset / "amplifier/synthetic" / variant / "detection.json"}


def points() -> list[tuple[str, str, str, object]]:
    """(knob, dataset, synthetic set name, value) of every point."""
    return [(knob, dataset, sampling_variant_name(override), value)
            for knob, entries in KNOBS.items() for dataset, override, value in entries]


def wall_seconds(root: Path, dataset: str, variant: str) -> dict[str, float]:
    """Wall time of the point's own jobs, from Snakemake's benchmark files (seconds; NaN where absent)."""
    bench = root / "benchmarks"

    def total(pattern: str) -> float:
        files = sorted(bench.glob(pattern))
        return float(sum(pd.read_csv(f, sep="\t")["s"].iloc[0] for f in files)) if files else float("nan")

    return {"diffusion_s": total(f"train_diffusion/{dataset}.tsv"),
            "sampling_s": total(f"sample_synthetic/{dataset}/{variant}/class_*.tsv"),
            "amplifier_s": total(f"train_amplifier/{dataset}/{variant}.tsv")}


def table(roots: list[Path]) -> pd.DataFrame:
    """A row per finished point, from the first results root that holds all its files."""
    rows = []
    for knob, dataset, variant, value in points():
        found = [(root, point_files(dataset, variant, root)) for root in roots]
        found = [(root, files) for root, files in found if all(path.exists() for path in files.values())]
        if not found:
            continue
        root, files = found[0]
        real, synthetic, detection = (json.loads(files[k].read_text()) for k in ("rho_real", "rho_synthetic",
                                                                                   "detection"))
        rows.append({"knob": knob, "dataset": dataset, "value": value, "variant": variant,
                     "rho_real": real["rho"], "rho_synthetic": synthetic["rho"],
                     "amplified": synthetic["rho"] > real["rho"], "amp_auroc": detection.get("amp_auroc"),
                     "amp_precision": detection.get("amp_precision"), "amp_recall": detection.get("amp_recall"),
                     **wall_seconds(root, dataset, variant), "results": str(root)})
    return pd.DataFrame(rows)


def figure(rows: pd.DataFrame, knob: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rho_ax, det_ax) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for i, ((family, _), part) in enumerate(rows.groupby([rows["dataset"].str.split("_").str[0], "knob"])):
        colour = f"C{i}"
        x = list(range(len(part))) if part["value"].map(lambda v: isinstance(v, str)).any() else part["value"]
        rho_ax.plot(x, part["rho_synthetic"], "o-", color=colour, label=f"{family}: rho synthetic")
        # each point's own real rho (a dataset at another resolution has its own bias classifier)
        rho_ax.plot(x, part["rho_real"], "--", color=colour, lw=1, label=f"{family}: rho real")
        det_ax.plot(x, part["amp_auroc"], "o-", color=colour, label=f"{family}: AUROC")
        det_ax.plot(x, part["amp_precision"], "s:", color=colour, label=f"{family}: precision")
        det_ax.plot(x, part["amp_recall"], "^:", color=colour, label=f"{family}: recall")
        if not isinstance(x, pd.Series):
            for ax in (rho_ax, det_ax):
                ax.set_xticks(x, part["value"].tolist())
    rho_ax.set(title="bias amplification", xlabel=knob, ylabel="rho (share of bias-aligned images)")
    det_ax.set(title="synthetic amplifier: detection of conflicting images", xlabel=knob, ylabel="AUROC / fraction")
    rho_ax.legend(fontsize=7)
    det_ax.legend(fontsize=7)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("targets", help="print the files the sweep needs")
    report = sub.add_parser("report", help="the table (CSV, Markdown) and a figure per knob of the finished points")
    report.add_argument("--results", nargs="+", type=Path, default=[Path("results")],
                        help="results folders (a sweep split over several checkouts)")
    report.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.command == "targets":
        files = {str(path) for _, dataset, variant, _ in points() for path in point_files(dataset, variant).values()}
        print(" ".join(sorted(files)))
        return
    rows = table(args.results)
    if rows.empty:
        raise SystemExit(f"no point of the sweep is finished under {' '.join(map(str, args.results))}: run the "
                         "snakemake command first")
    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "generator_sweep.csv", index=False)
    (args.out / "generator_sweep.md").write_text(rows.to_markdown(index=False, floatfmt=".4f"))
    for knob, part in rows.groupby("knob", sort=False):
        figure(part, knob, args.out / f"{knob.split(' (')[0].replace(' ', '_')}.png")
    print(rows.to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
