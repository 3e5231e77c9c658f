"""The real download path against a local HTTP server: checksums, mirrors, resumed transfers, safe extraction."""

import hashlib

import pytest

from ddb.datasets.fetch import DownloadError, RemoteFile, UnsafeArchiveError, download_source, extract, fetch
from helpers import tar_bytes, zip_bytes

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, more than one read block


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_download_verifies_and_extracts(file_server, tmp_path):
    archive = tar_bytes({"data/a.txt": b"hello", "data/sub/b.txt": b"world"})
    file_server.files["/set.tar.gz"] = archive
    remote = RemoteFile("set.tar.gz", sha(archive), (f"{file_server.url}/set.tar.gz",))
    download_source([remote], tmp_path / "downloads", tmp_path / "extracted", retry_wait=0)
    assert (tmp_path / "extracted/set.tar.gz/data/sub/b.txt").read_bytes() == b"world"
    assert (tmp_path / "downloads/set.tar.gz").read_bytes() == archive
    # a second run finds the verified archive and does not download again
    requests = len(file_server.requests)
    fetch(remote, tmp_path / "downloads")
    assert len(file_server.requests) == requests


def test_checksum_mismatch_tries_the_next_mirror_then_fails_clearly(file_server, tmp_path):
    file_server.files["/bad/f.bin"] = PAYLOAD[:-1] + b"x"
    file_server.files["/good/f.bin"] = PAYLOAD
    remote = RemoteFile("f.bin", sha(PAYLOAD), (f"{file_server.url}/missing/f.bin", f"{file_server.url}/bad/f.bin",
                                                f"{file_server.url}/good/f.bin"))
    assert fetch(remote, tmp_path, retry_wait=0).read_bytes() == PAYLOAD

    only_bad = RemoteFile("g.bin", sha(PAYLOAD), (f"{file_server.url}/bad/f.bin",))
    with pytest.raises(DownloadError) as error:
        fetch(only_bad, tmp_path, retry_wait=0)
    message = str(error.value)
    assert "checksum sha256:" in message and sha(PAYLOAD) in message
    assert f"place g.bin ({sha(PAYLOAD)}) at {tmp_path / 'g.bin'}" in message
    assert not (tmp_path / "g.bin").exists() and not (tmp_path / "g.bin.part").exists()


def test_truncated_transfer_fails_then_resumes_where_it_stopped(file_server, tmp_path):
    file_server.files["/f.bin"] = PAYLOAD
    file_server.truncate_at["/f.bin"] = 300_000
    remote = RemoteFile("f.bin", sha(PAYLOAD), (f"{file_server.url}/f.bin",))
    with pytest.raises(DownloadError, match="rerun to resume"):
        fetch(remote, tmp_path, attempts=2, retry_wait=0)
    assert not (tmp_path / "f.bin").exists()  # nothing that looks complete
    assert (tmp_path / "f.bin.part").stat().st_size == 300_000

    del file_server.truncate_at["/f.bin"]
    file_server.requests.clear()
    assert fetch(remote, tmp_path, retry_wait=0).read_bytes() == PAYLOAD
    assert file_server.requests == [("/f.bin", "bytes=300000-")]  # only the missing bytes were requested
    assert not (tmp_path / "f.bin.part").exists()


def test_server_without_range_support_restarts_the_transfer(file_server, tmp_path):
    file_server.files["/f.bin"] = PAYLOAD
    file_server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    remote = RemoteFile("f.bin", sha(PAYLOAD), (f"{file_server.url}/f.bin",))
    assert fetch(remote, tmp_path, retry_wait=0).read_bytes() == PAYLOAD


