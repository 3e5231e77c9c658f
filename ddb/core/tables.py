"""The Parquet tables that connect the stages, each schema defined once and checked on write and on read.

``metadata`` (written by prepare_data, one row per real image):

==============  ===========  =====================================================================
column          type         meaning
==============  ===========  =====================================================================
sample_id       string       unique id of the image (stable across runs)
path            string       image file, relative to the folder holding ``metadata.parquet``
label           int64        target class index, 0..K-1
label_name      string       human-readable class name
split           string       ``train``, ``val`` or ``test``
bias            Int64        bias attribute index; null when unknown
bias_aligned    boolean      whether the bias value is the one the training set ties to ``label``; null when unknown
group           Int64        ``label * num_bias_values + bias``; null when bias is unknown
==============  ===========  =====================================================================

``scores`` (written by score_real, one row per real image, every split):

==================  ========  ===================================================================
sample_id           string    joins with metadata
split, label        as above
bias, bias_aligned  as above  copied for evaluation only; no training stage reads them
amp_loss            float32   cross-entropy of the frozen amplifier on the labelled class
amp_p_label         float32   amplifier probability of the labelled class
amp_pred            int64     amplifier predicted class (the inferred bias class)
amp_confidence      float32   amplifier probability of its predicted class
amp_misclassified   bool      ``amp_pred != label``: the "error set" (pseudo bias-conflicting)
pseudo_group        int64     Recipe I pseudo-group ``label * K + amp_pred``
==================  ========  ===================================================================
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ddb.core.atomic import atomic_file
from ddb.core.integrity import damaged

SCHEMAS: dict[str, pa.Schema] = {
    "metadata": pa.schema(
        [
            ("sample_id", pa.string()),
            ("path", pa.string()),
            ("label", pa.int64()),
            ("label_name", pa.string()),
            ("split", pa.string()),
            ("bias", pa.int64()),
            ("bias_aligned", pa.bool_()),
            ("group", pa.int64()),
        ]
    ),
    "scores": pa.schema(
        [
            ("sample_id", pa.string()),
            ("split", pa.string()),
            ("label", pa.int64()),
            ("bias", pa.int64()),
            ("bias_aligned", pa.bool_()),
            ("amp_loss", pa.float32()),
            ("amp_p_label", pa.float32()),
            ("amp_pred", pa.int64()),
            ("amp_confidence", pa.float32()),
            ("amp_misclassified", pa.bool_()),
            ("pseudo_group", pa.int64()),
        ]
    ),
}
# Columns that may hold nulls; every other column must be complete.
NULLABLE = {"bias", "bias_aligned", "group"}
SPLITS = ("train", "val", "test")


def _version() -> str:
    # from the installed distribution, not from code: a version bump must not change any stage's code identity
    try:
        return importlib.metadata.version("ddb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class TableError(ValueError):
    """A table does not match its documented schema."""


def _check(df: pd.DataFrame, kind: str, where: str) -> None:
    schema = SCHEMAS[kind]
    missing = [name for name in schema.names if name not in df.columns]
    extra = [name for name in df.columns if name not in schema.names]
    if missing or extra:
        raise TableError(
            f"{where}: {kind} table columns do not match the schema in ddb/core/tables.py "
            f"(missing: {missing or 'none'}, unexpected: {extra or 'none'})"
        )
    for name in schema.names:
        if name not in NULLABLE and df[name].isna().any():
            raise TableError(f"{where}: column {name!r} of the {kind} table has nulls; it must be complete")
    if "split" in df.columns:
        bad = sorted(set(df["split"]) - set(SPLITS))
        if bad:
            raise TableError(f"{where}: unknown split values {bad}; use one of {list(SPLITS)}")
    if df["sample_id"].duplicated().any():
        dup = df.loc[df["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise TableError(f"{where}: sample_id {dup!r} occurs more than once; ids must be unique")


def write_table(df: pd.DataFrame, path: str | os.PathLike, kind: str, provenance: dict | None = None) -> None:
    """Validate ``df`` against schema ``kind`` and write it atomically (zstd) with provenance in the metadata."""
    _check(df, kind, str(path))
    table = pa.Table.from_pandas(df[SCHEMAS[kind].names], schema=SCHEMAS[kind], preserve_index=False)
    info = {"table": kind, "ddb_version": _version(), **(provenance or {})}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"ddb": json.dumps(info).encode()})
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)  # damage is found on read


def read_table(path: str | os.PathLike, kind: str) -> pd.DataFrame:
    """Read a table written by :func:`write_table`, checking it against schema ``kind``."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: no such {kind} table; run the stage that writes it first")
    try:
        df = pq.read_table(path, page_checksum_verification=True).to_pandas()
    except (pa.ArrowException, OSError) as error:  # truncated or overwritten: not a Parquet file any more
        raise damaged(path, f"is not a readable Parquet {kind} table ({error})") from None
    for name in NULLABLE & set(df.columns):
        df[name] = df[name].astype("boolean" if name == "bias_aligned" else "Int64")
    _check(df, kind, str(path))
    return df


def table_provenance(path: str | os.PathLike) -> dict:
    """The ``ddb`` provenance dict stored in a table's schema metadata."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"ddb", b"{}"))
