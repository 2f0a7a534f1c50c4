"""``gateway worker``: built like the API (gateway.wiring) without the web framework, it finishes what
a stopped process left and checkpoints the audit chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.auth.caller import Caller
from gateway.auth.service import create_client
from gateway.batches import repository as batch_repository
from gateway.batches import service as batches
from gateway.batches.parsing import BatchFormat
from gateway.cli import app
from gateway.db import build_engine, session_scope
from gateway.keyring import load_keyring
from gateway.persons.models import Person
from gateway.settings import Settings
from tests.fixtures.batches import CHILDREN, to_csv


def test_the_worker_does_not_import_the_web_application() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gateway.worker; "
            "print(sorted(m for m in ('gateway.app', 'fastapi', 'starlette') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert loaded.stdout.strip() == "[]"


@pytest.fixture
def stopped_process(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None
) -> str:
    """A registry whose API process accepted a batch and stopped before running it."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_VERIFICATION_ENABLED", "false")
    settings = Settings()
    engine = build_engine(fresh_db_url, pool_size=1)
    try:
        with session_scope(engine) as session:
            client = create_client(
                session, name="Henan", role="province", jurisdiction="41", scopes="batches:write"
            ).client
            caller = Caller.of_client(client, scopes=frozenset({"batches:write"}), acting_user="test")
        accepted = batches.submit_batch(
            engine, load_keyring(settings), caller, to_csv(CHILDREN[:3]), BatchFormat.CSV
        )
    finally:
        engine.dispose()
    assert accepted.status == "queued"
    return accepted.id


def _persons(url: str) -> int:
    engine = build_engine(url, pool_size=1)
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(Person)).scalar_one())
    engine.dispose()
    return total


def test_worker_once_finishes_the_batch_a_stopped_process_left_and_checkpoints_the_audit_chain(
    stopped_process: str, fresh_db_url: str, tmp_path: Path
) -> None:
    assert _persons(fresh_db_url) == 0
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert _persons(fresh_db_url) == 3
    engine = build_engine(fresh_db_url, pool_size=1)
    try:
        with session_scope(engine) as session:
            batch = batch_repository.get_batch(session, stopped_process)
            assert batch is not None and batch.status == "done" and batch.done_rows == 3
    finally:
        engine.dispose()
    assert list((tmp_path / "data" / "audit-checkpoints").iterdir())
    # Run again: nothing is left to do, and nothing is registered twice.
    assert CliRunner().invoke(app, ["worker", "--once"]).exit_code == 0
    assert _persons(fresh_db_url) == 3
