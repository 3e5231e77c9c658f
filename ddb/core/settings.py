"""Stage settings: the defaults of ``ddb/config.schema.yaml`` overlaid with what the workflow passes.

The workflow hands each stage only its config sub-tree (``--settings '<json>'``). Run by hand, a stage may omit
``--settings`` or give a partial dict; the schema supplies the rest, and an unknown key is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).parents[1] / "config.schema.yaml"
# The config's ``deterministic`` setting reaches every job through this environment variable (rules/common.smk sets
# it, ddb.training.device reads it): it decides how kernels are chosen, not what a stage computes, so switching it
# reruns nothing.
DETERMINISTIC_ENV = "DDB_DETERMINISTIC"


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _defaults(node: dict, defs: dict) -> dict:
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    out = {}
    for key, sub in node.get("properties", {}).items():
        if "default" in sub and not isinstance(sub["default"], dict):
            out[key] = sub["default"]
        elif "properties" in sub or "$ref" in sub:
            out[key] = _defaults(sub, defs)
    return out


def resolve_settings(definition: str, overrides: str | dict | None = None) -> dict:
    """Settings for schema definition ``definition`` (e.g. ``diffusion``): defaults, overlaid and validated."""
    schema = load_schema()
    defs = schema["$defs"]
    settings = _defaults(defs[definition], defs)
    given = json.loads(overrides) if isinstance(overrides, str) else (overrides or {})
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    try:
        jsonschema.validate(settings, {**defs[definition], "$defs": defs})
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise SystemExit(f"invalid {definition} settings at {where}: {err.message} (see ddb/config.schema.yaml)")
    return settings
