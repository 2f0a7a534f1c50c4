"""SQL for status events (the persons merged into a student are found by ``gateway.persons.repository``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, col, func, select

from gateway.registry.models import StatusEvent


def add_event(session: Session, event: StatusEvent) -> StatusEvent:
    session.add(event)
    session.flush()
    return event


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
