# Helpers only (no rules): config validation, the results layout, stage settings, code hashes, inputs.
import ast
import copy
import hashlib
import json
import re
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # this checkout's ddb, even where another one is installed
from ddb.methods import METHODS as METHOD_INFO
from ddb.sources import DOWNLOADABLE, SOURCES

# Jobs call `python -m ddb.<stage>`: without --sdm conda that is the environment running Snakemake itself,
# whether or not it was activated.
if not workflow.deployment_settings.deployment_method:
    shell.prefix(f'set -euo pipefail; export PATH="{Path(sys.executable).parent}:$PATH"; ')

# `--config seeds=[0,1]` arrives as strings (Snakemake reads list values with YAML's BaseLoader).
if isinstance(config.get("seeds"), list):
    config["seeds"] = [int(s) if isinstance(s, str) and s.isdigit() else s for s in config["seeds"]]
validate(config, "../ddb/config.schema.yaml")

PACKAGE_DIR = Path(workflow.basedir) / "ddb"
METHODS = tuple(config["methods"])
SYNTHETIC_METHODS = tuple(m for m in METHODS if METHOD_INFO[m]["amplifier"] == "synthetic")


STAGE_SECTIONS = ("diffusion", "sampling", "amplifier", "real_amplifier", "classifier", "recipes")


def merged(base, changes):
    """``base`` with ``changes`` merged in, recursively for nested sections (``recipes``)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def checked_section(section, settings, where):
    """``settings`` validated as the config section ``section`` (defaults filled); errors name ``where``."""
    settings = copy.deepcopy(settings)
    try:
        validate({section: settings}, "../ddb/config.schema.yaml")
    except Exception as error:
        raise ValueError(f"config {where}: {error}") from None
    return settings


def dataset_stage_config(dataset):
    """Every stage section for one dataset: the global section with the dataset's ``overrides`` (its preset)."""
    overrides = config["datasets"][dataset].get("overrides", {})
    return {section: checked_section(section, merged(config[section], overrides.get(section, {})),
                                     f"datasets.{dataset}.overrides.{section}") for section in STAGE_SECTIONS}


def sampling_variants():
    """Synthetic-set variants by name: ``base`` (the ``sampling`` section as is), and one per ``sweeps.sampling``
    entry, named by its overrides (``guidance_w=2.0``, ``num_inference_steps=1000,scheduler=ddpm``)."""
    variants = {"base": {}}
    for index, override in enumerate(config["sweeps"]["sampling"]):
        checked_section("sampling", config["sampling"] | override, f"sweeps.sampling[{index}] = {override}")
        if any(config["sampling"].get(key) != value for key, value in override.items()):  # else: the base again
            variants[",".join(f"{key}={override[key]}" for key in sorted(override))] = override
    return variants


def selected_datasets():
    """``run_datasets`` (all configured datasets when empty), checked against ``datasets``."""
    unknown = sorted(set(config["run_datasets"]) - set(config["datasets"]))
    if unknown:
        raise ValueError(f"config run_datasets names {unknown}, which are not under datasets: {sorted(config['datasets'])}")
    return list(config["run_datasets"]) or list(config["datasets"])


def expand_ratio_sweep():
    """One extra dataset per ``sweeps.conflicting_ratio`` value and built-in benchmark: ``<name>_ratio<value>``."""
    ratios = config["sweeps"]["conflicting_ratio"]
    builtin = {n: config["datasets"][n] for n in DATASETS if config["datasets"][n]["source"] == "builtin_shapes"}
    if ratios and not builtin:
        raise ValueError("config sweeps.conflicting_ratio needs a dataset with source: builtin_shapes")
    for name, spec in builtin.items():
        for ratio in ratios:
            swept = copy.deepcopy(spec)
            swept["builtin_shapes"]["conflicting_ratio"] = ratio
            config["datasets"].setdefault(f"{name}_ratio{ratio:g}", swept)
            DATASETS.append(f"{name}_ratio{ratio:g}")


