"""The operator's commands against a real database: ``gateway schools import``, ``gateway year
freeze|close``, and ``gateway generate-records --for-registration`` drawing from the register."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.db import build_engine
from gateway.schools.models import School
from gateway.schools.parsing import DEMO_REGISTER, parse_register
from gateway.students.models import SchoolYearClose
from tests.fixtures.schools import register_text


@pytest.fixture
def cli_env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    return fresh_db_url


def _schools(url: str) -> dict[str, str]:
    engine = build_engine(url)
    try:
        with Session(engine) as session:
            return {s.code: s.name for s in session.exec(select(School)).all()}
    finally:
        engine.dispose()


def test_schools_import_loads_updates_and_refuses_a_bad_file_whole(cli_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    demo = len(parse_register(DEMO_REGISTER.read_text(encoding="utf-8")).schools)
    first = runner.invoke(app, ["schools", "import", str(DEMO_REGISTER)])
    assert first.exit_code == 0, first.output
    assert f"{demo} schools added, 0 updated, 0 unchanged" in first.stdout
    again = runner.invoke(app, ["schools", "import", str(DEMO_REGISTER)])
    assert f"0 schools added, 0 updated, {demo} unchanged" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(
        register_text("4101020001,改了名的小学,410102,primary,,,", "4101020099,无类型,410102,,,,"),
        encoding="utf-8",
    )
    refused = runner.invoke(app, ["schools", "import", str(bad)])
    assert refused.exit_code == 1
    assert "line 3: type: invalid" in refused.output and "nothing was imported" in refused.output
    assert _schools(cli_env)["4101020001"] == "郑州市中原区建设路第一小学"


def test_year_freeze_and_close_print_a_summary(cli_env: str) -> None:
    runner = CliRunner()
    frozen = runner.invoke(app, ["year", "freeze", "--region", "4101", "--year", "2026"])
    assert frozen.exit_code == 0, frozen.output
    assert "transfers frozen" in frozen.stdout
    closed = runner.invoke(app, ["year", "close", "--region", "4101", "--year", "2026"])
    assert closed.exit_code == 0, closed.output
    assert "school year 2025-2026, region 4101: done" in closed.stdout
    refused = runner.invoke(app, ["year", "close", "--region", "4199", "--year", "2026"])
    assert refused.exit_code == 2 and "region" in refused.output
    engine = build_engine(cli_env)
    try:
        with Session(engine) as session:
            assert [(c.region, c.state) for c in session.exec(select(SchoolYearClose)).all()] == [
                ("4101", "done")
            ]
    finally:
        engine.dispose()


def test_generated_registrations_name_schools_of_the_register(tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    result = CliRunner().invoke(
        app,
        [
            "generate-records",
            "--persons",
            "50",
            "--seed",
            "20260901",
            "--for-registration",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    register = {s.code: s for s in parse_register(DEMO_REGISTER.read_text(encoding="utf-8")).schools}
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50
    assert all(row["school_code"] in register for row in rows)
    assert all(register[row["school_code"]].region == row["school_region"] for row in rows)
