"""Write artifacts atomically: build under a temporary name beside the target, then rename.

A job killed half-way leaves only a ``.<name>.tmp-*`` sibling, never a file or folder that a rerun mistakes for
complete; the next write of the same target removes such leftovers (Snakemake's locks keep two jobs from writing
one output at a time). Finished outputs get the usual permissions (``0666`` / ``0777`` minus the umask), whatever
the library that wrote the files inside chose.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("ddb.atomic")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_leftovers(path: Path) -> None:
    """Temporary siblings of ``path`` from writers that were killed."""
    for leftover in path.parent.glob(f".{path.name}.tmp-*"):
        log.info("removing %s, left by an interrupted run", leftover)
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _usual_permissions(path: Path) -> None:
    """``path`` (a file, or a folder and everything below it) with the permissions of a file the user writes."""
    mask = _umask()
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in paths:
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike):
    """Yield a temporary path in the target's folder; on success rename it onto ``path``. The temporary name keeps
    the target's suffix, for tools that pick a format by it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _usual_permissions(Path(tmp))  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield an empty temporary folder; on success it replaces ``path`` (an old ``path`` is removed first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        _usual_permissions(tmp)  # mkdtemp makes 0700; some writers (safetensors) make 0600 files
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)
