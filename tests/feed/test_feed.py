"""The change feed: numbered at commit, never at a savepoint, dropped on rollback, gap-free under load."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from gateway.db import session_scope
from gateway.feed import service as feed
from gateway.feed.models import ChangeEvent
from gateway.persons.models import Person
from gateway.registry.service import new_person


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(ChangeEvent)).scalar_one())


def _person(engine: Engine) -> int:
    with session_scope(engine) as s:
        person = new_person(s, region="410102", school_code=None, birth_date=date(2016, 1, 2), actor="t")[0]
        return int(person.id or 0)


def test_events_are_written_at_commit_not_at_a_savepoint(fresh_engine: Engine) -> None:
    person_id = _person(fresh_engine)  # its code.issued event is version 1
    with session_scope(fresh_engine) as s:
        person = s.get(Person, person_id)
        assert person is not None
        feed.append(s, type="status.changed", person=person, detail="enrolled")
        with s.begin_nested():
            pass  # releasing a savepoint must not number the event (that would take the lock early)
        assert _count(s) == 1
    with Session(fresh_engine) as s:
        versions = s.execute(
            select(ChangeEvent.version, ChangeEvent.type).order_by(ChangeEvent.version)
        ).all()
    assert [tuple(v) for v in versions] == [(1, "code.issued"), (2, "status.changed")]


def test_rolled_back_events_vanish(fresh_engine: Engine) -> None:
    person_id = _person(fresh_engine)
    with pytest.raises(RuntimeError), session_scope(fresh_engine) as s:
        person = s.get(Person, person_id)
        assert person is not None
        feed.append(s, type="status.changed", person=person)
        raise RuntimeError("the change fails")
    with session_scope(fresh_engine) as s:
        person = s.get(Person, person_id)
        assert person is not None
        feed.append(s, type="status.changed", person=person, detail="later")
    with Session(fresh_engine) as s:
        rows = s.execute(select(ChangeEvent.version, ChangeEvent.detail).order_by(ChangeEvent.version)).all()
    assert [tuple(r) for r in rows] == [(1, None), (2, "later")]


@pytest.mark.postgres
def test_concurrent_writers_get_gap_free_increasing_versions(fresh_engine: Engine) -> None:
    person_id = _person(fresh_engine)
    barrier = threading.Barrier(16)

    def write(i: int) -> None:
        barrier.wait()
        for _ in range(10):
            with session_scope(fresh_engine) as s:
                person = s.get(Person, person_id)
                assert person is not None
                feed.append(s, type="status.changed", person=person, detail=f"w{i}")
                feed.append(s, type="status.changed", person=person, detail=f"w{i}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(16)))
    with Session(fresh_engine) as s:
        rows = s.execute(select(ChangeEvent.version, ChangeEvent.detail).order_by(ChangeEvent.version)).all()
    assert [r[0] for r in rows] == list(range(1, 16 * 10 * 2 + 2))
    # the two events of one transaction are adjacent: versions follow commit order
    pairs = [(rows[i][1], rows[i + 1][1]) for i in range(1, len(rows), 2)]
    assert all(a == b for a, b in pairs)
