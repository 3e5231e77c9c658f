"""Scale benchmark: how time and memory grow with the dataset, at the protocols' resolution.

    python -m ddb.tools.scale --sizes 1000 3000 10000 --image-size 224 --work /tmp/ddb-scale

For each size it writes a generated dataset (JPEG photos of random rectangles over noise, 256 px, two classes, a
bias attribute aligned in 95 % of training images) as a ``folder`` dataset, then runs the real workflow up to the
real-data amplifier's scores: ``prepare_data``, ``build_image_store`` (native, ``--image-size`` px),
``train_real_amplifier`` (one epoch of a small CNN over the training split) and ``score_real`` (every image).
Wall time and peak resident memory per stage come from Snakemake's own ``benchmark:`` files (psutil sampling).
Writes ``--out`` (JSON) and a Markdown table next to it: expected, time linear in images and peak memory flat.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from ddb.core.atomic import write_text

REPO = Path(__file__).resolve().parents[2]
# what each measured stage works through: every image, or the training split (one epoch)
STAGES = {"prepare_data": ("prepare_data/scale.tsv", "all"),
          "build_image_store": ("build_image_store/scale/native.tsv", "all"),
          "train_real_amplifier (1 epoch)": ("train_real_amplifier/scale/real.tsv", "train"),
          "score_real": ("score_real/scale/real.tsv", "all")}
SPLIT_SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}


def write_dataset(folder: Path, n: int, seed: int = 0) -> dict[str, int]:
    """``n`` JPEGs and ``labels.csv`` under ``folder``; returns the images per split."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    splits = rng.choice(list(SPLIT_SHARES), size=n, p=list(SPLIT_SHARES.values()))
    labels = rng.integers(0, 2, n)
    aligned = np.where(splits == "train", rng.random(n) < 0.95, rng.random(n) < 0.5)
    rows = []
    for i in range(n):
        noise = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        image = Image.fromarray(noise).resize((256, 256), Image.Resampling.BILINEAR)
        box = rng.integers(20, 120, 2).tolist()
        image.paste((200, 40, 40) if labels[i] else (40, 40, 200), (*box, box[0] + 100, box[1] + 100))
        name = f"images/{i:06d}.jpg"
        image.save(folder / name, quality=90)
        bias = int(labels[i]) if aligned[i] else 1 - int(labels[i])
        rows.append({"path": name, "label": int(labels[i]), "split": splits[i], "bias": bias})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return pd.Series(splits).value_counts().to_dict()


def run_size(work: Path, n: int, image_size: int, cores: int) -> list[dict]:
    data = work / "data"
    counts = write_dataset(data, n)
    config = {"datasets": {"scale": {"source": "folder", "folder": {"root": str(data), "csv": str(data / "labels.csv"),
                                                                    "image_size": image_size}}},
              "run_datasets": ["scale"], "methods": ["erm", "ddb_i_real_amplifier"],
              "amplifier": {"arch": "small_cnn", "batch_size": 64}, "real_amplifier": {"epochs": 1}}
    (work / "scale.yaml").write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work), "--cores",
                    str(cores), "results/scale/amplifier/real/scores.parquet", "--configfile", str(work / "scale.yaml")],
                   check=True, cwd=work)
    rows = []
    for stage, (tsv, over) in STAGES.items():
        measured = pd.read_csv(work / "results/benchmarks" / tsv, sep="\t").iloc[0]
        images = n if over == "all" else counts["train"]
        rows.append({"images": n, "stage": stage, "images_processed": images, "seconds": float(measured["s"]),
                     "ms_per_image": 1000 * float(measured["s"]) / images, "peak_rss_mb": float(measured["max_rss"])})
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[1000, 3000, 10000], help="dataset sizes (images)")
    p.add_argument("--image-size", type=int, default=224, help="side of the prepared images")
    p.add_argument("--work", type=Path, required=True, help="scratch folder (one sub-folder per size)")
    p.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    p.add_argument("--out", type=Path, default=Path("results/bench/scale.json"), help="JSON output (.md beside it)")
    return p.parse_args(argv)


def render_rows(rows: list[dict]) -> str:
    """The Markdown table of measured ``rows``, by stage (in DAG order), then dataset size."""
    table = pd.DataFrame(rows).sort_values(["stage", "images"], key=lambda c: c.map(list(STAGES).index)
                                           if c.name == "stage" else c, kind="stable")
    shown = table.rename(columns={"images": "dataset images", "images_processed": "images processed",
                                  "seconds": "wall s", "ms_per_image": "ms / image", "peak_rss_mb": "peak RSS (MB)"})
    return shown.to_markdown(index=False, floatfmt=",.1f", intfmt=",") + "\n"


def caption(data: dict) -> str:
    """How the rows were measured, from the JSON."""
    text = f"Measured with `{data['command']}`" if data.get("command") else "Measured"
    return text + f", {data['image_size']} px." + (f" {data['note']}." if data.get("note") else "")


def render_summary(rows: list[dict]) -> str:
    """Per stage, over the dataset sizes: the range of peak memory and of time per image (what grows with the data)."""
    table = pd.DataFrame(rows)
    summary = table.groupby("stage", sort=False).agg(
        sizes=("images", lambda c: " / ".join(f"{n:,}" for n in sorted(c))),
        peak_min=("peak_rss_mb", "min"), peak_max=("peak_rss_mb", "max"),
        ms_min=("ms_per_image", "min"), ms_max=("ms_per_image", "max"))
    summary = summary.reindex([stage for stage in STAGES if stage in summary.index])
    return pd.DataFrame({
        "stage": summary.index, "dataset images": summary["sizes"],
        "peak RSS (MB), lowest to highest": [f"{a:,.0f} to {b:,.0f} ({b / a:.2f}x)" for a, b in
                                               zip(summary["peak_min"], summary["peak_max"])],
        "ms / image, fastest to slowest": [f"{a:,.1f} to {b:,.1f}" for a, b in
                                           zip(summary["ms_min"], summary["ms_max"])],
    }).to_markdown(index=False) + "\n"


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    rows = [row for n in args.sizes for row in run_size(args.work / f"n{n}", n, args.image_size, args.cores)]
    command = shlex.join(["python", "-m", "ddb.tools.scale", *argv])
    data = {"image_size": args.image_size, "command": command, "rows": rows}
    text = f"# ddb scale benchmark\n\n{caption(data)}\n\n{render_rows(rows)}\n{render_summary(rows)}"
    write_text(args.out, json.dumps(data, indent=2))
    write_text(args.out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
