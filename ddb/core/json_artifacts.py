"""Reading the JSON artifacts (metrics.json, detection.json, bias_share.json) like every other artifact: a missing,
cut-short or foreign file stops the reader with the file named and the command that rebuilds it."""

from __future__ import annotations

import json
from pathlib import Path

from ddb.core.integrity import damaged

# the keys each kind must have: what the tables and figures read to place a row
METRICS_KEYS = ("dataset", "method", "seed")
DETECTION_KEYS = ("dataset", "amplifier")
BIAS_SHARE_KEYS = ("dataset", "measured", "rho")


def read_json(path: str | Path, keys: tuple[str, ...] = ()) -> dict:
    """The JSON object at ``path``, holding ``keys``."""
    try:
        value = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise damaged(path, "missing (deleted after it was written)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise damaged(path, f"is not valid JSON ({error}): it was damaged or cut short") from None
    missing = [key for key in keys if key not in value] if isinstance(value, dict) else list(keys)
    if not isinstance(value, dict) or missing:
        raise damaged(path, f"is not the JSON object ddb writes there (missing {', '.join(missing) or 'an object'})")
    return value
