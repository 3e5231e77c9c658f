import pytest

from ddb.core.atomic import atomic_dir, atomic_file


def test_atomic_file_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_old_output_only_on_success(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("killed")
    assert [p.name for p in target.iterdir()] == ["old.txt"]  # the previous complete output survives
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]


def test_outputs_get_the_usual_permissions_not_the_private_temp_ones(tmp_path):
    """Temp files and folders are created private (0600 / 0700); a finished output is readable by the group like
    any file the user writes, so collaborators on a cluster can read the results."""
    import os

    mask = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "table.parquet") as tmp:
            tmp.write_text("x")
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "weights").write_text("w")
    finally:
        os.umask(mask)
    assert (tmp_path / "table.parquet").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
