"""SQL for status events and the transfer lock (the persons merged into a student are found by
``gateway.persons.repository``; the transfer workflow's own queries are ``gateway.handoff.repository``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlmodel import Session, col, func, select

from gateway.students.models import StatusEvent, Transfer

OPEN_TRANSFER_STATES = (
    "applied",
    "receiving_approved",
    "validated",
    "sending_school_approved",
    "released",
)


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


def open_transfer_holding(session: Session, person_ids: Iterable[int], now: datetime) -> Transfer | None:
    """The open transfer that locks one of these persons, or None. An application past its deadline
    (``due_at``) has expired and locks nobody, whether or not its expiry has been recorded yet: this
    is the one test of the transfer lock, for moves, corrections, merges and new applications."""
    ids = sorted(set(person_ids))
    if not ids:
        return None
    return session.exec(
        select(Transfer)
        .where(
            col(Transfer.person_id).in_(ids),
            col(Transfer.state).in_(OPEN_TRANSFER_STATES),
            col(Transfer.due_at) > now,
        )
        .order_by(col(Transfer.id))
    ).first()
