"""The built-in benchmark: coloured shapes, a download-free Colored-MNIST-style biased dataset (source
``builtin_shapes``).

Label = shape (circle, square, triangle, plus, star, arrow, crescent; the first ``num_classes``).
Bias  = foreground colour: in the training split shape k is drawn in colour k except for a ``conflicting_ratio``
fraction, which get one of the other colours uniformly. Validation and test are balanced over the full
label x colour grid, so every group is represented and "unbiased accuracy" is well defined.
Natural variation: rotation, scale, aspect ratio, position, filled vs outlined stroke, colour jitter, pixel noise.
Everything is drawn from one ``numpy.random.Generator`` per split, so a seed fixes the dataset.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ddb.datasets.common import COLUMNS, Source

log = logging.getLogger("ddb.datasets.builtin_shapes")

SHAPES = ("circle", "square", "triangle", "plus", "star", "arrow", "crescent")
COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 255),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 210, 220),
    "orange": (250, 140, 20),
}
COLOUR_NAMES = tuple(COLOURS)
SUPERSAMPLE = 4  # draw large, then downsample: anti-aliased edges


def _polygon(shape: str) -> list[tuple[float, float]]:
    """Vertices of ``shape`` on the unit scale, centred at the origin."""
    if shape == "square":
        return [(math.cos(a), math.sin(a)) for a in np.pi / 4 + np.arange(4) * np.pi / 2]
    if shape == "triangle":
        return [(math.cos(a), math.sin(a)) for a in -np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    if shape == "star":
        return [
            ((1.0 if i % 2 == 0 else 0.42) * math.cos(a), (1.0 if i % 2 == 0 else 0.42) * math.sin(a))
            for i, a in enumerate(-np.pi / 2 + np.arange(10) * np.pi / 5)
        ]
    if shape == "plus":
        w = 0.34
        return [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1), (-w, -1), (-w, -w), (-1, -w), (-1, w), (-w, w), (-w, 1)]
    if shape == "arrow":
        return [(-1, -0.3), (0.15, -0.3), (0.15, -0.8), (1, 0), (0.15, 0.8), (0.15, 0.3), (-1, 0.3)]
    raise KeyError(shape)


def draw_shape(shape: str, colour: tuple[int, int, int], size: int, rng: np.random.Generator) -> np.ndarray:
    """One ``size`` x ``size`` RGB uint8 image of ``shape`` in (jittered) ``colour`` on a noisy dark background."""
    big = size * SUPERSAMPLE
    background = tuple(int(v) for v in rng.integers(10, 60, size=3))
    img = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(img)
    fg = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in colour)
    radius = rng.uniform(0.26, 0.4) * big
    aspect = rng.uniform(0.8, 1.2)
    cx, cy = big / 2 + rng.uniform(-0.12, 0.12, size=2) * big
    angle = rng.uniform(0, 2 * np.pi)
    outlined = rng.random() < 0.25
    stroke = max(1, int(rng.uniform(0.09, 0.14) * big))
    if shape in ("circle", "crescent"):
        box = [cx - radius * aspect, cy - radius / aspect, cx + radius * aspect, cy + radius / aspect]
        if shape == "circle":
            draw.ellipse(box, fill=None if outlined else fg, outline=fg, width=stroke if outlined else 0)
        else:  # a disc with an offset disc of background cut out of it
            draw.ellipse(box, fill=fg)
            dx, dy = 0.55 * radius * math.cos(angle), 0.55 * radius * math.sin(angle)
            draw.ellipse([box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy], fill=background)
    else:
        c, s = math.cos(angle), math.sin(angle)
        pts = [(cx + radius * (x * aspect * c - y / aspect * s), cy + radius * (x * aspect * s + y / aspect * c)) for x, y in _polygon(shape)]
        if outlined:
            draw.line(pts + [pts[0]], fill=fg, width=stroke, joint="curve")
        else:
            draw.polygon(pts, fill=fg)
    small = np.asarray(img.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    small += rng.normal(0, 8, size=small.shape)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def split_design(split: str, n: int, num_classes: int, conflicting_ratio: float, rng: np.random.Generator):
    """(labels, colours) for one split. Train: colour = label except an exact ``conflicting_ratio`` fraction.
    Val/test: the same count in every (label, colour) cell, remainder spread over the first cells."""
    if split == "train":
        labels = np.arange(n) % num_classes
        colours = labels.copy()
        n_conflicting = int(round(conflicting_ratio * n))
        conflicting = rng.choice(n, size=n_conflicting, replace=False)
        offsets = rng.integers(1, num_classes, size=n_conflicting)  # any colour but the class's own
        colours[conflicting] = (labels[conflicting] + offsets) % num_classes
    else:
        cells = np.arange(n) % (num_classes * num_classes)
        labels, colours = cells // num_classes, cells % num_classes
    order = rng.permutation(n)
    return labels[order], colours[order]


def generate(split: str, n: int, num_classes: int, image_size: int, conflicting_ratio: float, seed: int):
    """Images (n, H, W, 3) uint8, labels and colour (bias) indices of one split; deterministic in ``seed``."""
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be between 2 and {len(SHAPES)}, got {num_classes}")
    split_offset = {"train": 0, "val": 1, "test": 2}[split]
    rng = np.random.default_rng([seed, split_offset])
    labels, colours = split_design(split, n, num_classes, conflicting_ratio, rng)
    palette = list(COLOURS.values())
    images = np.stack([draw_shape(SHAPES[y], palette[b], image_size, rng) for y, b in zip(labels, colours)])
    return images, labels.astype(np.int64), colours.astype(np.int64)


def build_builtin_shapes(raw: Path | None, image_dir: Path, prefix: str, settings: dict) -> pd.DataFrame:
    k = settings["num_classes"]
    rows = []
    for split in ("train", "val", "test"):
        images, labels, colours = generate(
            split, settings[f"n_{split}"], k, settings["image_size"], settings["conflicting_ratio"], settings["seed"]
        )
        (image_dir / split).mkdir(parents=True)
        for i, (image, y, b) in enumerate(zip(images, labels, colours)):
            name = f"{split}/{split}_{i:06d}_{SHAPES[y]}_{COLOUR_NAMES[b]}.png"
            Image.fromarray(image).save(image_dir / name)
            rows.append((f"{split}_{i:06d}", f"{prefix}/{name}", int(y), SHAPES[y], split, int(b), bool(y == b),
                         int(y * k + b)))
        n_conf = int((labels != colours).sum())
        log.info("%s: %d images, %d bias-conflicting (%.2f%%)", split, len(labels), n_conf, 100 * n_conf / len(labels))
    return pd.DataFrame(rows, columns=COLUMNS)


SOURCE = Source(build_builtin_shapes, lambda settings: settings["num_classes"])
