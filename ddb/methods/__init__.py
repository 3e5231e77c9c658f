"""The debiasing methods a ``{method}`` wildcard can name, and what each one reads and uses.

- ``needs``: the artifacts the training job reads besides the metadata: ``scores`` (an amplifier's Parquet
  table) or ``amplifier`` (the frozen amplifier itself).
- ``amplifier``: which amplifier: ``synthetic`` (DDB) or ``real`` (the ablation: the same classifier trained on
  the real training set).
- ``recipe``: the ``recipes.<name>`` config section holding its settings.
- ``uses_bias_labels``: whether training reads true bias labels; every result row carries it.
"""

METHODS = {
    "erm": {"needs": (), "amplifier": None, "recipe": None, "uses_bias_labels": False,
            "description": "plain cross-entropy"},
    "groupdro_oracle": {"needs": (), "amplifier": None, "recipe": "groupdro_oracle", "uses_bias_labels": True,
                        "description": "GroupDRO on the true (label, bias) groups"},
    "jtt": {"needs": (), "amplifier": None, "recipe": "jtt", "uses_bias_labels": False,
            "description": "Just Train Twice: upsample the error set of an early ERM model"},
    "lff": {"needs": (), "amplifier": None, "recipe": "lff", "uses_bias_labels": False,
            "description": "Learning from Failure: reweighting by a jointly trained GCE-biased model"},
    "ddb_i": {"needs": ("scores",), "amplifier": "synthetic", "recipe": "ddb_i", "pseudo_label": "argmax",
              "uses_bias_labels": False,
              "description": "DDB Recipe I: GroupDRO on pseudo-groups (label, amplifier prediction)"},
    "ddb_i_error_set": {"needs": ("scores",), "amplifier": "synthetic", "recipe": "ddb_i", "pseudo_label": "error_set",
                        "uses_bias_labels": False,
                        "description": "DDB Recipe I with error set: GroupDRO on (label, amplifier misclassified)"},
    "ddb_ii": {"needs": ("amplifier",), "amplifier": "synthetic", "recipe": "ddb_ii", "uses_bias_labels": False,
               "description": "DDB Recipe II: per-sample weights L_amp / (L_amp + L_model), frozen amplifier"},
    "ddb_i_real_amplifier": {"needs": ("scores",), "amplifier": "real", "recipe": "ddb_i", "pseudo_label": "argmax",
                             "uses_bias_labels": False,
                             "description": "ablation: Recipe I with an amplifier trained on the real training set"},
    "ddb_ii_real_amplifier": {"needs": ("amplifier",), "amplifier": "real", "recipe": "ddb_ii",
                              "uses_bias_labels": False,
                              "description": "ablation: Recipe II with an amplifier trained on the real training set"},
}
