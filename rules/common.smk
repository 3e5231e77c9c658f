# Helpers only (no rules): config validation, wildcard constraints, input and params functions. What they compute
# lives in ddb/workflow/planning.py (unit-tested without Snakemake); here it is wired to wildcards.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # this checkout's ddb, even where another one is installed
from ddb.core.settings import DETERMINISTIC_ENV
from ddb.methods import INPUT_KINDS
from ddb.training.curves import TENSORBOARD_ENV
from ddb.workflow.planning import Plan, canonical_json, coerce_to_schema

# Jobs call `python -m ddb.<stage>`: without --sdm conda that is the environment running Snakemake itself,
# whether or not it was activated.
if not workflow.deployment_settings.deployment_method:
    shell.prefix(f'set -euo pipefail; export PATH="{Path(sys.executable).parent}:$PATH"; ')

# `--config seeds=[0,1]` or `--config 'diffusion={steps: 2}'` arrive as strings (Snakemake reads such values with
# YAML's BaseLoader): numbers and booleans the schema asks for are converted before validation.
config.update(coerce_to_schema(config))
validate(config, "../ddb/config.schema.yaml")
# Deterministic kernels or fast ones: how jobs compute, not what, so it reaches them through the environment (local
# jobs and SLURM jobs inherit it) rather than as a param that would rerun them.
os.environ[DETERMINISTIC_ENV] = config["deterministic"]
# TensorBoard event files beside each training log: how training is watched, the same way
os.environ[TENSORBOARD_ENV] = "yes" if config["tensorboard"] else "no"

PLAN = Plan(config, workflow.basedir)
DATASETS = PLAN.datasets
PATTERNS = PLAN.wildcard_patterns()


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_.]*",
    sampling=PATTERNS["sampling"],
    # a real-data amplifier: `real`, or `real/epochs=<n>` of the memorisation sweep
    real_amplifier=PATTERNS["real_amplifier"],
    # an amplifier: a real-data one, or `synthetic/<sampling variant>` (the synthetic set it was trained on)
    amplifier=PATTERNS["amplifier"],
    # a debiased-model run: the method, plus `/<sampling variant>` for methods using the synthetic amplifier
    run=PATTERNS["run"],
    seed=r"\d+",
    resolution=r"native|\d+px",
    class_index=r"\d+",
    download="|".join(PLAN.downloads()),
    weight="|".join(PLAN.weight_names()),


# ---- resources and params ----
def sized(rule, resource, default):
    """Resource function: ``datasets.<name>.resources.<rule>.<resource>`` of the job's dataset (its preset), else the
    rule's default. (Partitions, accounts and GPU types belong in the SLURM profile, not here.)"""
    return lambda wildcards: PLAN.resource(wildcards.dataset, rule, resource, default)


def section_params(section):
    """Params function: the dataset's ``section`` (global config plus the dataset's overrides) as canonical JSON."""
    return lambda wildcards: canonical_json(PLAN.section(wildcards.dataset, section))


def source_params(wildcards):
    return canonical_json(PLAN.source_settings(wildcards.dataset))


def sampling_params(wildcards):
    return canonical_json(PLAN.sampling_section(wildcards.dataset, wildcards.sampling))


def real_amplifier_settings(wildcards):
    return PLAN.real_amplifier_section(wildcards.dataset, wildcards.real_amplifier)


def real_amplifier_params(wildcards):
    return canonical_json(real_amplifier_settings(wildcards))


def bias_classifier_params(wildcards):
    return canonical_json(PLAN.bias_classifier_section(wildcards.dataset))


def native_store(wildcards):
    """The image store of the prepared images as they are: what the target models and real-data amplifiers see."""
    return f"results/{wildcards.dataset}/data/store/native"


def diffusion_store(wildcards):
    """The image store at the diffusion model's resolution: what it, the synthetic amplifier and the bias classifier see."""
    return f"results/{wildcards.dataset}/data/store/{PLAN.diffusion_resolution(wildcards.dataset)}"


def amplifier_store(wildcards):
    return f"results/{wildcards.dataset}/data/store/{PLAN.amplifier_resolution(wildcards.dataset, wildcards.amplifier)}"


def method_settings_params(wildcards):
    return canonical_json(PLAN.method_settings(wildcards.dataset, run_method(wildcards)))


