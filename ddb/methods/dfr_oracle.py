"""DFR (Kirichenko et al., ICLR 2023): last-layer retraining of the ERM run's model (same seed) on the validation
images balanced by their true (label, bias) groups, C chosen by worst-group accuracy. Uses bias labels: the upper
bound of last-layer retraining on DDB's pseudo-groups (ddb_llr), which shares its code."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(needs=("base_model",), builds_on="erm", settings="baselines.dfr_oracle", uses_bias_labels=True)


def train(context) -> dict:
    from ddb.methods.ddb_llr import retrain_head

    rows = context.metadata.set_index("sample_id").loc[context.val.sample_ids]
    if rows["group"].isna().any():
        raise SystemExit("dfr_oracle needs bias labels for every validation image; this dataset has none")
    return retrain_head(context, rows["group"].to_numpy(dtype="int64"), "oracle")
