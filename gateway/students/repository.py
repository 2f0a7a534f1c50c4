"""SQL for status events and the persons merged into a student."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, col, func, select

from gateway.persons.models import Person
from gateway.registry.models import StatusEvent

# Merge chains are short (a merge of a merge is rare); the cap only guards against a cycle.
_MAX_MERGE_DEPTH = 16


def add_event(session: Session, event: StatusEvent) -> StatusEvent:
    session.add(event)
    session.flush()
    return event


def merged_person_ids(session: Session, survivor_id: int) -> list[int]:
    """The survivor and every person merged into it, directly or through another merge."""
    found = [survivor_id]
    frontier = [survivor_id]
    for _ in range(_MAX_MERGE_DEPTH):
        if not frontier:
            break
        rows = session.exec(
            select(Person.id).where(col(Person.merged_into_id).in_(frontier), Person.status == "merged")
        ).all()
        frontier = [pid for pid in rows if pid is not None and pid not in found]
        found.extend(frontier)
    return found


def events_for_persons(session: Session, person_ids: list[int]) -> Sequence[StatusEvent]:
    """Events in the order they were recorded."""
    return session.exec(
        select(StatusEvent).where(col(StatusEvent.person_id).in_(person_ids)).order_by(col(StatusEvent.id))
    ).all()


def latest_effective_date(session: Session, person_id: int) -> date | None:
    return session.exec(
        select(func.max(StatusEvent.effective_date)).where(StatusEvent.person_id == person_id)
    ).first()


def latest_departure(session: Session, person_id: int) -> StatusEvent | None:
    """The student's latest ``transferred_out`` event (the school it names is where they may arrive)."""
    return session.exec(
        select(StatusEvent)
        .where(StatusEvent.person_id == person_id, StatusEvent.event == "transferred_out")
        .order_by(col(StatusEvent.id).desc())
        .limit(1)
    ).first()
