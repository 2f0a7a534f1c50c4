"""The command line against a real database: clients and the audit check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app


@pytest.fixture
def cli_env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))


def test_clients_create_list_disable_enable(cli_env: None) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "clients",
            "create",
            "--name",
            "Henan",
            "--role",
            "province",
            "--jurisdiction",
            "41",
            "--scopes",
            "codes:read search:read",
        ],
    )
    assert created.exit_code == 0, created.output
    out = json.loads(created.stdout.strip().splitlines()[-1])
    assert out["client_id"].startswith("cl_") and len(out["client_secret"]) >= 32
    listed = runner.invoke(app, ["clients", "list", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["client_id"], r["state"]) for r in rows] == [(out["client_id"], "active")]
    assert out["client_secret"] not in listed.stdout
    assert runner.invoke(app, ["clients", "disable", out["client_id"]]).exit_code == 0
    rows = [
        json.loads(line) for line in runner.invoke(app, ["clients", "list", "--json"]).stdout.splitlines()
    ]
    assert rows[0]["state"] == "disabled"
    assert runner.invoke(app, ["clients", "enable", out["client_id"]]).exit_code == 0
    assert runner.invoke(app, ["clients", "disable", "cl_missing"]).exit_code == 1


def test_clients_create_refuses_bad_input(cli_env: None) -> None:
    result = CliRunner().invoke(
        app,
        ["clients", "create", "--name", "x", "--role", "province", "--jurisdiction", "CN", "--scopes", "all"],
    )
    assert result.exit_code == 2
    assert "jurisdiction" in result.output


def test_audit_verify_reports_intact_trail(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 0
    assert "intact" in result.stdout
