"""Dataset sources, one module per source (as in WILDS): ``ddb/datasets/<source>.py`` owns that dataset's files
(URLs, checksums, mirrors, or where to place a file by hand), its builder of the normalised metadata table, its
number of classes and its protocol notes, in a module-level ``SOURCE`` (:class:`ddb.datasets.common.Source`).

A source module is imported only when its name is asked for (the workflow imports only the configured
datasets' sources), so a broken or heavy dataset costs the others nothing, and preparing one dataset runs (and is
keyed on) its own module alone. Adding a dataset is adding one
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


def download_files(name: str, component: str | None = None):
    """The files the download stage fetches: source ``name``'s own, or those of one of its ``components``."""
    spec = source(name)
    if component is None and not spec.files:
        raise ValueError(f"source {name} has no files to download; its components: "
                         f"{', '.join(spec.components) or 'none'}")
    if component is not None and component not in spec.components:
        raise ValueError(f"source {name} has no component {component!r}; its components: "
                         f"{', '.join(spec.components) or 'none'}")
    return spec.components[component] if component else spec.files
