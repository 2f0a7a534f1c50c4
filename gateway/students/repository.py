"""SQL for status events and the transfer lock (the persons merged into a student are found by
``gateway.persons.repository``; the transfer workflow's own queries are ``gateway.handoff.repository``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, insert, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, func, select

from gateway.persons.models import Person
from gateway.schools.models import School
from gateway.students.models import SchoolYearClose, StatusEvent, Transfer

FREEZING_STATES = ("frozen", "running")

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


def get_close(session: Session, region: str, school_year: int) -> SchoolYearClose | None:
    return session.exec(
        select(SchoolYearClose).where(
            SchoolYearClose.region == region, SchoolYearClose.school_year == school_year
        )
    ).first()


def add_close(session: Session, close: SchoolYearClose) -> SchoolYearClose:
    session.add(close)
    session.flush()
    return close


def freezing_closes(session: Session) -> Sequence[SchoolYearClose]:
    """Closes of a school year not finished: each freezes transfers in its region."""
    return session.exec(
        select(SchoolYearClose)
        .where(col(SchoolYearClose.state).in_(FREEZING_STATES))
        .order_by(col(SchoolYearClose.id))
    ).all()


@dataclass(frozen=True)
class CloseCandidate:
    """A student the close of a school year has still to deal with, in plain values."""

    person_id: int
    code: str
    region: str
    school_code: str | None
    grade: int
    school_type: str | None
    repeating: bool


def close_candidates(
    session: Session,
    *,
    region: str,
    school_year: int,
    year_start: date,
    cut_over: date,
    after_id: int,
    limit: int,
) -> list[CloseCandidate]:
    """Students in attendance with a grade in ``region``, by id after ``after_id``, whom the close of
    ``school_year`` has not dealt with yet (no event of that close) and who are not already in the
    next year (no event after ``cut_over``); ``repeating``: their school recorded ``repeated`` during
    the year. Row-locked on PostgreSQL, so a status change of one of them waits for the chunk."""
    event_of_person = col(StatusEvent.person_id) == col(Person.id)
    closed_already = exists().where(event_of_person, col(StatusEvent.school_year) == school_year)
    next_year = exists().where(event_of_person, col(StatusEvent.effective_date) > cut_over)
    repeat = (
        exists()
        .where(
            event_of_person,
            col(StatusEvent.event) == "repeated",
            col(StatusEvent.school_year).is_(None),
            col(StatusEvent.effective_date) >= year_start,
        )
        .label("repeating")
    )
    query = (
        select_columns(
            col(Person.id),
            col(Person.current_code),
            col(Person.region),
            col(Person.school_code),
            col(Person.grade),
            col(School.type),
            repeat,
        )
        .select_from(Person)
        .outerjoin(School, col(School.code) == col(Person.school_code))
        .where(
            col(Person.id) > after_id,
            col(Person.status) == "active",
            col(Person.school_status) == "in_attendance",
            col(Person.region).startswith(region),
            col(Person.grade).is_not(None),
            ~closed_already,
            ~next_year,
        )
        .order_by(col(Person.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Lock the chunk's persons, then read them again: a status change committed while we waited
        # for a lock is seen by the second statement's snapshot (the first one's subqueries would not
        # see it), and none can commit after it while the locks are held.
        locked = [r[0] for r in session.execute(query.with_for_update(of=Person)).all()]
        query = query.where(col(Person.id).in_(locked))
    return [
        CloseCandidate(int(r[0]), str(r[1]), str(r[2]), r[3], int(r[4]), r[5], bool(r[6]))
        for r in session.execute(query).all()
    ]


def insert_events(session: Session, rows: list[dict[str, object]]) -> None:
    """Many status events in one statement (their columns' types applied: sealed text stays sealed)."""
    if rows:
        session.execute(insert(StatusEvent), rows)


def set_status(session: Session, person_ids: list[int], status: str, now: datetime) -> None:
    if person_ids:
        session.execute(
            update(Person)
            .where(col(Person.id).in_(person_ids))
            .values(school_status=status, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def advance_grade(session: Session, person_ids: list[int], now: datetime) -> None:
    if person_ids:
        session.execute(
            update(Person)
            .where(col(Person.id).in_(person_ids))
            .values(grade=col(Person.grade) + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def count_without_grade(session: Session, region: str) -> int:
    """Students in attendance in ``region`` without a grade (registered before grades were kept)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Person)
            .where(
                col(Person.status) == "active",
                col(Person.school_status) == "in_attendance",
                col(Person.region).startswith(region),
                col(Person.grade).is_(None),
            )
        ).one()
    )
