"""The second built-in benchmark, modelled on Waterbirds' statistics: an object on a textured background (source
``builtin_backgrounds``). Generated, no download; everything is drawn from one ``numpy.random.Generator`` per split,
so a seed fixes the dataset.

Designed (and committed) before any method was run on it; the design is not to be tuned to method results.

- Label = the object, two classes like Waterbirds' land and water birds: 0 ``triangle``, 1 ``square``, filled or
  outlined, at a random rotation, scale (radius 18-30 % of the image side) and position, in a colour drawn from one
  palette shared by both classes (colour says nothing about the class). The object covers roughly a tenth of the
  image, so it is the harder feature, but a small CNN can learn it.
- Bias = the background texture, Waterbirds' land and water: 0 ``land`` = near-vertical bars broken by random
  nodes (bamboo-like), 1 ``water`` = near-horizontal sinusoidal ripples with a wobble. Both textures are painted in
  two colours drawn from the same distribution, so the bias is the texture, not a colour.
- Training split: Waterbirds' group counts (landbird on land 3,498, on water 184; waterbird on land 56, on water
  1,057 of 4,795), scaled to ``n_train``: 5 % bias-conflicting, and the classes imbalanced (77 / 23 %).
- Val and test: balanced over (class, background), equal counts per cell (Waterbirds' val and test are balanced
  over the background within each class).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ddb.datasets.common import COLUMNS, Source

log = logging.getLogger("ddb.datasets.builtin_backgrounds")

OBJECTS = ("triangle", "square")
BACKGROUNDS = ("land", "water")
# Waterbirds' training group counts: (label, background) -> images
WATERBIRDS_TRAIN_GROUPS = {(0, 0): 3498, (0, 1): 184, (1, 0): 56, (1, 1): 1057}
OBJECT_PALETTE = ((235, 235, 235), (230, 60, 50), (250, 200, 40), (60, 110, 250), (240, 120, 220), (40, 40, 40))
SUPERSAMPLE = 4


def group_counts(n: int, split: str) -> dict[tuple[int, int], int]:
    """Images per (label, background) cell: Waterbirds' training shares scaled to ``n`` (train), else equal cells;
    rounded by largest remainder, so the counts add up to ``n``."""
    shares = ({cell: count / sum(WATERBIRDS_TRAIN_GROUPS.values()) for cell, count in WATERBIRDS_TRAIN_GROUPS.items()}
              if split == "train" else {cell: 0.25 for cell in WATERBIRDS_TRAIN_GROUPS})
    counts = {cell: int(math.floor(share * n)) for cell, share in shares.items()}
    for cell in sorted(shares, key=lambda c: counts[c] - shares[c] * n)[: n - sum(counts.values())]:
        counts[cell] += 1
    return counts


def texture(background: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size, 3) float texture in [0, 255]: bars (land) or ripples (water) between two random colours."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    period = rng.uniform(6, 10) * size / 32
    phase = rng.uniform(0, 2 * np.pi)
    if background == 0:  # land: near-vertical bars with nodes
        angle = np.deg2rad(rng.uniform(-15, 15))
        u = x * math.cos(angle) + y * math.sin(angle)
        v = -x * math.sin(angle) + y * math.cos(angle)
        bars = (np.sin(2 * np.pi * u / period + phase) > 0).astype(np.float64)
        node_gap = rng.uniform(8, 14) * size / 32
        nodes = (np.mod(v + rng.uniform(0, node_gap), node_gap) < 1.2 * size / 32)
        pattern = np.where(nodes, 0.5, bars)
    else:  # water: near-horizontal ripples with a wobble
        angle = np.deg2rad(rng.uniform(-15, 15))
        u = x * math.sin(angle) + y * math.cos(angle)
        v = x * math.cos(angle) - y * math.sin(angle)
        wobble = rng.uniform(0.6, 1.5) * np.sin(2 * np.pi * v / rng.uniform(10, 18) * 32 / size + rng.uniform(0, 6.3))
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (u + wobble * size / 32) / period + phase)
    dark, light = rng.uniform(20, 120, size=3), rng.uniform(110, 230, size=3)
    return dark + pattern[..., None] * (light - dark)


def object_polygon(label: int, big: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Vertices of the class's object (triangle or square) at a random rotation, scale, aspect and position."""
    corners = 3 if OBJECTS[label] == "triangle" else 4
    radius = rng.uniform(0.18, 0.30) * big
    aspect = rng.uniform(0.85, 1.15)
    cx, cy = big / 2 + rng.uniform(-0.2, 0.2, size=2) * big
    angle = rng.uniform(0, 2 * np.pi)
    points = []
    for i in range(corners):
        a = angle + 2 * np.pi * i / corners
        points.append((cx + radius * aspect * math.cos(a), cy + radius / aspect * math.sin(a)))
    return points


def draw_image(label: int, background: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One (size, size, 3) uint8 image: the class's object on the background's texture, with pixel noise."""
    big = size * SUPERSAMPLE
    base = Image.fromarray(np.clip(texture(background, big, rng), 0, 255).astype(np.uint8))
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    points = object_polygon(label, big, rng)
    if rng.random() < 0.25:  # outlined
        draw.line(points + [points[0]], fill=255, width=max(1, int(rng.uniform(0.07, 0.1) * big)), joint="curve")
    else:
        draw.polygon(points, fill=255)
    colour = np.array(OBJECT_PALETTE[rng.integers(len(OBJECT_PALETTE))]) + rng.normal(0, 10, size=3)
    paint = Image.new("RGB", (big, big), tuple(int(c) for c in np.clip(colour, 0, 255)))
    base.paste(paint, (0, 0), mask)
    small = np.asarray(base.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    small += rng.normal(0, 6, size=small.shape)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def generate(split: str, n: int, image_size: int, seed: int):
    """Images (n, H, W, 3) uint8, labels and background (bias) indices of one split; deterministic in ``seed``."""
    rng = np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split]])
    cells = [cell for cell, count in group_counts(n, split).items() for _ in range(count)]
    order = rng.permutation(len(cells))
    labels = np.array([cells[i][0] for i in order], dtype=np.int64)
    backgrounds = np.array([cells[i][1] for i in order], dtype=np.int64)
    images = np.stack([draw_image(int(y), int(b), image_size, rng) for y, b in zip(labels, backgrounds)])
    return images, labels, backgrounds


def build_builtin_backgrounds(raw: Path | None, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    rows = []
    for split in ("train", "val", "test"):
        images, labels, backgrounds = generate(split, settings[f"n_{split}"], settings["image_size"], settings["seed"])
        (image_dir / split).mkdir(parents=True)
        for i, (image, y, b) in enumerate(zip(images, labels, backgrounds)):
            name = f"{split}/{split}_{i:06d}_{OBJECTS[y]}_{BACKGROUNDS[b]}.png"
            Image.fromarray(image).save(image_dir / name)
            rows.append((f"{split}_{i:06d}", f"{prefix}/{name}", int(y), OBJECTS[y], split, int(b), bool(y == b),
                         int(2 * y + b)))
        n_conf = int((labels != backgrounds).sum())
        log.info("%s: %d images, %d bias-conflicting (%.2f%%)", split, len(labels), n_conf, 100 * n_conf / len(labels))
    return pd.DataFrame(rows, columns=COLUMNS)


SOURCE = Source(build_builtin_backgrounds, lambda settings: 2)
