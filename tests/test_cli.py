"""Stage command lines: wrong combinations fail early with a message that says what to pass."""

import pytest

from ddb import prepare_data, train_debiased
from ddb.core import images


def test_recipe_without_its_input_is_refused(capsys):
    with pytest.raises(SystemExit):
        train_debiased.parse_args(["--method", "ddb_i", "--metadata", "m.parquet", "--store", "s", "--out", "o"])
    assert "ddb_i needs --scores" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_debiased.parse_args(["--method", "ddb_ii", "--metadata", "m.parquet", "--store", "s", "--out", "o"])
    assert "ddb_ii needs --amplifier" in capsys.readouterr().err


def test_images_and_metadata_must_share_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        prepare_data.parse_args(["--source", "builtin_shapes", "--images", str(tmp_path / "a/images"),
                                 "--metadata", str(tmp_path / "b/metadata.parquet")])
    assert "same folder" in capsys.readouterr().err


def test_prepare_data_writes_a_valid_table_and_images(tmp_path):
    prepare_data.main(["--source", "builtin_shapes", "--settings", '{"n_train": 20, "n_val": 9, "n_test": 9, "num_classes": 3, "image_size": 16}',
                       "--images", str(tmp_path / "images"), "--metadata", str(tmp_path / "metadata.parquet")])
    from ddb.core.tables import read_table

    table = read_table(tmp_path / "metadata.parquet", "metadata")
    assert len(table) == 38 and all((tmp_path / p).exists() for p in table["path"])
    assert table.groupby("split")["group"].nunique().to_dict() == {"test": 9, "train": 3, "val": 9}


def test_sample_grid_tiles_images():
    import numpy as np

    outline = np.zeros(12, dtype=bool)
    outline[6] = True  # row 1, column 1
    grid = np.asarray(images.image_grid(np.zeros((12, 8, 8, 3), dtype=np.uint8), columns=5, scale=2, outline=outline))
    assert grid.shape == (3 * 10 * 2, 5 * 10 * 2, 3)
    assert grid[10 * 2, 10 * 2].tolist() == [255, 0, 0]  # the outlined image's frame is red
    assert grid[0, 0].tolist() == [0, 0, 0] and grid[11 * 2, 11 * 2].tolist() == [0, 0, 0]
