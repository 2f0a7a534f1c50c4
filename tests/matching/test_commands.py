"""The matching commands, on a local Typer app (the lead registers them on the gateway CLI)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from gateway.matching.commands import register

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_generate_then_dedupe_and_link(tmp_path: Path) -> None:
    app = _app()
    result = runner.invoke(
        app, ["generate-records", "--out", str(tmp_path / "in.csv"), "--persons", "200", "--labelled"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["dedupe", str(tmp_path / "in.csv"), "--out", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "pairs.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["band"] for r in rows} <= {"match", "review"}
    result = runner.invoke(
        app, ["link", str(tmp_path / "in.csv"), str(tmp_path / "in.csv"), "--out", str(tmp_path / "link.csv")]
    )
    assert result.exit_code == 0, result.output
    assert (
        (tmp_path / "link.csv").read_text(encoding="utf-8").startswith("record_id_1,record_id_2,score,band")
    )


def test_eval_prints_precision_recall_and_f1_per_band() -> None:
    result = runner.invoke(_app(), ["eval", "--persons", "300", "--seed", "3"])
    assert result.exit_code == 0, result.output
    for word in ("match", "review", "match+review", "precision", "recall", "F1", "canonical-student@"):
        assert word in result.output


def test_config_option_selects_another_configuration(tmp_path: Path) -> None:
    app = _app()
    config = tmp_path / "strict.json"
    from gateway.matching.config import load_config

    data = load_config().model_dump()
    data["version"] = "1.0.0-strict"
    data["thresholds"]["match_probability"] = 0.999999
    config.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(
        app,
        ["train", "--out", str(tmp_path / "strict.model.json"), "--persons", "300", "--config", str(config)],
    )
    assert result.exit_code == 0, result.output
    runner.invoke(
        app, ["generate-records", "--out", str(tmp_path / "in.csv"), "--persons", "200", "--labelled"]
    )
    result = runner.invoke(
        app, ["dedupe", str(tmp_path / "in.csv"), "--out", str(tmp_path / "p.csv"), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "canonical-student@1.0.0-strict" in result.output


def test_a_configuration_without_trained_parameters_is_refused_clearly(tmp_path: Path) -> None:
    from gateway.matching.config import load_config

    data = load_config().model_dump()
    data["version"] = "2.0.0-untrained"
    config = tmp_path / "new.json"
    config.write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "in.csv").write_text("record_id,name\n", encoding="utf-8")
    result = runner.invoke(
        _app(),
        ["dedupe", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"), "--config", str(config)],
    )
    assert result.exit_code == 2
    assert "gateway train" in result.output
