"""The audit trail: rows chain by hash, tampering is found, and the database refuses edits."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from gateway.audit import service
from gateway.audit.models import AuditEvent
from gateway.db import Appender, build_engine, is_postgres, note_append, session_scope


def _write_some(session: Session, n: int = 5) -> list[AuditEvent]:
    events = [
        service.record(
            session, action="student.read", actor="cl_test", object_type="student", object_ref=f"G{i}"
        )
        for i in range(n)
    ]
    session.commit()  # rows are chained and written as their transaction commits
    return events


def test_rows_are_written_when_their_transaction_commits_and_not_if_it_rolls_back(
    fresh_db_url: str,
) -> None:
    engine = build_engine(fresh_db_url)
    with Session(engine) as s:
        event = service.record(s, action="student.read", actor="cl_test", object_ref="G1")
        assert event.id is None and event.hash == ""  # noted, not yet chained
        s.rollback()
    with Session(engine) as s:
        assert s.exec(select(AuditEvent)).all() == []
        service.record(s, action="student.read", actor="cl_test", object_ref="G2")
        # A read of the trail in the same transaction sees the row: it is written first.
        (row,) = s.exec(select(AuditEvent)).all()
        assert row.object_ref == "G2" and row.prev_hash == service.GENESIS
        s.commit()
    with session_scope(engine) as s:
        assert [e.object_ref for e in s.exec(select(AuditEvent)).all()] == ["G2"]
        assert service.verify_chain(s).ok
    engine.dispose()


def test_rows_chain_to_their_predecessor(session: Session) -> None:
    events = _write_some(session)
    assert events[0].prev_hash == service.GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    report = service.verify_chain(session)
    assert report.ok and report.rows_checked == 5


def test_full_id_numbers_never_reach_the_trail(session: Session) -> None:
    event = service.record(
        session,
        action="student.read",
        actor="x",
        object_ref="person 11010519491231002X",
        purpose="check 110105491231002",
    )
    assert "11010519491231002X" not in (event.object_ref or "")
    assert event.object_ref == "person 110105********002X"
    assert "110105491231002" not in (event.purpose or "")


def test_database_refuses_update_and_delete(session: Session) -> None:
    event = _write_some(session, 1)[0]
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("UPDATE audit_event SET outcome = 'denied' WHERE id = :id"), {"id": event.id})
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": event.id})


def _drop_guards(session: Session) -> None:
    # Simulates a database administrator who bypasses the triggers: exactly what verify must catch.
    if is_postgres(session):
        session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_verify_finds_an_edited_row(fresh_db_url: str) -> None:
    engine = build_engine(fresh_db_url)
    with session_scope(engine) as s:
        events = _write_some(s, 6)
        target = events[3].id
    with session_scope(engine) as s:
        _drop_guards(s)
        s.execute(text("UPDATE audit_event SET purpose = 'nothing to see' WHERE id = :id"), {"id": target})
    with session_scope(engine) as s:
        report = service.verify_chain(s)
    engine.dispose()
    assert report.first_bad_id == target
    assert "edited" in (report.reason or "")


def test_verify_finds_a_removed_row(fresh_db_url: str) -> None:
    engine = build_engine(fresh_db_url)
    with session_scope(engine) as s:
        events = _write_some(s, 6)
        removed, following = events[2].id, events[3].id
    with session_scope(engine) as s:
        _drop_guards(s)
        s.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": removed})
    with session_scope(engine) as s:
        report = service.verify_chain(s)
        remaining = s.exec(select(AuditEvent)).all()
    engine.dispose()
    assert len(remaining) == 5
    assert report.first_bad_id == following


def test_the_chain_written_at_commit_verifies_with_any_text(fresh_db_url: str) -> None:
    # On PostgreSQL the rows are chained by the database (gateway_append), on SQLite by the gateway:
    # either way verify_chain, which recomputes in Python, must agree, whatever the characters.
    engine = build_engine(fresh_db_url)
    for batch in range(3):
        with session_scope(engine) as s:
            for i in range(4):
                service.record(
                    s,
                    action="handoff.disclose",
                    actor="cl_高校",
                    object_ref=f'G{batch}{i} 王子涵 ‘引号’ \\ "quote"',
                    purpose="升学 — admission",
                    approval_ref=None if i % 2 else "教-2026-118",
                    record_count=i,
                )
            if batch == 1:
                service.write_pending(s)  # part written mid-transaction, the rest at commit
                service.record(s, action="student.read", actor="cl_x", object_ref="after")
    with session_scope(engine) as s:
        report = service.verify_chain(s)
        refs = [e.object_ref for e in s.exec(select(AuditEvent)).all()]
    engine.dispose()
    assert report.ok and report.rows_checked == 13
    assert refs[4:9] == [f'G1{i} 王子涵 ‘引号’ \\ "quote"' for i in range(4)] + ["after"]


def test_a_note_for_a_log_that_is_not_installed_is_refused_rather_than_lost() -> None:
    # Installed logs are written at commit; a log nobody installed would drop its notes silently.
    stray = Appender(
        key="tests.stray-log", write=lambda session: None, argument="audit_rows", export=lambda s: ([], print)
    )
    with Session() as session, pytest.raises(RuntimeError, match="not installed"):
        note_append(session, stray, {"action": "student.read"})
    assert "tests.stray-log" not in session.info
