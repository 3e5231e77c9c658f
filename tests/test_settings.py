import pytest

from ddb.config import stage_settings


def test_stage_settings_fill_schema_defaults():
    s = stage_settings("sampling")
    assert s["guidance_w"] == 1.0 and s["scheduler"] == "dpmsolver++"
    assert stage_settings("sampling", '{"images_per_class": 7}')["images_per_class"] == 7


def test_unknown_or_bad_settings_are_clear_errors():
    with pytest.raises(SystemExit, match="sampling settings.*'guidance' was unexpected"):
        stage_settings("sampling", {"guidance": 2})
    with pytest.raises(SystemExit, match="scheduler.*is not one of"):
        stage_settings("sampling", {"scheduler": "euler"})
