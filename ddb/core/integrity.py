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


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, pattern: str = "**/*") -> int:
    """Write ``folder/MANIFEST.sha256`` over the files matching ``pattern``; returns their number."""
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.name != MANIFEST)
    lines = [f"{sha256(p)}  {p.relative_to(folder).as_posix()}\n" for p in files]
    (folder / MANIFEST).write_text("".join(lines))
    return len(files)


@lru_cache(maxsize=16)
def _manifest(folder: Path) -> dict[str, str] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    return {name: digest for digest, _, name in (line.partition("  ") for line in path.read_text().splitlines())}


def verify_files(folder: Path, files: list[Path], complete: bool = False) -> None:
    """Check ``files`` (below ``folder``) against the folder's manifest; with ``complete``, also that ``files`` are
    all the manifest lists (nothing deleted, nothing added). A folder without a manifest was written by an older
    ddb: it is used as it is, with a warning."""
    folder = Path(folder)
    manifest = _manifest(folder)
    if manifest is None:
        log.warning("%s has no %s (written by an older ddb): its files cannot be checked; rebuild it to add one",
                    folder, MANIFEST)
        return
    names = [Path(f).relative_to(folder).as_posix() for f in files]
    if complete:
        missing, extra = sorted(set(manifest) - set(names)), sorted(set(names) - set(manifest))
        if missing or extra:
            raise damaged(folder, f"the files differ from its {MANIFEST}: missing {missing[:5] or 'none'}, "
                                  f"not listed {extra[:5] or 'none'}")
    for name in names:
        if name not in manifest:
            raise damaged(folder / name, f"not listed in {folder / MANIFEST}", folder)
        if not (folder / name).exists():
            raise damaged(folder / name, "missing (deleted after it was written)", folder)
        if sha256(folder / name) != manifest[name]:
            raise damaged(folder / name, "changed after it was written (its sha256 differs from the manifest's)",
                          folder)


def verify_folder(folder: Path) -> None:
    """Check every file the folder's manifest lists (files it does not list, such as Snakemake's own
    ``.snakemake_timestamp``, are not the artifact's)."""
    folder = Path(folder)
    manifest = _manifest(folder)
    verify_files(folder, [folder / name for name in manifest or {}])