DATASETS = selected_datasets()
expand_ratio_sweep()
STAGE_CONFIG = {dataset: dataset_stage_config(dataset) for dataset in DATASETS}
SAMPLING_VARIANTS = sampling_variants()
_variant_pattern = "|".join(re.escape(name) for name in SAMPLING_VARIANTS)


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_.]*",
    sampling=_variant_pattern,
    # an amplifier: `real`, or `synthetic/<sampling variant>` (the synthetic set it was trained on)
    amplifier=rf"real|synthetic/(?:{_variant_pattern})",
    # a debiased-model run: the method, plus `/<sampling variant>` for methods using the synthetic amplifier
    run="|".join([re.escape(m) for m in METHOD_INFO if METHOD_INFO[m]["amplifier"] != "synthetic"]
                 + [rf"{m}/(?:{_variant_pattern})" for m in METHOD_INFO if METHOD_INFO[m]["amplifier"] == "synthetic"]),
    seed=r"\d+",
    class_index=r"\d+",
    source="|".join(DOWNLOADABLE),


def sized(rule, resource, default):
    """Resource function: ``datasets.<name>.resources.<rule>.<resource>`` of the job's dataset (its preset), else the
    rule's default. (Partitions, accounts and GPU types belong in the SLURM profile, not here.)"""
    return lambda wildcards: config["datasets"][wildcards.dataset].get("resources", {}).get(rule, {}).get(resource, default)


def settings_json(section):
    """A stage's config sub-tree as canonical JSON: the params value that reruns exactly the stages using it."""
    return json.dumps(section, sort_keys=True)


def dataset_settings(wildcards):
    spec = config["datasets"][wildcards.dataset]
    return settings_json(spec[spec["source"]])


def class_indices(dataset):
    """Class indices of a dataset, known before any job runs so that a dry run shows the whole DAG."""
    spec = config["datasets"][dataset]
    return list(range(SOURCES[spec["source"]].num_classes(spec[spec["source"]])))


def generates_urbancars(spec):
    return spec["source"] == "urbancars" and spec.get("urbancars", {}).get("origin", "generate") == "generate"


def dataset_inputs(wildcards):
    """A downloadable source's extracted files (UrbanCars: the generated folder); a folder dataset's CSV (an edit of
    it reruns the preparation)."""
    spec = config["datasets"][wildcards.dataset]
    if generates_urbancars(spec):
        return {"raw": f"results/{wildcards.dataset}/data/urbancars"}
    if SOURCES[spec["source"]].files:
        return {"raw": f"results/downloads/{spec['source']}/extracted"}
    if spec["source"] == "folder":
        return {"csv": spec["folder"]["csv"]}
    return {}


def _ddb_imports(path):
    """ddb modules imported by the module at ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ddb":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("ddb.")}
    return {name for name in found if (PACKAGE_DIR / f"{name}.py").exists()}


def code_version(module):
    """sha256 of a stage module and every ddb module it imports, transitively. As a param it makes an edit of the
    stage's code rerun the stage. (Schema defaults need no hash: they reach the stage filled into its params.)"""
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(_ddb_imports(PACKAGE_DIR / f"{name}.py"))
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode() + (PACKAGE_DIR / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def stage_settings(section):
    """Params function: the dataset's ``section`` (global config plus the dataset's overrides) as canonical JSON."""
    return lambda wildcards: settings_json(STAGE_CONFIG[wildcards.dataset][section])


def sampling_settings(wildcards):
    return settings_json(STAGE_CONFIG[wildcards.dataset]["sampling"] | SAMPLING_VARIANTS[wildcards.sampling])


def real_amplifier_settings(wildcards):
    sections = STAGE_CONFIG[wildcards.dataset]
    return settings_json(sections["amplifier"] | sections["real_amplifier"])


# ---- runs: results/<dataset>/debias/<run>/seed<seed>/, run = method[/sampling variant] ----
def run_method(wildcards):
    return wildcards.run.split("/")[0]


def amplifier_of(run):
    """The amplifier a run uses (``real``, ``synthetic/<variant>``), or None."""
    method, _, variant = run.partition("/")
    source = METHOD_INFO[method]["amplifier"]
    return f"synthetic/{variant}" if source == "synthetic" else source


def run_amplifier(wildcards):
    return amplifier_of(wildcards.run)


def all_runs():
    """Every configured run name: one per method, and one per sampling variant for synthetic-amplifier methods."""
    runs = []
    for method in METHODS:
        runs += [f"{method}/{v}" for v in SAMPLING_VARIANTS] if method in SYNTHETIC_METHODS else [method]
    return runs


# ---- input functions over the results layout: results/<dataset>/<stage>/... ----
def synthetic_dirs(wildcards):
    return expand(
        "results/{dataset}/synthetic/{sampling}/class_{class_index}/images",
        dataset=wildcards.dataset,
        sampling=wildcards.sampling,
        class_index=class_indices(wildcards.dataset),
    )


def method_inputs(wildcards):
    """What a run's training job reads besides the metadata: what its method needs (ddb/methods.py), and for
    pseudo-group model selection the scores of its amplifier, or of the synthetic one when it has none."""
    folder = f"results/{wildcards.dataset}/amplifier/{run_amplifier(wildcards)}"
    paths = {"scores": f"{folder}/scores.parquet", "amplifier": f"{folder}/model"}
    inputs = {need: paths[need] for need in METHOD_INFO[run_method(wildcards)]["needs"]}
    if STAGE_CONFIG[wildcards.dataset]["classifier"]["selection"] == "label_free_pseudo_group":
        selection_amplifier = run_amplifier(wildcards) or "synthetic/base"
        inputs["selection_scores"] = f"results/{wildcards.dataset}/amplifier/{selection_amplifier}/scores.parquet"
    return inputs


def cli_flags(input, keys):
    """``--<key> <path> [<path> ...]`` for each of ``keys`` among the job's named inputs."""
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in input.items() if key in keys)


