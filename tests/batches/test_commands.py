"""``gateway import FILE.csv`` against a real database, through the same batch service as the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.auth import service as auth_service
from gateway.batches.commands import import_file
from gateway.db import build_engine, session_scope
from gateway.persons.models import Person
from tests.fixtures.batches import CHILDREN, read_results, to_csv

app = typer.Typer()
app.command("import")(import_file)


@app.callback()
def _group() -> None:
    """Keeps ``import`` a named subcommand, as in the gateway CLI."""


@pytest.fixture
def database(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_VERIFICATION_ENABLED", "false")
    return fresh_db_url


def _client(url: str, scopes: str = "batches:write") -> str:
    engine = build_engine(url, pool_size=1)
    with session_scope(engine) as s:
        client_id = auth_service.create_client(
            s, name="Henan import", role="province", jurisdiction="41", scopes=scopes
        ).client.id
    engine.dispose()
    return client_id


def _persons(url: str) -> int:
    engine = build_engine(url, pool_size=1)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(Person)).scalar_one())
    engine.dispose()
    return total


def test_import_registers_a_gb18030_file_and_writes_the_results(database: str, tmp_path: Path) -> None:
    client_id = _client(database)
    bad = {**CHILDREN[2], "gender": "unknown-gender"}
    source = tmp_path / "cohort.csv"
    # Chinese spreadsheet exports are GB18030 more often than not.
    source.write_bytes(to_csv([CHILDREN[0], CHILDREN[1], bad]).encode("gb18030"))
    result = CliRunner().invoke(app, ["import", str(source), "--client-id", client_id])
    assert result.exit_code == 1, result.output
    results_path = tmp_path / "cohort.results.csv"
    assert str(results_path) in result.output.replace("\n", "")
    rows = read_results(results_path.read_text(encoding="utf-8"))
    assert [r["outcome"] for r in rows] == ["issued", "issued", "rejected"]
    assert rows[2]["errors"].startswith("gender:")
    assert _persons(database) == 2


def test_import_of_a_clean_file_exits_zero_and_honours_out(database: str, tmp_path: Path) -> None:
    client_id = _client(database)
    source = tmp_path / "clean.csv"
    source.write_text(to_csv(CHILDREN[:2]), encoding="utf-8")
    out = tmp_path / "elsewhere.csv"
    result = CliRunner().invoke(app, ["import", str(source), "--client-id", client_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["outcome"] for r in read_results(out.read_text(encoding="utf-8"))] == ["issued", "issued"]


def test_import_refuses_an_unknown_client_or_one_without_the_scope(database: str, tmp_path: Path) -> None:
    source = tmp_path / "cohort.csv"
    source.write_text(to_csv(CHILDREN[:1]), encoding="utf-8")
    unknown = CliRunner().invoke(app, ["import", str(source), "--client-id", "cl_missing"])
    assert unknown.exit_code == 2 and "no such client" in unknown.output
    reader = _client(database, scopes="codes:read")
    refused = CliRunner().invoke(app, ["import", str(source), "--client-id", reader])
    assert refused.exit_code == 2 and "batches:write" in refused.output
    assert _persons(database) == 0
