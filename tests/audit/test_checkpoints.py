"""Signed checkpoints of the audit chain, outside the database: whoever can rewrite the table (the
owner, dropping the append-only triggers) still cannot make ``verify`` pass after removing or rewriting
rows, and the application's own database role cannot alter the table at all (PostgreSQL)."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from gateway.audit import checkpoints
from gateway.audit import service as audit
from gateway.audit.models import AuditEvent
from gateway.db import app_role_grants, is_postgres, session_scope
from gateway.keyring import KeyRing


def _write_rows(engine: Engine, n: int) -> None:
    for i in range(n):
        with session_scope(engine) as s:
            audit.record(s, action="test.row", actor="tester", object_ref=f"row-{i}")


def _drop_guards(engine: Engine) -> None:
    """What an owner of the database can do: take the append-only triggers away."""
    with engine.begin() as conn:
        if is_postgres(engine):
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_event_no_delete"))


def _verify(engine: Engine, directory: Path, keyring: KeyRing) -> checkpoints.CheckpointReport:
    with Session(engine) as s:
        assert audit.verify_chain(s).ok  # the chain alone cannot tell (that is the point)
        return checkpoints.verify(s, directory, keyring.jwks())


def test_removing_the_last_rows_passes_the_chain_but_not_the_checkpoint(
    fresh_engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    _write_rows(fresh_engine, 8)
    with Session(fresh_engine) as s:
        written = checkpoints.checkpoint_now(s, tmp_path, keyring)
    assert written is not None and stat.S_IMODE(written.stat().st_mode) == 0o400
    assert _verify(fresh_engine, tmp_path, keyring).ok
    _write_rows(fresh_engine, 2)  # rows after the checkpoint are fine
    assert _verify(fresh_engine, tmp_path, keyring).ok
    _drop_guards(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id > 5"))
    report = _verify(fresh_engine, tmp_path, keyring)
    assert not report.ok and "truncated" in str(report.problem)


def test_a_rewritten_and_rechained_trail_does_not_match_its_checkpoint(
    fresh_engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    _write_rows(fresh_engine, 6)
    with Session(fresh_engine) as s:
        checkpoints.checkpoint_now(s, tmp_path, keyring)
    _drop_guards(fresh_engine)
    # Edit row 2 and recompute every hash after it, as someone who knows the algorithm would.
    with Session(fresh_engine) as s:
        rows = s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        rows[1].object_ref = "nothing to see"
        prev = rows[0].hash
        for row in rows[1:]:
            row.prev_hash, row.hash = prev, audit._content_hash(row, prev)
            prev = row.hash
            s.add(row)
        s.commit()
    report = _verify(fresh_engine, tmp_path, keyring)
    assert not report.ok and "rewritten" in str(report.problem)


def test_a_checkpoint_not_signed_by_the_gateway_is_itself_a_finding(
    fresh_engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    _write_rows(fresh_engine, 3)
    with Session(fresh_engine) as s:
        written = checkpoints.checkpoint_now(s, tmp_path, keyring)
    assert written is not None
    forged = tmp_path / "999999999999999-000000000000003.jws"
    header, payload, signature = written.read_text().strip().split(".")
    forged.write_text(f"{header}.{payload}.{signature[:-4]}AAAA\n")
    with Session(fresh_engine) as s:
        report = checkpoints.verify(s, tmp_path, keyring.jwks())
    assert not report.ok and "valid signature" in str(report.problem)


@pytest.mark.postgres
def test_the_applications_role_cannot_alter_the_trail_but_the_owner_is_caught(
    fresh_db_url: str, fresh_engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """The production layout: migrations run as the owner; the gateway connects as a role holding
    only what ``gateway db grant-app-role`` grants (audit rows: insert and read)."""
    role = f"gateway_app_{secrets.token_hex(4)}"
    with fresh_engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        for statement in app_role_grants(role):
            conn.execute(text(statement))
    _write_rows(fresh_engine, 4)
    with Session(fresh_engine) as s:
        checkpoints.checkpoint_now(s, tmp_path, keyring)
    as_app = create_engine(fresh_db_url)
    try:
        for attack in (
            "DROP TRIGGER audit_event_no_update ON audit_event",
            "ALTER TABLE audit_event DISABLE TRIGGER USER",
            "DELETE FROM audit_event",
            "UPDATE audit_event SET outcome = 'x'",
            "TRUNCATE audit_event",
            "DROP TABLE audit_event",
        ):
            with as_app.connect() as conn, pytest.raises(DBAPIError):
                conn.execute(text(f'SET ROLE "{role}"'))
                conn.execute(text(attack))
        with as_app.connect() as conn:  # what the gateway needs still works
            conn.execute(text(f'SET ROLE "{role}"'))
            assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() == 4
    finally:
        as_app.dispose()
    # The owner can drop the guards and cut the tail; the checkpoint still catches it.
    _drop_guards(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id > 2"))
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    assert not _verify(fresh_engine, tmp_path, keyring).ok
