# Diffusing DeBias (DDB) workflow: raw dataset -> diffusion model -> synthetic set -> bias amplifier ->
# amplifier scores -> debiased models -> evaluation -> result tables. Stage logic lives in the ddb package;
# rules only wire files and pass each stage its own config sub-tree and the code identity of what it runs.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


# ---- helpers: config validation, wildcards, input and params functions (planning: ddb/workflow/) ----
include: "rules/common.smk"
# ---- stages, in pipeline order ----
include: "rules/data.smk"
include: "rules/weights.smk"
include: "rules/diffusion.smk"
include: "rules/amplifier.smk"
include: "rules/debias.smk"
include: "rules/evaluate.smk"
include: "rules/bias.smk"
include: "rules/collect.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        rules.collect.output,
        all_figures(),
