import pytest

from ddb.core.settings import resolve_settings


def test_settings_fill_schema_defaults():
    s = resolve_settings("sampling")
    assert s["guidance_w"] == 1.0 and s["scheduler"] == "dpmsolver++"
    assert resolve_settings("sampling", '{"images_per_class": 7}')["images_per_class"] == 7


def test_unknown_or_bad_settings_are_clear_errors():
    with pytest.raises(SystemExit, match="sampling settings.*'guidance' was unexpected"):
        resolve_settings("sampling", {"guidance": 2})
    with pytest.raises(SystemExit, match="scheduler.*is not one of"):
        resolve_settings("sampling", {"scheduler": "euler"})
