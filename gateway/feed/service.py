"""Appending to and reading the change feed.

Versions are handed out under a transaction-scoped lock and committed with the change they record,
so a reader that has seen version V never later finds an event below V: the feed is strictly
increasing in commit order, across replicas (the lock is a PostgreSQL advisory lock).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from gateway.auth.jurisdiction import Jurisdiction
from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.feed.models import ChangeEvent
from gateway.registry.models import Person

EVENT_TYPES = (
    "code.issued",
    "code.promoted",
    "person.merged",
    "person.unmerged",
    "status.changed",
    "record.corrected",
)


def append(
    session: Session,
    *,
    type: str,
    person: Person,
    old_code: str | None = None,
    detail: str | None = None,
) -> ChangeEvent:
    """Record a change of ``person`` in the caller's transaction."""
    assert person.id is not None
    advisory_xact_lock(session, "change-feed")
    last = session.execute(select(func.max(ChangeEvent.version))).scalar_one_or_none() or 0
    event = ChangeEvent(
        version=int(last) + 1,
        occurred_at=utcnow(),
        type=type,
        person_id=person.id,
        code=person.current_code,
        old_code=old_code,
        region=person.region,
        school_code=person.school_code,
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event


def read_since(
    session: Session, jurisdiction: Jurisdiction, since: int, limit: int = 500
) -> Sequence[ChangeEvent]:
    """Events after ``since`` about persons inside ``jurisdiction``, oldest first."""
    query = select(ChangeEvent).where(col(ChangeEvent.version) > since)
    if jurisdiction.is_school:
        query = query.where(ChangeEvent.school_code == jurisdiction.value)
    elif not jurisdiction.is_country:
        query = query.where(col(ChangeEvent.region).startswith(jurisdiction.value))
    return session.exec(query.order_by(col(ChangeEvent.version)).limit(limit)).all()
