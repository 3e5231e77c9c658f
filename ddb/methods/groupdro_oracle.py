"""GroupDRO (Sagawa et al., ICLR 2020) on the true (label, bias) groups: the oracle that uses bias labels."""

from __future__ import annotations

from ddb.methods import Method

METHOD = Method(settings="baselines.groupdro_oracle", uses_bias_labels=True)


def objective(context):
    import torch  # here, not above: the workflow reads METHOD when it plans the DAG, without loading torch

    from ddb.algorithms.groupdro import GroupDRO
    from ddb.methods import log_group_sizes

    rows = context.metadata.set_index("sample_id").loc[context.train.sample_ids]
    if rows["group"].isna().any():
        raise SystemExit("groupdro_oracle needs bias labels for every training image; this dataset has none")
    groups = torch.tensor(rows["group"].to_numpy(dtype="int64"))
    return log_group_sizes(GroupDRO(groups, context.method_settings, context.device))
