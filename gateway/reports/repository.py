"""The SQL behind the progress report: counts grouped by the child region they fall in.

Every function takes a region ``prefix`` ('' for the whole country), the length ``child_len`` of the
child-region prefix to group by, and a half-open UTC interval; each returns ``{child: count}`` (or
``{(child, key): count}``). No rules here beyond the filters: the definitions live in the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, not_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gateway.idgen.models import CodeLineage, IssuedCode
from gateway.persons.models import Person
from gateway.registry.models import ProblemPerson, ProblemRecord, VerificationJob
from gateway.schools.models import School
from gateway.students.models import StatusEvent

# Lineage reasons that are not promotions (a merge makes an alias, an unmerge restores it).
NON_PROMOTION_REASONS = ("merge", "unmerge")


def _child(column: Any, child_len: int) -> Any:
    return func.substr(column, 1, child_len)


def _within(column: Any, prefix: str) -> Any:
    return col(column).startswith(prefix) if prefix else True


def _pairs(rows: Sequence[Any]) -> dict[tuple[str, str], int]:
    return {(str(child), str(key)): int(n) for child, key, n in rows}


def _singles(rows: Sequence[Any]) -> dict[str, int]:
    return {str(child): int(n) for child, n in rows}


def codes_issued(
    session: Session, prefix: str, child_len: int, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """Codes issued in [start, end) by (child region of the holding person, code type)."""
    child = _child(Person.region, child_len)
    query = (
        select(child, IssuedCode.type, func.count())
        .select_from(IssuedCode)
        .join(Person, col(Person.id) == col(IssuedCode.person_id))
        .where(col(IssuedCode.issued_at) >= start, col(IssuedCode.issued_at) < end)
        .where(_within(Person.region, prefix))
        .group_by(child, IssuedCode.type)
    )
    return _pairs(session.exec(query).all())


def promotions(
    session: Session, prefix: str, child_len: int, start: datetime, end: datetime
) -> dict[str, int]:
    """Lineage entries in [start, end) that gave a person a formal (G or J) code, not by a merge."""
    child = _child(Person.region, child_len)
    query = (
        select(child, func.count())
        .select_from(CodeLineage)
        .join(Person, col(Person.id) == col(CodeLineage.person_id))
        .where(col(CodeLineage.occurred_at) >= start, col(CodeLineage.occurred_at) < end)
        .where(col(CodeLineage.reason).not_in(NON_PROMOTION_REASONS))
        .where(func.substr(CodeLineage.new_code, 1, 1).in_(["G", "J"]))
        .where(_within(Person.region, prefix))
        .group_by(child)
    )
    return _singles(session.exec(query).all())


def verification_outcomes(
    session: Session, prefix: str, child_len: int, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """Verification jobs finished in [start, end), by (child region, outcome)."""
    child = _child(Person.region, child_len)
    query = (
        select(child, VerificationJob.outcome, func.count())
        .select_from(VerificationJob)
        .join(Person, col(Person.id) == col(VerificationJob.person_id))
        .where(VerificationJob.status == "done")
        .where(col(VerificationJob.finished_at) >= start, col(VerificationJob.finished_at) < end)
        .where(_within(Person.region, prefix))
        .group_by(child, col(VerificationJob.outcome))
    )
    return _pairs(session.exec(query).all())


def verification_pending(session: Session, prefix: str, child_len: int, as_of: datetime) -> dict[str, int]:
    """Verification jobs created before ``as_of`` and not finished by then."""
    child = _child(Person.region, child_len)
    query = (
        select(child, func.count())
        .select_from(VerificationJob)
        .join(Person, col(Person.id) == col(VerificationJob.person_id))
        .where(col(VerificationJob.created_at) < as_of)
        .where(or_(col(VerificationJob.finished_at).is_(None), col(VerificationJob.finished_at) >= as_of))
        .where(_within(Person.region, prefix))
        .group_by(child)
    )
    return _singles(session.exec(query).all())


def problems_opened(
    session: Session, prefix: str, child_len: int, start: datetime, end: datetime
) -> dict[str, int]:
    child = _child(ProblemRecord.region, child_len)
    query = (
        select(child, func.count())
        .where(col(ProblemRecord.opened_at) >= start, col(ProblemRecord.opened_at) < end)
        .where(_within(ProblemRecord.region, prefix))
        .group_by(child)
    )
    return _singles(session.exec(query).all())


def problems_closed(
    session: Session, prefix: str, child_len: int, start: datetime, end: datetime
) -> dict[str, int]:
    child = _child(ProblemRecord.region, child_len)
    query = (
        select(child, func.count())
        .where(ProblemRecord.status == "resolved")
        .where(col(ProblemRecord.decided_at) >= start, col(ProblemRecord.decided_at) < end)
        .where(_within(ProblemRecord.region, prefix))
        .group_by(child)
    )
    return _singles(session.exec(query).all())


def open_backlog(
    session: Session, prefix: str, child_len: int, as_of: datetime, bucket_starts: Sequence[datetime]
) -> dict[tuple[str, str], int]:
    """Problem records open at ``as_of`` by (child region, age bucket index as text).

    ``bucket_starts`` are descending instants: a record opened at or after ``bucket_starts[0]`` is
    in bucket 0, at or after ``bucket_starts[1]`` in bucket 1, and so on; older ones in the last+1.
    """
    child = _child(ProblemRecord.region, child_len)
    whens = [(col(ProblemRecord.opened_at) >= s, str(i)) for i, s in enumerate(bucket_starts)]
    bucket = case(*whens, else_=str(len(bucket_starts)))
    closed_before = and_(col(ProblemRecord.status) == "resolved", col(ProblemRecord.decided_at) < as_of)
    query = (
        select(child, bucket, func.count())
        .where(col(ProblemRecord.opened_at) < as_of)
        .where(not_(closed_before))
        .where(_within(ProblemRecord.region, prefix))
        .group_by(child, bucket)
    )
    return _pairs(session.exec(query).all())


def duplicate_enrolments_open(
    session: Session, prefix: str, child_len: int, as_of: datetime
) -> dict[tuple[str, str], int]:
    """Duplicate-enrolment records (重复学籍) open at ``as_of``, by (child region, side): ``filed`` by
    the region of the school that registered the child again, ``held`` by the region of the person
    already holding them (each record counted once per side and region)."""
    closed_before = and_(col(ProblemRecord.status) == "resolved", col(ProblemRecord.decided_at) < as_of)
    open_at = and_(
        col(ProblemRecord.type) == "duplicate_enrolment",
        col(ProblemRecord.opened_at) < as_of,
        not_(closed_before),
    )
    filed_child = _child(ProblemRecord.region, child_len)
    filed = (
        select(filed_child, func.count())
        .where(open_at)
        .where(_within(ProblemRecord.region, prefix))
        .group_by(filed_child)
    )
    held_child = _child(Person.region, child_len)
    held = (
        select(held_child, func.count(func.distinct(ProblemRecord.id)))
        .select_from(ProblemRecord)
        .join(ProblemPerson, col(ProblemPerson.problem_id) == col(ProblemRecord.id))
        .join(Person, col(Person.id) == col(ProblemPerson.person_id))
        .where(open_at)
        .where(_within(Person.region, prefix))
        .where(func.substr(Person.region, 1, 2) != func.substr(ProblemRecord.region, 1, 2))
        .group_by(held_child)
    )
    counts = {(str(c), "filed"): int(n) for c, n in session.exec(filed).all()}
    counts.update({(str(c), "held"): int(n) for c, n in session.exec(held).all()})
    return counts


def transfers_in_period(session: Session, first_day: date, last_day: date) -> list[tuple[str, str | None]]:
    """Each ``transferred_in`` event effective in [first_day, last_day] as (receiving region, region of
    the same person's latest earlier ``transferred_out`` event, or None)."""
    out_event = StatusEvent.__table__.alias("out_event")  # type: ignore[attr-defined]
    sending = (
        select(out_event.c.region)
        .where(out_event.c.person_id == StatusEvent.person_id)
        .where(out_event.c.event == "transferred_out")
        .where(out_event.c.id < StatusEvent.id)
        .order_by(out_event.c.id.desc())
        .limit(1)
        .correlate(StatusEvent)
        .scalar_subquery()
    )
    query = (
        select(StatusEvent.region, sending)
        .where(StatusEvent.event == "transferred_in")
        .where(col(StatusEvent.effective_date) >= first_day, col(StatusEvent.effective_date) <= last_day)
    )
    return [
        (str(receiving), None if sent is None else str(sent)) for receiving, sent in session.exec(query).all()
    ]


# -- the data-quality report (``gateway.reports.quality``) -------------------------------------------
# A unit is a child region (a prefix of ``child_len`` digits) or, below a county, a school
# (``child_len`` None: grouped by school code, '' for records without one). ``school`` narrows to one
# school (a school's caller).

OPEN_PROBLEM_STATES = ("open", "needs_evidence")


def _unit(region: Any, school: Any, child_len: int | None) -> Any:
    return func.coalesce(school, "") if child_len is None else _child(region, child_len)


def _place(region: Any, school_column: Any, prefix: str, school: str | None) -> Any:
    within = _within(region, prefix)
    return and_(within, col(school_column) == school) if school is not None else within


def submitted_by_unit(
    session: Session, prefix: str, school: str | None, child_len: int | None, as_of: datetime
) -> dict[str, dict[str, int]]:
    """Active persons registered before ``as_of`` per unit, with how many carry each optional field and
    how many are verified or have no checkable document (``not_applicable``)."""
    unit = _unit(Person.region, Person.school_code, child_len)

    def present(column: Any) -> Any:
        return func.sum(case((and_(column.is_not(None), column != ""), 1), else_=0))

    query = (
        sa_select(
            unit,
            func.count(),
            func.sum(case((col(Person.id_type) != "none", 1), else_=0)),
            present(col(Person.ethnicity)),
            present(col(Person.household_region)),
            present(col(Person.guardian_name)),
            present(col(Person.school_code)),
            func.sum(case((col(Person.verification_status) == "verified", 1), else_=0)),
            func.sum(case((col(Person.verification_status) == "not_applicable", 1), else_=0)),
        )
        .where(col(Person.status) == "active", col(Person.created_at) < as_of)
        .where(_place(Person.region, Person.school_code, prefix, school))
        .group_by(unit)
    )
    names = (
        "submitted",
        "id_number",
        "ethnicity",
        "household_region",
        "guardian_name",
        "school_code",
        "verified",
        "not_applicable",
    )
    return {
        str(row[0]): dict(zip(names, (int(n or 0) for n in row[1:]), strict=True))
        for row in session.execute(query).all()
    }


def open_problems_by_unit(
    session: Session,
    prefix: str,
    school: str | None,
    child_len: int | None,
    as_of: datetime,
    overdue_before: datetime,
) -> dict[tuple[str, str], tuple[int, int]]:
    """Problem records open at ``as_of`` by (unit, type): (open, of which opened before
    ``overdue_before``)."""
    unit = _unit(ProblemRecord.region, ProblemRecord.school_code, child_len)
    closed_before = and_(col(ProblemRecord.status) == "resolved", col(ProblemRecord.decided_at) < as_of)
    query = (
        select(
            unit,
            ProblemRecord.type,
            func.count(),
            func.sum(case((col(ProblemRecord.opened_at) < overdue_before, 1), else_=0)),
        )
        .where(col(ProblemRecord.opened_at) < as_of, not_(closed_before))
        .where(_place(ProblemRecord.region, ProblemRecord.school_code, prefix, school))
        .group_by(unit, ProblemRecord.type)
    )
    return {(str(u), str(t)): (int(n), int(late or 0)) for u, t, n, late in session.exec(query).all()}


def enrolment_by_unit(
    session: Session, prefix: str, school: str | None, child_len: int | None
) -> dict[str, tuple[int, int, int]]:
    """Active schools of the register per unit (child region, or school when ``child_len`` is None):
    (enrolment summed, schools, schools with an enrolment figure)."""
    unit = col(School.code) if child_len is None else _child(School.region, child_len)
    query = (
        sa_select(
            unit,
            func.coalesce(func.sum(col(School.enrolment)), 0),
            func.count(),
            func.count(col(School.enrolment)),
        )
        .where(col(School.active).is_(True))
        .where(_within(School.region, prefix))
        .group_by(unit)
    )
    if school is not None:
        query = query.where(col(School.code) == school)
    return {
        str(u): (int(total), int(n), int(reported)) for u, total, n, reported in session.execute(query).all()
    }