def method_flags(wildcards, input):
    """``--scores <path>`` / ``--amplifier <path>`` / ``--selection-scores <path>`` for the inputs of the run."""
    return cli_flags(input, ("scores", "amplifier", "selection_scores"))


def recipe_settings(wildcards):
    recipe = METHOD_INFO[run_method(wildcards)]["recipe"]
    return settings_json(STAGE_CONFIG[wildcards.dataset]["recipes"][recipe] if recipe else {})


def all_metrics():
    return expand(
        "results/{dataset}/debias/{run}/seed{seed}/metrics.json",
        dataset=DATASETS,
        run=all_runs(),
        seed=config["seeds"],
    )


def all_detections():
    """Detection quality of every amplifier some configured run uses."""
    return expand("results/{dataset}/amplifier/{amplifier}/detection.json", dataset=DATASETS, amplifier=used_amplifiers())


# ---- report figures (rules/report.smk) ----
def dataset_metrics(wildcards):
    return expand("results/{dataset}/debias/{run}/seed{seed}/metrics.json", dataset=wildcards.dataset,
                  run=all_runs(), seed=config["seeds"])


def used_amplifiers():
    return sorted({amplifier_of(run) for run in all_runs()} - {None})


def training_logs(wildcards):
    """Model folders whose training_log.csv the training-curves figure reads: the diffusion model when a method uses
    synthetic images, every amplifier some run uses, every run and seed."""
    folder = f"results/{wildcards.dataset}"
    logs = {"runs": expand(f"{folder}/debias/{{run}}/seed{{seed}}/model", run=all_runs(), seed=config["seeds"])}
    if SYNTHETIC_METHODS:
        logs["diffusion"] = f"{folder}/diffusion/model"
    if used_amplifiers():
        logs["amplifiers"] = [f"{folder}/amplifier/{amplifier}/model" for amplifier in used_amplifiers()]
    return logs


def all_figures():
    """Every figure of the report: per dataset its results, training curves, amplifier scores, synthetic sets."""
    figures = expand("results/{dataset}/report/{name}.png", dataset=DATASETS, name=["group_accuracy", "training_curves"])
    figures += expand("results/{dataset}/report/amplifier_scores/{amplifier}.png", dataset=DATASETS,
                      amplifier=used_amplifiers())
    if SYNTHETIC_METHODS:
        figures += expand("results/{dataset}/report/synthetic_vs_real/{sampling}.png", dataset=DATASETS,
                          sampling=SAMPLING_VARIANTS)
    return figures
