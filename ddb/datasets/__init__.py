"""Dataset sources, one module per source (as in WILDS): ``ddb/datasets/<source>.py`` owns that dataset's files
(URLs, checksums, mirrors, or where to place a file by hand), its builder of the normalised metadata table, its
number of classes and its protocol notes, in a module-level ``SOURCE`` (:class:`ddb.datasets.common.Source`).

A source module is imported only when its name is asked for, so a broken or heavy dataset costs the others
nothing, and preparing one dataset runs (and is keyed on) its own module alone. Adding a dataset is adding one
module here, listed in the schema's ``source`` enum; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil

# Modules of this package that are not sources.
HELPERS = frozenset({"common", "fetch", "urbancars_generation"})


def source_names() -> list[str]:
    """Every source, by module name, found without importing any of them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in HELPERS)


def source(name: str):
    """The ``SOURCE`` of ``ddb/datasets/<name>.py``."""
    if name not in source_names():
        raise ValueError(f"unknown dataset source {name!r}; the sources are {', '.join(source_names())}")
    return importlib.import_module(f"{__name__}.{name}").SOURCE


def downloads() -> dict[str, str]:
    """Every download name (a source with files, or a component another source is made of) -> its source."""
    names = {}
    for name in source_names():
        spec = source(name)
        if spec.files:
            names[name] = name
        names.update({component: name for component in spec.components})
    return names


def download_files(name: str):
    """The files the download stage fetches for download ``name``."""
    owner = downloads().get(name)
    if owner is None:
        raise ValueError(f"nothing to download for {name!r}; downloadable: {', '.join(sorted(downloads()))}")
    spec = source(owner)
    return spec.files if name == owner else spec.components[name]
