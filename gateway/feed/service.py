"""Appending to and reading the change feed.

Versions must be strictly increasing in commit order, across replicas: a reader that has seen
version V must never later find an event below V. So versions are handed out under a
transaction-scoped lock (the append lock of ``gateway.db``, shared with the audit chain) and
committed with the change they record. To hold that one global lock for as short a time as
possible, ``append`` only notes the event; the notes are written, numbered, just before the
transaction commits, and dropped if it rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from sqlmodel import Session

from gateway.auth.jurisdiction import Jurisdiction
from gateway.clock import as_utc, utcnow
from gateway.db import Appender, note_append
from gateway.feed import repository
from gateway.feed.models import ChangeEvent
from gateway.persons.models import Person, PersonSummary
from gateway.sealing import stored_values

EVENT_TYPES = (
    "code.issued",
    "code.promoted",
    "person.merged",
    "person.unmerged",
    "status.changed",
    "record.corrected",
)
_PENDING = "gateway.feed.pending"


def append(
    session: Session,
    *,
    type: str,
    person: Person | PersonSummary,
    old_code: str | None = None,
    detail: str | None = None,
    code: str | None = None,
) -> None:
    """Record a change of ``person`` (as it is now, or holding ``code``) in the caller's transaction."""
    assert person.id is not None
    note_append(
        session,
        FEED_LOG,
        {
            "occurred_at": utcnow(),
            "type": type,
            "person_id": person.id,
            "code": code or person.current_code,
            "old_code": old_code,
            "region": person.region,
            "school_code": person.school_code,
            "detail": detail,
        },
    )


def _write_pending(session: Session) -> None:
    """Number and insert the noted events (under the append lock, just before commit)."""
    pending: list[dict[str, Any]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    last = repository.latest_version(session)
    repository.insert_events(
        session, [{**change, "version": last + n} for n, change in enumerate(pending, start=1)]
    )


def _export_pending(session: Session) -> tuple[list[dict[str, Any]], Callable[[list[Any]], None]]:
    """The noted events as JSON rows for ``gateway_append``, which numbers and inserts them."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, None) or []
    table, dialect = ChangeEvent.__table__, session.get_bind().dialect  # type: ignore[attr-defined]
    rows = [
        # sealed here: gateway_append inserts the JSON as it is, past the column types
        stored_values(table, {**change, "occurred_at": as_utc(change["occurred_at"]).isoformat()}, dialect)
        for change in pending
    ]
    return rows, lambda _result: None


FEED_LOG = Appender(key=_PENDING, write=_write_pending, argument="feed_rows", export=_export_pending)


def read_since(
    session: Session, scope: Jurisdiction | AbstractSet[int], since: int, limit: int = 500
) -> Sequence[ChangeEvent]:
    """Events after ``since``, oldest first: about persons inside a jurisdiction, or about a set of
    persons wherever they are held (a reader scoped by whom it admitted)."""
    if not isinstance(scope, Jurisdiction):
        if not scope:
            return []
        return repository.events_after(session, since, limit, person_ids=sorted(scope))
    if scope.is_school:
        return repository.events_after(session, since, limit, school_code=scope.value)
    if scope.is_country:
        return repository.events_after(session, since, limit)
    return repository.events_after(session, since, limit, region_prefix=scope.value)
