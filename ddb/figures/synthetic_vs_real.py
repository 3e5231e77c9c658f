"""Figure "synthetic vs real": per class, a grid of synthetic images next to a grid of real training images (real
bias-conflicting images framed in red where bias labels exist), so a reader sees the synthetic set's bias.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ddb.core.images import image_grid, load_image
from ddb.core.logs import start_stage
from ddb.core.tables import read_table
from ddb.figures.common import class_names, plt, sample_indices, save_figure

log = logging.getLogger("ddb.figures.synthetic_vs_real")
GRID_COLUMNS, GRID_ROWS = 8, 4  # images per grid: enough to see a colour/background bias, small enough to read


def synthetic_vs_real_figure(rows: list[dict]) -> plt.Figure:
    """``rows``: per class ``{"name", "synthetic" (N,H,W,3) uint8, "real" (M,H,W,3) uint8, "conflicting" (M,) bool
    or None}``; one figure row per class, synthetic grid left, real grid right."""
    # constrained layout keeps the title clear of the first row; tight_layout let them overlap from ~10 classes on
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 2.6 * len(rows)), squeeze=False, layout="constrained")
    for (ax_syn, ax_real), row in zip(axes, rows):
        ax_syn.imshow(image_grid(row["synthetic"], GRID_COLUMNS, scale=1))
        ax_real.imshow(image_grid(row["real"], GRID_COLUMNS, scale=1, outline=row["conflicting"]))
        n_conf = "" if row["conflicting"] is None else f", {int(row['conflicting'].sum())} bias-conflicting (red)"
        ax_syn.set_title(f"{row['name']}: synthetic", fontsize=10)
        ax_real.set_title(f"{row['name']}: real training images{n_conf}", fontsize=10)
        for ax in (ax_syn, ax_real):
            ax.set_axis_off()
    fig.suptitle("Synthetic set (left) vs real training images (right), per class", fontsize=12)
    return fig


def synthetic_vs_real_rows(metadata: pd.DataFrame, root: Path, synthetic_dirs: list[Path], seed: int = 0) -> list[dict]:
    """A random sample of each class's synthetic images and real training images, at the synthetic size."""
    train = metadata[metadata["split"] == "train"]
    names = class_names(metadata)
    rows = []
    for k, folder in enumerate(synthetic_dirs):
        files = sorted(Path(folder).glob("*.png"))
        if not files:
            raise ValueError(f"no PNG images in {folder}; re-run the sample_synthetic stage for class {k}")
        synthetic = np.stack([load_image(files[i], None) for i in sample_indices(len(files), GRID_COLUMNS * GRID_ROWS, seed)])
        real_rows = train[train["label"] == k].iloc[sample_indices(int((train["label"] == k).sum()), GRID_COLUMNS * GRID_ROWS, seed)]
        real = np.stack([load_image(root / p, synthetic.shape[1]) for p in real_rows["path"]])
        known = real_rows["bias_aligned"].notna().all()
        conflicting = ~real_rows["bias_aligned"].to_numpy(dtype=bool) if known else None
        rows.append({"name": names.get(k, str(k)), "synthetic": synthetic, "real": real, "conflicting": conflicting})
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metadata", required=True, type=Path, help="metadata.parquet written by prepare_data")
    p.add_argument("--synthetic", required=True, nargs="+", type=Path, help="class_<k>/images folders, in class order")
    p.add_argument("--out", required=True, type=Path, help="output PNG")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    metadata = read_table(args.metadata, "metadata")
    fig = synthetic_vs_real_figure(synthetic_vs_real_rows(metadata, args.metadata.parent, args.synthetic))
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
