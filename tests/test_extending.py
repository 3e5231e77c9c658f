"""docs/add-a-method.md and docs/add-a-dataset.md, followed word for word: their code blocks go into a copy of the
workflow, the schema gets the entries their steps name, their command runs, and the copy trains the new method / on
the new source through the workflow. When these pass, the steps are true; they also count the files a step touches."""

import hashlib
import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from ddb import methods
from helpers import REPO, copy_of_run, copy_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.slow  # real workflow runs

SCHEMA = "ddb/config.schema.yaml"


def fenced(doc: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (REPO / "docs" / doc).read_text(), re.S)


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every workflow file below ``root`` (what copy_workflow copies), by relative path."""
    files = [p for name in ("Snakefile", "rules", "ddb", "envs", "report", "slurm", "config.yaml")
             for p in ([root / name] if (root / name).is_file() else (root / name).rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def touched(work: Path) -> set[str]:
    before, after = tree_digests(REPO), tree_digests(work)
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def write_module(work: Path, block: str) -> str:
    """The module of a ``# <path>`` code block, at that path."""
    path = block.splitlines()[0].removeprefix("# ").strip()
    (work / path).write_text(block)
    return path


def indented(block: str, spaces: int) -> str:
    """A YAML block without its ``# <where>`` line, indented to sit at a depth of the schema."""
    return "".join(" " * spaces + line + "\n" if line else "\n" for line in block.splitlines()[1:])


def added_to_enum(text: str, first: str, name: str) -> str:
    """The schema with ``name`` appended to the enum that starts with ``first``."""
    changed, count = re.subn(rf"(enum: \[{first},[^\]]*)\]", rf"\1, {name}]", text, count=1)
    assert count == 1, f"no enum starting with {first}"
    return changed


def documented_commands(doc: str) -> list[list[str]]:
    return [shlex.split(line) for block in fenced(doc, "bash") for line in block.splitlines() if line.strip()]


def test_adding_a_method_as_documented_takes_one_module_and_its_schema_entry(finished_tiny_run, tmp_path):
    work = copy_of_run(finished_tiny_run, tmp_path / "workflow")  # finished: only the new method's jobs will run
    module, settings = fenced("add-a-method.md", "python")[0], fenced("add-a-method.md", "yaml")[0]
    assert settings.startswith("# ddb/config.schema.yaml, under $defs: recipes: properties:")
    name = Path(write_module(work, module)).stem
    lines = added_to_enum((work / SCHEMA).read_text(), "erm", name).splitlines(keepends=True)
    recipes = lines.index("  recipes:\n")
    at = recipes + lines[recipes:].index("    properties:\n") + 1
    (work / SCHEMA).write_text("".join(lines[:at]) + indented(settings, 6) + "".join(lines[at:]))
    assert touched(work) == {f"ddb/methods/{name}.py", SCHEMA}  # goal: one module plus its schema entry

    (command,) = documented_commands("add-a-method.md")
    assert command[:2] == ["snakemake", "-n"]
    assert f"results/shapes/debias/{name}/base/seed0/model" in snakemake(work, *command[1:]).stdout
    config = ["--configfile", "tiny.yaml", "--config", f"methods=[{name}]", "recipes={%s: {factor: 3}}" % name]
    jobs = planned_jobs(work, *config)
    assert jobs["train_debiased"] == jobs["evaluate"] == 1  # the new method's run; nothing that exists trains again
    assert not {"train_diffusion", "sample_synthetic", "train_amplifier", "score_real"} & set(jobs)
    snakemake(work, *config)
    metrics = json.loads((work / f"results/shapes/debias/{name}/base/seed0/metrics.json").read_text())
    assert metrics["method"] == name and metrics["amplifier"] == "synthetic/base" and not metrics["uses_bias_labels"]
    model = json.loads((work / f"results/shapes/debias/{name}/base/seed0/model/model.json").read_text())
    assert model["method_settings"] == {"factor": 3}  # its own settings section, from the config
    summary = pd.read_csv(work / "results/tables/summary.csv")
    assert summary[summary["in_config"]]["method"].tolist() == [name]  # the finished runs' rows stay, marked
    assert name not in methods.method_names()  # the checkout itself is untouched


def test_adding_a_dataset_source_as_documented_runs_through_the_workflow(tmp_path):
    work = copy_workflow(tmp_path / "workflow")
    module, settings = fenced("add-a-dataset.md", "python")[0], fenced("add-a-dataset.md", "yaml")[0]
    assert settings.startswith("# ddb/config.schema.yaml, under $defs:")
    name = Path(write_module(work, module)).stem
    text = added_to_enum((work / SCHEMA).read_text(), "builtin_shapes", name)
    # the settings key the doc gives datasets, beside the other sources' keys
    (key,) = re.findall(rf"`({name}: \{{\$ref: [^`]*)`", (REPO / "docs/add-a-dataset.md").read_text())
    folder_key = '      folder: {$ref: "#/$defs/folder"}\n'
    text = text.replace(folder_key, folder_key + f"      {key}\n", 1)
    (work / SCHEMA).write_text(text + "\n" + indented(settings, 2))
    assert touched(work) == {f"ddb/datasets/{name}.py", SCHEMA}

    (command,) = documented_commands("add-a-dataset.md")
    assert command[:2] == ["snakemake", "-n"]
    assert "results/stripes/data/metadata.parquet" in snakemake(work, *command[1:]).stdout
    snakemake(work, "--configfile", "tiny.yaml", "--config", *command[3:], "methods=[erm]",
              "datasets={stripes: {source: %s, %s: {n_train: 80, n_val: 20, n_test: 20}}}" % (name, name))
    metrics = json.loads((work / "results/stripes/debias/erm/seed0/metrics.json").read_text())
    assert metrics["source"] == name and metrics["n_test"] == 20 and len(metrics["per_group"]) == 4
    assert set(pd.read_csv(work / "results/tables/summary.csv")["dataset"]) == {"stripes"}
