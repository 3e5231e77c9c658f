"""The rehearsals cover every dataset preset, and the generated documents say what the code computes: every
``configs/<dataset>.yaml`` has its fixtures in tests/rehearsal.py and its rows in docs/rehearsal.md (both ways:
alone and with configs/paper.yaml), and docs/gpu-cost.md is what ``python -m ddb.tools.cost`` writes now."""

import re

import pytest
import yaml

from helpers import REPO
from rehearsal import PRESETS


def dataset_presets() -> dict[str, str]:
    """configs/<name>.yaml that configure one dataset and no experiment (no seeds: not the claims, control,
    method or sweep presets) -> that dataset."""
    out = {}
    for path in sorted((REPO / "configs").glob("*.yaml")):
        config = yaml.safe_load(path.read_text()) or {}
        if len(config.get("datasets", {})) == 1 and "seeds" not in config:
            out[path.stem] = next(iter(config["datasets"]))
    return out


def test_every_dataset_preset_has_a_rehearsal():
    assert PRESETS == dataset_presets()


def test_the_rehearsal_table_lists_every_preset_alone_and_with_the_paper_settings():
    table = (REPO / "docs/rehearsal.md").read_text()
    rows = set(re.findall(r"^\| (\w+) \| (alone|configs/paper\.yaml) \|", table, re.M))
    assert rows == {(preset, way) for preset in PRESETS for way in ("alone", "configs/paper.yaml")}


@pytest.mark.slow
def test_the_gpu_cost_document_is_what_the_tool_writes_now(tmp_path):
    from ddb.tools import cost

    assert cost.main(["--out", str(tmp_path / "cost.md")]) == (REPO / "docs/gpu-cost.md").read_text()
