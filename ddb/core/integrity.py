"""Finished artifacts are checked when they are read: an edited, missing or damaged file stops the stage that reads
it, with the file named and the command that rebuilds it, instead of feeding it downstream.

Image and model folders carry a ``MANIFEST.sha256`` (the format of ``sha256sum``: ``<digest>  <relative path>`` per line, so
``sha256sum -c MANIFEST.sha256`` checks it by hand too), written by the stage that makes the folder.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("ddb.integrity")
MANIFEST = "MANIFEST.sha256"


class DamagedArtifact(SystemExit):
    """An input artifact is damaged, edited or incomplete; as a SystemExit the stage ends with the message alone."""


def rebuild_hint(path: str | Path) -> str:
    return (f"rebuild it with `snakemake --force {path}` (with your usual options), then run the workflow again; "
            "the jobs that read it rerun after it")


def damaged(path: str | Path, problem: str, rebuilt: str | Path | None = None) -> DamagedArtifact:
    """The error for ``path``: what is wrong with it, and how to rebuild ``rebuilt`` (default: ``path``)."""
    return DamagedArtifact(f"{path}: {problem}; {rebuild_hint(rebuilt or path)}")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in blocks (downloads are tens of GB)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, pattern: str = "**/*", known: dict[str, str] | None = None) -> int:
    """Write ``folder/MANIFEST.sha256`` over the files matching ``pattern``; returns their number. ``known`` maps
    relative names to digests the writer computed as it wrote (large files are not read again)."""
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.name != MANIFEST)
    known = known or {}
    lines = [f"{known.get(name) or file_digest(p)}  {name}\n"
             for p, name in ((p, p.relative_to(folder).as_posix()) for p in files)]
    (folder / MANIFEST).write_text("".join(lines))
    return len(files)


@lru_cache(maxsize=16)
def _manifest(folder: Path) -> dict[str, str] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    return {name: digest for digest, _, name in (line.partition("  ") for line in path.read_text().splitlines())}


def _warn_unchecked(folder: Path) -> None:
    log.warning("%s has no %s (written by an older ddb): its files cannot be checked; rebuild it to add one",
                folder, MANIFEST)


_warn_unchecked_once = lru_cache(maxsize=16)(_warn_unchecked)


def read_checked(folder: Path, path: Path) -> bytes:
    """The bytes of ``path`` (a file below ``folder``), checked against the folder's manifest: read once, so that a
    caller decodes what was checked without reading the file again. A folder without a manifest was written by an
    older ddb: its files are used as they are, with one warning per folder."""
    folder = Path(folder)
    name = Path(path).relative_to(folder).as_posix()
    manifest = _manifest(folder)
    if manifest is not None and name not in manifest:
        raise damaged(folder / name, f"not listed in {folder / MANIFEST}", folder)
    try:
        data = (folder / name).read_bytes()
    except FileNotFoundError:
        raise damaged(folder / name, "missing (deleted after it was written)", folder) from None
    if manifest is None:
        _warn_unchecked_once(folder)
    elif hashlib.sha256(data).hexdigest() != manifest[name]:
        raise damaged(folder / name, "changed after it was written (its sha256 differs from the manifest's)", folder)
    return data


def check_streamed(folder: Path, path: Path) -> None:
    """:func:`read_checked` for a file too large to hold in memory (an image store): its digest is computed in
    blocks and nothing is returned."""
    folder = Path(folder)
    name = Path(path).relative_to(folder).as_posix()
    manifest = _manifest(folder)
    if manifest is None or name not in manifest:
        raise damaged(folder / name, f"not listed in {folder / MANIFEST}", folder)
    if file_digest(folder / name) != manifest[name]:
        raise damaged(folder / name, "changed after it was written (its sha256 differs from the manifest's)", folder)


def require_complete(folder: Path, files: list[Path]) -> None:
    """``files`` (below ``folder``) are all the folder's manifest lists: nothing deleted, nothing added."""
    folder = Path(folder)
    manifest = _manifest(folder)
    if manifest is None:
        return
    names = {Path(f).relative_to(folder).as_posix() for f in files}
    missing, extra = sorted(set(manifest) - names), sorted(names - set(manifest))
    if missing or extra:
        raise damaged(folder, f"the files differ from its {MANIFEST}: missing {missing[:5] or 'none'}, "
                              f"not listed {extra[:5] or 'none'}")


def verify_files(folder: Path, files: list[Path]) -> None:
    """Check ``files`` (below ``folder``) against the folder's manifest (:func:`read_checked`)."""
    for path in files:
        read_checked(folder, path)


def verify_folder(folder: Path) -> None:
    """Check every file the folder's manifest lists (files it does not list, such as Snakemake's own
    ``.snakemake_timestamp``, are not the artifact's)."""
    folder = Path(folder)
    verify_files(folder, [folder / name for name in _manifest(folder) or {}])