def test_manual_drop_in_names_the_file_and_place_then_is_picked_up(tmp_path):
    data = b"licensed bytes"
    remote = RemoteFile("imagenet.tar", sha(data), (), manual="https://image-net.org (login)")
    with pytest.raises(DownloadError) as error:
        download_source([remote], tmp_path / "downloads", tmp_path / "out")
    assert f"place imagenet.tar ({sha(data)}) at {tmp_path / 'downloads/imagenet.tar'}" in str(error.value)
    assert "https://image-net.org" in str(error.value)
    (tmp_path / "downloads/imagenet.tar").write_bytes(b"other bytes")
    with pytest.raises(DownloadError, match="damaged or a different version"):
        fetch(remote, tmp_path / "downloads")
    (tmp_path / "downloads/imagenet.tar").write_bytes(data)
    assert fetch(remote, tmp_path / "downloads").read_bytes() == data


def test_unpublished_checksum_is_pinned_on_first_use(file_server, tmp_path):
    file_server.files["/f.bin"] = PAYLOAD
    remote = RemoteFile("f.bin", None, (f"{file_server.url}/f.bin",))
    fetch(remote, tmp_path, retry_wait=0)
    assert (tmp_path / "CHECKSUMS").read_text() == f"{hashlib.sha256(PAYLOAD).hexdigest()}  f.bin\n"
    (tmp_path / "f.bin").write_bytes(PAYLOAD[:10])  # later corruption is caught against the pinned checksum
    with pytest.raises(DownloadError, match="damaged"):
        fetch(remote, tmp_path)


@pytest.mark.parametrize("members, links", [
    ({"../escape.txt": b"x"}, None),
    ({"/abs/escape.txt": b"x"}, None),
    ({"ok.txt": b"x"}, {"link": "/etc/passwd"}),
    ({"ok.txt": b"x"}, {"link": "../../outside"}),
], ids=["dotdot", "absolute", "absolute-link", "relative-link-out"])
def test_malicious_tar_extracts_nothing(tmp_path, members, links):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_bytes(members, links))
    with pytest.raises(UnsafeArchiveError, match="nothing was extracted"):
        extract(archive, tmp_path / "out" / "evil")
    assert not (tmp_path / "out" / "evil").exists() and not (tmp_path / "escape.txt").exists()
    assert not [p for p in (tmp_path / "out").iterdir()]  # no temporary leftovers either


def test_malicious_zip_extracts_nothing(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_bytes({"fine.txt": b"x", "../../escape.txt": b"x"}))
    with pytest.raises(UnsafeArchiveError, match="outside the extraction folder"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_an_archive_is_a_clear_error(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(DownloadError, match="neither a tar nor a zip"):
        extract(tmp_path / "x.tar.gz", tmp_path / "out")


def test_a_mirror_with_its_own_checksum_is_tried_first_and_a_copy_matching_neither_is_refused(file_server, tmp_path):
    recompressed = PAYLOAD[::-1]  # the mirror's copy: other bytes, its own pinned checksum
    (tmp_path / "package").mkdir()
    (tmp_path / "package/f.bin").write_bytes(recompressed)
    file_server.files["/official/f.bin"] = PAYLOAD
    remote = RemoteFile("f.bin", sha(PAYLOAD), (f"{file_server.url}/official/f.bin",),
                        mirrors=((f"file://{tmp_path}/package/f.bin", sha(recompressed)),))
    assert fetch(remote, tmp_path / "a", retry_wait=0).read_bytes() == recompressed
    assert not file_server.requests  # the local copy was enough
    assert fetch(remote, tmp_path / "a").read_bytes() == recompressed  # and is accepted when present
    # without the package the official file is downloaded and checked against the published checksum
    absent = RemoteFile("f.bin", sha(PAYLOAD), (f"{file_server.url}/official/f.bin",),
                        mirrors=((f"file://{tmp_path}/nowhere/f.bin", sha(recompressed)),))
    assert fetch(absent, tmp_path / "b", retry_wait=0).read_bytes() == PAYLOAD
    (tmp_path / "c").mkdir()
    (tmp_path / "c/f.bin").write_bytes(b"something else")
    with pytest.raises(DownloadError, match=f"expected {sha(PAYLOAD)} or {sha(recompressed)}"):
        fetch(remote, tmp_path / "c")
