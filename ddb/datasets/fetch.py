"""Fetching a dataset's files (checksummed, resumable, mirrors in order) and extracting them safely.

A leaf module: it imports no dataset, so every source module can declare its files with :class:`RemoteFile`.

Archives live in ``<downloads>/<source>/<file>``; that is also where a file that cannot be downloaded (a licence, a
login, a dead link) is placed by hand: the stage verifies its checksum and uses it as if it had downloaded it.
Checksums are ``sha256:<hex>`` (or ``md5:<hex>`` where only that is published). A mirror that serves a re-encoded copy
(Debian recompresses Fashion-MNIST's gzip files) is listed with its own pinned checksum, tried first, and its copy is
accepted by that checksum only; a mismatch with both stays an error. A file without a published checksum
is pinned on first use: its sha256 goes to ``<downloads>/<source>/CHECKSUMS`` and later runs verify against it.
A transfer is written to ``<file>.part`` and continued from there (HTTP Range) when a connection drops, so a rerun
resumes instead of starting over; the archive gets its final name only once its checksum matches.
Extraction goes into a temporary folder renamed into place at the end: tar members are filtered with Python's
``data`` filter (no absolute paths, no ``..``, no links pointing outside, no device files) and zip members are
checked the same way, so a malicious archive stops the stage with nothing extracted.
"""

from __future__ import annotations

import logging
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ddb.core.atomic import atomic_dir
from ddb.core.integrity import file_digest