def cli_flags(input, keys):
    """``--<key> <path> [<path> ...]`` for each of ``keys`` among the job's named inputs."""
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in input.items() if key in keys)


# ---- runs: results/<dataset>/debias/<run>/seed<seed>/, run = method[/sampling variant] ----
def run_method(wildcards):
    return PLAN.run_method(wildcards.run)


def run_amplifier(wildcards):
    return PLAN.amplifier_of(wildcards.run)


# ---- input functions over the results layout: results/<dataset>/<stage>/... ----
def dataset_inputs(wildcards):
    """What the dataset's source declares its preparation reads: a generated folder, a CSV of your own and its images,
    or the folder its download extracted."""
    return PLAN.dataset_inputs(wildcards.dataset)


def synthetic_dirs(wildcards):
    return expand(
        "results/{dataset}/synthetic/{sampling}/class_{class_index}/images",
        dataset=wildcards.dataset,
        sampling=wildcards.sampling,
        class_index=PLAN.class_indices(wildcards.dataset),
    )


def method_inputs(wildcards):
    return PLAN.method_inputs(wildcards.dataset, wildcards.run, wildcards.seed)


def method_flags(wildcards, input):
    """``--<kind> <path>`` for each input of the run (the kinds of ddb/methods/__init__.py's INPUT_KINDS)."""
    return cli_flags(input, INPUT_KINDS)


# ---- pretrained weights (rules/weights.smk): the staged folder a classifier starts from, as input and flag ----
def classifier_weights(settings_of):
    """Input function: ``{"pretrained_weights": results/weights/<name>}`` for the classifier of the job's settings."""
    return lambda wildcards: PLAN.classifier_weights(settings_of(wildcards))


def weights_flag(wildcards, input):
    return cli_flags(input, ("pretrained_weights",))


def run_folders(dataset, leaf):
    """``results/<dataset>/debias/<run>/seed<seed>/<leaf>`` of every configured run and its seeds."""
    return [f"results/{dataset}/debias/{run}/seed{seed}/{leaf}" for run, seed in PLAN.run_seed_pairs()]


def all_metrics():
    return [path for dataset in DATASETS for path in run_folders(dataset, "metrics.json")]


def all_bias_shares():
    """rho of the real training split and of every synthetic set, for the datasets where it can be measured."""
    measured = [d for d in DATASETS if PLAN.measures_bias(d)]
    return expand("results/{dataset}/bias_classifier/real_bias_share.json", dataset=measured) + expand(
        "results/{dataset}/synthetic/{sampling}/bias_share.json", dataset=measured, sampling=PLAN.sampling_variants
    )


def all_detections():
    """Detection quality of every amplifier some configured run uses."""
    return expand(
        "results/{dataset}/amplifier/{amplifier}/detection.json", dataset=DATASETS, amplifier=PLAN.used_amplifiers()
    )


# ---- report figures (rules/report.smk) ----
def dataset_metrics(wildcards):
    return run_folders(wildcards.dataset, "metrics.json")


def training_logs(wildcards):
    """Model folders whose training_log.csv the training-curves figure reads: the diffusion model when a method uses
    synthetic images, every amplifier some run uses, every run and seed."""
    folder = f"results/{wildcards.dataset}"
    logs = {"runs": run_folders(wildcards.dataset, "model")}
    if PLAN.synthetic_methods:
        logs["diffusion"] = f"{folder}/diffusion/model"
    if PLAN.used_amplifiers():
        logs["amplifiers"] = [f"{folder}/amplifier/{amplifier}/model" for amplifier in PLAN.used_amplifiers()]
    return logs


def all_figures():
    """Every figure of the report: per dataset its results, training curves, amplifier scores, synthetic sets."""
    figures = expand(
        "results/{dataset}/report/{name}.png", dataset=DATASETS, name=["group_accuracy", "training_curves"]
    )
    figures += expand(
        "results/{dataset}/report/amplifier_scores/{amplifier}.png", dataset=DATASETS, amplifier=PLAN.used_amplifiers()
    )
    if PLAN.synthetic_methods:
        figures += expand(
            "results/{dataset}/report/synthetic_vs_real/{sampling}.png",
            dataset=DATASETS,
            sampling=PLAN.sampling_variants,
        )
    figures += expand(
        "results/{dataset}/report/bias_amplification.png", dataset=[d for d in DATASETS if PLAN.measures_bias(d)]
    )
    return figures
