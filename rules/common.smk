# Helpers only (no rules): config validation, the results layout, stage settings, code hashes, inputs.
import ast
import hashlib
import json
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # this checkout's ddb, even where another one is installed
from ddb.methods import METHODS as METHOD_INFO

# Jobs call `python -m ddb.<stage>`: without --sdm conda that is the environment running Snakemake itself,
# whether or not it was activated.
if not workflow.deployment_settings.deployment_method:
    shell.prefix(f'set -euo pipefail; export PATH="{Path(sys.executable).parent}:$PATH"; ')

validate(config, "../ddb/config.schema.yaml")

PACKAGE_DIR = Path(workflow.basedir) / "ddb"
METHODS = tuple(config["methods"])


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    method="|".join(METHOD_INFO),
    seed=r"\d+",
    class_index=r"\d+",
    source="synthetic|real",


def settings_json(section):
    """A stage's config sub-tree as canonical JSON: the params value that reruns exactly the stages using it."""
    return json.dumps(section, sort_keys=True)


def dataset_settings(wildcards):
    spec = config["datasets"][wildcards.dataset]
    return settings_json(spec[spec["source"]])


def class_indices(dataset):
    """Class indices of a dataset, known before any job runs so that a dry run shows the whole DAG."""
    spec = config["datasets"][dataset]
    if spec["source"] == "builtin_shapes":
        return list(range(spec["builtin_shapes"]["num_classes"]))
    raise ValueError(f"unknown dataset source {spec['source']!r}")


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


# ---- input functions over the results layout: results/<dataset>/<stage>/... ----
def synthetic_dirs(wildcards):
    return expand(
        "results/{dataset}/synthetic/class_{class_index}/images",
        dataset=wildcards.dataset,
        class_index=class_indices(wildcards.dataset),
    )


def method_inputs(wildcards):
    """What a method's training job reads besides the metadata (ddb/methods.py says what each needs)."""
    info = METHOD_INFO[wildcards.method]
    folder = f"results/{wildcards.dataset}/amplifier_{info['amplifier']}"
    paths = {"scores": f"{folder}/scores.parquet", "amplifier": f"{folder}/model"}
    return {need: paths[need] for need in info["needs"]}


def method_flags(wildcards, input):
    """``--scores <path>`` / ``--amplifier <path>`` for the inputs the method needs."""
    needs = METHOD_INFO[wildcards.method]["needs"]
    return " ".join(f"--{key} {value}" for key, value in input.items() if key in needs)


def recipe_settings(wildcards):
    recipe = METHOD_INFO[wildcards.method]["recipe"]
    return settings_json(config["recipes"][recipe] if recipe else {})


def all_metrics():
    return expand(
        "results/{dataset}/debias/{method}/seed{seed}/metrics.json",
        dataset=list(config["datasets"]),
        method=METHODS,
        seed=config["seeds"],
    )


def all_detections():
    """Detection quality of every amplifier some configured method uses."""
    sources = sorted({METHOD_INFO[m]["amplifier"] for m in METHODS} - {None})
    return expand(
        "results/{dataset}/amplifier_{source}/detection.json",
        dataset=list(config["datasets"]),
        source=sources,
    )
