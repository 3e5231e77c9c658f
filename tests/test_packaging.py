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


def test_every_rule_has_log_benchmark_conda_and_code_hash():
    for smk in (REPO / "rules").glob("*.smk"):
        if smk.name == "common.smk":
            continue
        for block in smk.read_text().split("\nrule ")[1:]:
            name = block.split(":")[0]
            for directive in ("log:", "benchmark:", "conda:", "code=code_version("):
                assert directive in block, f"rule {name} in {smk.name} lacks {directive}"
