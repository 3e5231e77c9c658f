"""The image store: each split of a prepared dataset decoded once, at one resolution, into one uint8 array file
that stages read a batch at a time.

A store is a folder ``results/<dataset>/data/store/<resolution>/`` (``native`` = the images as prepared, ``<n>px``
= resized to n x n) holding ``<split>.npy``, ``store.json`` and ``MANIFEST.sha256``. The format is numpy's own
``.npy``: a short header, then the raw (N, 3, H, W) uint8 array in the metadata table's row order, so image i is
one contiguous run of bytes at a known offset. Any batch is one positioned read per image (``os.preadv`` into the
batch's buffer): nothing is decoded, resized or converted after the store is written, and a process holds only the
batches it asked for. (A memory map would do the same reads, but every page it touches counts in the process's
resident memory until the kernel takes it back, so a stage's peak would grow with the dataset.) ``np.load`` opens
the files by hand for a look.

Every read checks what it opens against the metadata table and the manifest: the split's row count and sample ids
(a digest of them, in order), the array's dtype, shape and file size, and the file's sha256 (streamed: a store of
tens of GB is checked without being held in memory).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ddb.core.integrity import check_streamed, damaged

STORE_INFO = "store.json"


def resolution_size(resolution: str) -> int | None:
    """``native`` -> None (as prepared); ``<n>px`` -> n."""
    if resolution == "native":
        return None
    if resolution.endswith("px") and resolution[:-2].isdigit() and int(resolution[:-2]) > 0:
        return int(resolution[:-2])
    raise ValueError(f"unknown store resolution {resolution!r}: use 'native' or '<n>px' (e.g. 64px)")


def sample_ids_digest(sample_ids) -> str:
    return hashlib.sha256("\n".join(map(str, sample_ids)).encode()).hexdigest()


class SplitWriter:
    """Writes one split's ``.npy`` image by image, in order, hashing the bytes as they go (the manifest's sha256
    without reading the file again). The header comes from numpy, so the file is exactly what ``np.save`` writes."""

    def __init__(self, path: Path, count: int, image_shape: tuple[int, int, int]):
        self.path, self.shape = path, (count, *image_shape)
        header = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=self.shape)
        self.offset = header.offset
        del header  # only the header was written; the images follow with ordinary writes
        self.file = open(path, "r+b")
        self.digest = hashlib.sha256(self.file.read(self.offset))
        self.written = 0

    def write(self, image_chw: np.ndarray) -> None:
        if image_chw.shape != self.shape[1:] or image_chw.dtype != np.uint8:
            raise ValueError(f"{self.path}: image {self.written} is {image_chw.dtype} {image_chw.shape}, the store holds "
                             f"uint8 {self.shape[1:]}")
        data = np.ascontiguousarray(image_chw).tobytes()
        self.file.write(data)
        self.digest.update(data)
        self.written += 1

    def close(self) -> str:
        """Finish the file; returns its sha256."""
        self.file.close()
        if self.written != self.shape[0]:
            raise ValueError(f"{self.path}: {self.written} images written, {self.shape[0]} expected")
        return self.digest.hexdigest()


class StoredImages:
    """(N, 3, H, W) uint8 images of one split in a store, read on demand. ``images[index]`` (a tensor or array of
    indices, a slice or an int) reads just those images into a new tensor; ``subset(index)`` is a view of some rows
    that reads nothing until indexed."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, self.fortran_order, self.dtype = read_header(f)
            self.offset = f.tell()
        self.stored_shape = tuple(shape)
        self.rows = np.arange(self.stored_shape[0])
        self.image_bytes = int(np.prod(self.stored_shape[1:]))
        self._fd = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.stored_shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index) -> "StoredImages":
        view = copy.copy(self)  # the same file and header, other rows, its own file descriptor
        view.rows, view._fd = self.rows[np.asarray(index)], None
        return view

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        rows = np.atleast_1d(self.rows[index])
        out = np.empty((len(rows), *self.stored_shape[1:]), dtype=np.uint8)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        flat = out.reshape(len(rows), self.image_bytes)
        start = 0
        while start < len(rows):  # one read per run of consecutive rows (a slice is one read)
            end = start + 1
            while end < len(rows) and rows[end] == rows[end - 1] + 1:
                end += 1
            want = (end - start) * self.image_bytes
            got = os.preadv(self._fd, [memoryview(flat[start:end]).cast("B")],
                            self.offset + int(rows[start]) * self.image_bytes)
            if got != want:
                raise damaged(self.path, f"truncated: {got} of {want} bytes read at image {rows[start]}")
            start = end
        batch = torch.from_numpy(out)
        return batch[0] if isinstance(index, (int, np.integer)) else batch

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def __getstate__(self):  # a copy (DataLoader worker, deepcopy) opens its own file descriptor
        return {**self.__dict__, "_fd": None}


def open_split(store: Path, metadata: pd.DataFrame, split: str) -> StoredImages:
    """The images of ``split`` in ``store``, checked against the metadata table (row count and sample ids in
    order), the store's own record (dtype, shape, file size) and its manifest (sha256)."""
    store = Path(store)
    info_path, path = store / STORE_INFO, store / f"{split}.npy"
    if not info_path.exists():
        raise damaged(store, f"no {STORE_INFO}: not an image store (or written by an interrupted job)")
    info = json.loads(info_path.read_text())
    if split not in info["splits"]:
        raise damaged(store, f"holds no {split!r} split (it has {sorted(info['splits'])})")
    rows = metadata[metadata["split"] == split]
    recorded = info["splits"][split]
    if recorded["count"] != len(rows) or recorded["sample_ids_sha256"] != sample_ids_digest(rows["sample_id"]):
        raise damaged(store, f"its {split} split ({recorded['count']} images) is not the metadata table's "
                             f"({len(rows)} rows, or other sample ids): it was built from another version of the data")
    if not path.exists():
        raise damaged(path, "missing (deleted after it was written)", store)
    try:
        images = StoredImages(path)
    except (ValueError, OSError, KeyError) as error:  # not an .npy file, or its header is damaged
        raise damaged(path, f"is not a readable .npy array ({error})", store) from None
    expected_size = images.offset + recorded["count"] * images.image_bytes
    if (images.dtype != np.uint8 or images.fortran_order or images.stored_shape != tuple(recorded["shape"])
            or path.stat().st_size != expected_size):
        raise damaged(path, f"holds {images.dtype} {images.stored_shape} in {path.stat().st_size} bytes, the store "
                            f"recorded uint8 {tuple(recorded['shape'])} in {expected_size}", store)
    check_streamed(store, path)
    return images
