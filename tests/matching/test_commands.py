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


def test_dedupe_learns_by_default_writes_the_parameters_beside_and_reuses_them(tmp_path: Path) -> None:
    app = _app()
    data = tmp_path / "in.csv"
    result = runner.invoke(app, ["generate-records", "--out", str(data), "--persons", "3000", "--labelled"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["dedupe", str(data), "--out", str(tmp_path / "pairs.csv")])
    assert result.exit_code == 0, result.output
    learnt = tmp_path / "pairs.model.json"
    assert "parameters: estimated" in result.output and str(learnt) in result.output.replace("\n", "")
    parameters = json.loads(learnt.read_text(encoding="utf-8"))
    assert "EM on the input" in parameters["trained"]
    shipped = json.loads(
        (Path(__file__).parents[2] / "gateway/matching/default_student_model.json").read_text(
            encoding="utf-8"
        )
    )
    assert parameters["fields"]["name"]["m"] != shipped["fields"]["name"]["m"]
    # Pinned: the parameters of the first run, as given, and the output says so.
    result = runner.invoke(
        app, ["dedupe", str(data), "--out", str(tmp_path / "again.csv"), "--model", str(learnt)]
    )
    assert result.exit_code == 0, result.output
    assert "parameters: pinned" in result.output
    again = json.loads((tmp_path / "again.model.json").read_text(encoding="utf-8"))
    assert again["fields"] == parameters["fields"] and again["prior"] == parameters["prior"]
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == (tmp_path / "pairs.csv").read_text(
        encoding="utf-8"
    )