log = logging.getLogger("ddb.download")
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be obtained; the message says what to place where."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would land outside the extraction folder."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, its checksum (``sha256:<hex>``, ``md5:<hex>``, or None when none is
    published), the URLs tried in order (none: manual drop-in only), where a person gets it when no URL works,
    whether it is an archive to extract, and ``mirrors``: (URL, checksum) of re-encoded copies (a local package's),
    tried before ``urls``, each checked against its own checksum."""

    name: str
    checksum: str | None
    urls: tuple[str, ...] = ()
    manual: str = ""
    extract: bool = True
    mirrors: tuple[tuple[str, str], ...] = ()

    def sources(self, checksum: str | None) -> list[tuple[str, str | None]]:
        """(URL, the checksum its bytes must have) in the order tried."""
        return [*self.mirrors, *((url, checksum) for url in self.urls)]


def expected_checksum(remote: RemoteFile, folder: Path) -> str | None:
    """The published checksum, else the one pinned on first use in ``folder/CHECKSUMS``, else None."""
    if remote.checksum:
        return remote.checksum
    pinned = folder / "CHECKSUMS"
    if pinned.exists():
        for line in pinned.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if name == remote.name:
                return f"sha256:{digest}"
    return None


def verify(path: Path, checksum: str | None) -> str | None:
    """None when ``path`` matches ``checksum`` (or there is none to match), else the checksum it has."""
    if checksum is None:
        return None
    algorithm, _, expected = checksum.partition(":")
    found = file_digest(path, algorithm)
    return None if found == expected else f"{algorithm}:{found}"


def pin_checksum(path: Path, folder: Path) -> None:
    line = f"{file_digest(path)}  {path.name}\n"
    with open(folder / "CHECKSUMS", "a") as f:
        f.write(line)
    log.warning("%s has no published checksum; pinned sha256 %s in %s", path.name, line.split()[0], folder / "CHECKSUMS")


def drop_in_message(remote: RemoteFile, folder: Path) -> str:
    where = f" Get it from: {remote.manual}." if remote.manual else ""
    checksum = f" ({remote.checksum})" if remote.checksum else ""
    return (f"place {remote.name}{checksum} at {folder / remote.name} and rerun; the stage verifies "
            f"the checksum and picks it up from there.{where}")


def _transfer(url: str, part: Path, timeout: float, progress) -> None:
    """Append ``url``'s bytes to ``part``, continuing after the bytes already there when the server allows it."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if have and response.status != 206:  # the server ignored Range: start again
            log.info("%s does not resume transfers; restarting", url)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as out:
            done = have
            while True:
                try:
                    block = response.read(CHUNK)
                except Exception as error:  # e.g. http.client.IncompleteRead: the connection dropped
                    raise DownloadError(f"transfer of {url} broke after {done} bytes: {error}") from None
                if not block:
                    break
                out.write(block)
                done += len(block)
                progress(done, total)
        if total is not None and done < total:
            raise DownloadError(f"transfer of {url} ended after {done} of {total} bytes")


def _progress_printer(name: str):
    """Progress lines for logs (every 10 %), or a tqdm bar on a terminal."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="B", unit_scale=True, desc=name)

        def show(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        return show
    last = [-1]

    def show(done, total):
        if total:
            tenth = int(10 * done / total)
            if tenth != last[0]:
                last[0] = tenth
                log.info("%s: %d / %d bytes (%d%%)", name, done, total, 10 * tenth)

    return show


def _transfer_with_retries(url, part, name, attempts, timeout, retry_wait, failures: list) -> bool:
    """Whether ``url`` was transferred completely into ``part``; failures are appended to ``failures``."""
    for attempt in range(1, attempts + 1):
        try:
            log.info("downloading %s (attempt %d of %d)%s", url, attempt, attempts,
                     f", resuming after {part.stat().st_size} bytes" if part.exists() else "")
            _transfer(url, part, timeout, _progress_printer(name))
            return True
        except (DownloadError, urllib.error.URLError, OSError) as error:
            failures.append(f"{url}: {error}")
            log.warning("%s", failures[-1])
            if isinstance(error, urllib.error.HTTPError) and error.code == 416:
                part.unlink(missing_ok=True)  # the partial file is longer than the remote one: start over
            elif isinstance(error, urllib.error.HTTPError) and error.code < 500 or url.startswith("file:"):
                return False  # a file missing from this mirror (or local package) will not appear by retrying
            time.sleep(retry_wait * attempt)
    return False


def fetch(remote: RemoteFile, folder: Path, attempts: int = 3, timeout: float = 60.0, retry_wait: float = 1.0) -> Path:
    """``folder/remote.name`` with a verified checksum: the file already there (downloaded or placed by hand), else
    downloaded from the first URL that delivers the right bytes. Interrupted transfers resume from ``.part``."""
    folder.mkdir(parents=True, exist_ok=True)
    target, part = folder / remote.name, folder / f"{remote.name}.part"
    checksum = expected_checksum(remote, folder)
    if target.exists():
        accepted = [checksum, *(c for _, c in remote.mirrors)]
        found = next((f for f in (verify(target, c) for c in accepted) if f is None), verify(target, checksum))
        if found is None:
            log.info("%s present, checksum %s", target, "ok" if checksum else "pinned now")
            if checksum is None:
                pin_checksum(target, folder)
            return target
        expected = " or ".join(str(c) for c in accepted)
        raise DownloadError(f"{target} has checksum {found}, expected {expected}: the file is damaged or a "
                            f"different version. Delete it to download again, or {drop_in_message(remote, folder)}")
    if not remote.urls and not remote.mirrors:
        raise DownloadError(f"{remote.name} cannot be downloaded automatically: {drop_in_message(remote, folder)}")
    failures = []
    for url, expected in remote.sources(checksum):
        if not _transfer_with_retries(url, part, remote.name, attempts, timeout, retry_wait, failures):
            continue  # next mirror, keeping .part for a later resume
        found = verify(part, expected)
        if found is None:
            os.replace(part, target)
            log.info("downloaded %s, checksum %s", target, "ok" if checksum else "pinned now")
            if checksum is None:
                pin_checksum(target, folder)
            return target
        failures.append(f"{url}: checksum {found}, expected {expected}")
        log.warning("%s; discarding the download", failures[-1])
        part.unlink()
    kept = f" The partial download {part} is kept; rerun to resume it." if part.exists() else ""
    raise DownloadError(f"could not download {remote.name}:\n  " + "\n  ".join(failures)
                        + f"\n{kept} Or {drop_in_message(remote, folder)}")


def _check_member(name: str, archive: Path, link: str | None = None) -> None:
    """Refuse absolute names, ``..`` components and drive letters, in a member's name and in a link's target."""
    for what, value in (("member", name), ("link target of", link)):
        if value is None:
            continue
        path = PurePosixPath(value.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
            raise UnsafeArchiveError(f"{archive}: {what} {name!r} ({value!r}) points outside the extraction "
                                     "folder; the archive is not trustworthy, nothing was extracted")


def extract(archive: Path, destination: Path) -> None:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip archive into ``destination`` (a folder, filled atomically)."""
    with atomic_dir(destination) as tmp:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(info.filename, archive)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; "
                                                 "nothing was extracted")
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    _check_member(member.name, archive, member.linkname if member.issym() or member.islnk() else None)
                try:  # the data filter also refuses device files and unsafe modes
                    tf.extractall(tmp, filter="data")
                except tarfile.FilterError as error:
                    raise UnsafeArchiveError(f"{archive}: {error}; the archive is not trustworthy, nothing was "
                                             "extracted") from None
        else:
            raise DownloadError(f"{archive} is neither a tar nor a zip archive; delete it and rerun")


def download_source(files: list[RemoteFile], folder: Path, out: Path, **fetch_options) -> None:
    """Fetch every file of a source into ``folder`` and extract the archives into ``out/<file name>/``."""
    folder.mkdir(parents=True, exist_ok=True)  # where files are placed by hand
    missing = [f for f in files if not (folder / f.name).exists() and not f.urls and not f.mirrors]
    if missing:  # say everything that has to be placed by hand at once
        raise DownloadError("files needed by hand:\n  " + "\n  ".join(drop_in_message(f, folder) for f in missing))
    paths = [fetch(remote, folder, **fetch_options) for remote in files]
    with atomic_dir(out) as tmp:
        for remote, path in zip(files, paths):
            if remote.extract:
                extract(path, tmp / remote.name)
            else:  # used in place (ImageNet's 138 GB tar is read, never copied)
                try:
                    os.link(path, tmp / remote.name)
                except OSError:
                    os.symlink(path.resolve(), tmp / remote.name)
