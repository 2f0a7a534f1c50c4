"""The configuration is validated data: the shipped default loads, broken ones are refused."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.matching.config import MatchConfig, load_config, parse_config


def _default_data() -> dict[str, Any]:
    text = resources.files("gateway.matching").joinpath("default_student.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_default_config_has_name_version_and_the_canonical_fields() -> None:
    config = load_config()
    assert config.name == "canonical-student"
    assert config.version
    assert {f.column for f in config.fields} >= {"name", "birth_date", "id_number", "guardian_name"}
    assert config.label == f"{config.name}@{config.version}"


def test_json_and_toml_load_the_same_configuration(tmp_path: Path) -> None:
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(_default_data()), encoding="utf-8")
    assert load_config(path) == load_config()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["fields"][0]["levels"][0].update(rules=["soundex_of_moon"]),
        lambda d: d["fields"][0]["levels"].pop(),  # last level no longer 'else'
        lambda d: d["fields"][0]["levels"][2].pop("threshold"),
        lambda d: d["blocking"][0].update(parts=["nickname.value"]),
        lambda d: d["blocking"][0].update(parts=["birth_date.pinyin"]),
        lambda d: d["thresholds"].update(review_probability=0.999, match_probability=0.9),
        lambda d: d["fields"].append(dict(d["fields"][0])),  # duplicate field name
        lambda d: d["hard_rules"].update(name_confirming_levels=["nonexistent"]),
        lambda d: d.pop("version"),
    ],
)
def test_invalid_configurations_are_refused(mutate: Any) -> None:
    data = _default_data()
    mutate(data)
    with pytest.raises(ValidationError):
        MatchConfig.model_validate(data)


def test_parse_config_reads_toml_text() -> None:
    text = resources.files("gateway.matching").joinpath("default_student.toml").read_text("utf-8")
    assert parse_config(text.replace('version = "1.1.0"', 'version = "9.9.9"')).version == "9.9.9"
