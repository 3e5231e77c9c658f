import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_conda_env_pins_match_pyproject():
    """Rules run in envs/ddb.yaml under --sdm conda; it must install what pyproject.toml pins."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs/ddb.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip) == sorted(project)


def test_every_rule_has_log_benchmark_conda_and_the_code_identity_of_the_module_it_runs():
    # the code identity that a job's module would have under each PLAN method (ddb/workflow/planning.py)
    keyed = {"stage_code": lambda arg: arg, "dataset_code": lambda arg: arg, "download_code": lambda arg: "download",
             "method_code": lambda arg: "train_debiased"}
    for smk in (REPO / "rules").glob("*.smk"):
        if smk.name == "common.smk":
            continue
        for block in smk.read_text().split("\nrule ")[1:]:
            name = block.split(":")[0]
            for directive in ("log:", "benchmark:", "conda:", "code="):
                assert directive in block, f"rule {name} in {smk.name} lacks {directive}"
            module = re.search(r"python -m ddb\.([\w.]+)", block)[1]
            call = re.search(r"code=(?:lambda wildcards: )?PLAN\.(\w+)\((?:\"([\w.]+)\")?", block)
            assert call and keyed[call[1]](call[2]) == module, f"rule {name} runs ddb.{module} but is keyed on {call[0]}"


def test_declared_runtime_dependencies_cover_what_the_workflow_and_its_report_import():
    """Every install route (make, pip install -e ., the conda env) gets pyproject's dependencies; a module that ddb
    imports but only a test extra or chance brings in breaks the others (pygments for `snakemake --report`)."""
    import ast
    import importlib.metadata
    import sys

    from packaging.requirements import Requirement

    declared = [Requirement(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]
    names = {r.name.lower().replace("_", "-") for r in declared}
    providers = importlib.metadata.packages_distributions()
    imported = set()
    for path in [*(REPO / "ddb").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = sorted(m for m in imported - set(sys.stdlib_module_names) - {"ddb"})
    undeclared = {m: providers.get(m) for m in third_party
                  if not {d.lower().replace("_", "-") for d in providers.get(m, [])} & names}
    assert not undeclared, f"imported by ddb but not in pyproject's dependencies: {undeclared}"
    snakemake = next(r for r in declared if r.name == "snakemake")
    assert "reports" in snakemake.extras  # `snakemake --report` imports pygments


def test_the_package_docstring_lists_every_stage_module():
    import ddb

    listed = re.search(r"each a small ``main\(\)``:\s*(.*?); the report", ddb.__doc__, re.S)[1]
    stages = {p.stem for p in (REPO / "ddb").glob("*.py") if p.stem != "__init__"}
    assert set(re.split(r",\s*", listed.strip())) == stages
