"""The debiasing methods a ``{method}`` wildcard can name, and what each one reads and uses.

``needs`` lists the DDB artifacts a method's training job reads: ``scores`` (the amplifier's Parquet table) or
``amplifier`` (the frozen amplifier itself). ``uses_bias_labels`` says whether training reads true bias labels;
every result row carries it.
"""

METHODS = {
    "erm": {"needs": (), "uses_bias_labels": False, "description": "plain cross-entropy"},
    "ddb_i": {"needs": ("scores",), "uses_bias_labels": False,
              "description": "DDB Recipe I: GroupDRO on amplifier pseudo-groups (label x amplifier prediction)"},
    "ddb_ii": {"needs": ("amplifier",), "uses_bias_labels": False,
               "description": "DDB Recipe II: per-sample weights L_amp / (L_amp + L_model) from the frozen amplifier"},
}
