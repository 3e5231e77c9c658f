import pandas as pd
import pytest

from ddb.core.tables import TableError, read_table, table_provenance, write_table


def metadata_frame():
    return pd.DataFrame({
        "sample_id": ["a", "b", "c"], "path": ["images/a.png", "images/b.png", "images/c.png"],
        "label": [0, 1, 1], "label_name": ["cat", "dog", "dog"], "split": ["train", "val", "test"],
        "bias": pd.array([0, None, 1], dtype="Int64"), "bias_aligned": pd.array([True, None, True], dtype="boolean"),
        "group": pd.array([0, None, 3], dtype="Int64"),
    })


def test_round_trip_keeps_types_nulls_and_provenance(tmp_path):
    path = tmp_path / "metadata.parquet"
    write_table(metadata_frame(), path, "metadata", {"source": "unit-test"})
    back = read_table(path, "metadata")
    assert back["bias"].isna().tolist() == [False, True, False]
    assert str(back["bias"].dtype) == "Int64" and str(back["label"].dtype) == "int64"
    assert table_provenance(path)["source"] == "unit-test"
    assert not list(tmp_path.glob("*.tmp-*"))  # nothing left behind


def test_missing_column_names_the_file_and_column(tmp_path):
    path = tmp_path / "m.parquet"
    with pytest.raises(TableError, match=r"m\.parquet.*missing: \['label_name'\]"):
        write_table(metadata_frame().drop(columns="label_name"), path, "metadata")
    assert not path.exists()


def test_nulls_in_required_column_and_duplicate_ids_are_rejected(tmp_path):
    df = metadata_frame()
    df.loc[0, "path"] = None
    with pytest.raises(TableError, match="'path'.*nulls"):
        write_table(df, tmp_path / "m.parquet", "metadata")
    df = metadata_frame()
    df.loc[2, "sample_id"] = "a"
    with pytest.raises(TableError, match="'a' occurs more than once"):
        write_table(df, tmp_path / "m.parquet", "metadata")


def test_unknown_split_and_missing_file(tmp_path):
    df = metadata_frame()
    df.loc[0, "split"] = "training"
    with pytest.raises(TableError, match="unknown split values"):
        write_table(df, tmp_path / "m.parquet", "metadata")
    with pytest.raises(TableError, match="no such scores table"):
        read_table(tmp_path / "scores.parquet", "scores")
