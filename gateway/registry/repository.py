"""SQL for problem records (and the persons they name), merges, verification jobs, corrections, the
registry's matching model versions and the auto-link decisions made with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, exists, func, or_
from sqlmodel import Session, col, select

from gateway.auth.jurisdiction import Jurisdiction
from gateway.db import write_rows
from gateway.persons.models import Person
from gateway.persons.repository import insert_returning_id, new_rows_of
from gateway.registry.models import (
    IdempotencyRecord,
    MatchDecision,
    MatchModelVersion,
    Merge,
    ProblemPerson,
    ProblemRecord,
    RecordCorrection,
    VerificationJob,
)


def get_problem(session: Session, problem_id: int, *, for_update: bool = False) -> ProblemRecord | None:
    """A problem record read afresh (``for_update``: locked)."""
    return session.get(ProblemRecord, problem_id, populate_existing=True, with_for_update=for_update)


def get_merge(session: Session, merge_id: int, *, for_update: bool = False) -> Merge | None:
    """A merge read afresh (``for_update``: locked)."""
    return session.get(Merge, merge_id, populate_existing=True, with_for_update=for_update)


def _in_jurisdiction(query: Any, jurisdiction: Jurisdiction) -> Any:
    """Problem records filed inside the jurisdiction, or about a person who is inside it now."""
    if jurisdiction.is_country:
        return query
    filed: ColumnElement[bool]
    holds: ColumnElement[bool]
    if jurisdiction.is_school:
        filed = col(ProblemRecord.school_code) == jurisdiction.value
        holds = col(Person.school_code) == jurisdiction.value
    else:
        filed = col(ProblemRecord.region).startswith(jurisdiction.value)
        holds = col(Person.region).startswith(jurisdiction.value)
    about_ours = exists(
        select(ProblemPerson.problem_id)
        .join(Person, col(Person.id) == col(ProblemPerson.person_id))
        .where(col(ProblemPerson.problem_id) == col(ProblemRecord.id), holds)
    )
    return query.where(or_(filed, about_ours))


def problems_in_jurisdiction(
    session: Session,
    jurisdiction: Jurisdiction,
    *,
    kind: str | None = None,
    status: str | None = None,
    region: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> Sequence[ProblemRecord]:
    query = _in_jurisdiction(select(ProblemRecord), jurisdiction).where(col(ProblemRecord.id) > after_id)
    if kind:
        query = query.where(ProblemRecord.type == kind)
    if status:
        query = query.where(ProblemRecord.status == status)
    if region:
        query = query.where(col(ProblemRecord.region).startswith(region))
    rows: Sequence[ProblemRecord] = session.exec(query.order_by(col(ProblemRecord.id)).limit(limit)).all()
    return rows


def count_problems_in_jurisdiction(session: Session, jurisdiction: Jurisdiction) -> dict[str, int]:
    query = _in_jurisdiction(
        select(ProblemRecord.status, func.count()).group_by(ProblemRecord.status), jurisdiction
    )
    return {str(status): int(n) for status, n in session.exec(query).all()}


def add_problem(session: Session, problem: ProblemRecord) -> None:
    """Write a new problem record (its id is set)."""
    session.add(problem)
    session.flush()


def add_problem_persons(session: Session, problem_id: int, person_ids: list[int]) -> None:
    """Name the persons a problem record is about (its visibility follows where they are)."""
    for person_id in dict.fromkeys(person_ids):
        session.add(ProblemPerson(problem_id=problem_id, person_id=person_id))
    session.flush()


def persons_of_problem(session: Session, problem_id: int) -> Sequence[Person]:
    """Every person a problem record is about, subject and candidates, wherever they are now."""
    query = (
        select(Person)
        .join(ProblemPerson, col(ProblemPerson.person_id) == col(Person.id))
        .where(ProblemPerson.problem_id == problem_id)
        .order_by(col(Person.id))
    )
    return session.exec(query).all()


def open_problems_about(
    session: Session, person_id: int, kind: str | None = None, *, for_update: bool = False
) -> Sequence[ProblemRecord]:
    """Problem records (of ``kind``, or any) whose subject is the person, open or waiting for evidence."""
    query = select(ProblemRecord).where(
        ProblemRecord.subject_person_id == person_id,
        col(ProblemRecord.status).in_(["open", "needs_evidence"]),
    )
    if kind is not None:
        query = query.where(ProblemRecord.type == kind)
    return session.exec(query.with_for_update() if for_update else query).all()


def queued_jobs_of(
    session: Session, person_id: int, *, for_update: bool = False
) -> Sequence[VerificationJob]:
    query = select(VerificationJob).where(
        VerificationJob.person_id == person_id, VerificationJob.status == "queued"
    )
    return session.exec(query.with_for_update() if for_update else query).all()


def corrections_of(session: Session, person_id: int) -> Sequence[RecordCorrection]:
    return session.exec(
        select(RecordCorrection)
        .where(RecordCorrection.person_id == person_id)
        .order_by(col(RecordCorrection.id))
    ).all()


def get_job(session: Session, job_id: int, *, for_update: bool = False) -> VerificationJob | None:
    """A verification job; ``for_update``: locked, and read afresh over what the session holds."""
    if for_update:
        return session.get(VerificationJob, job_id, populate_existing=True, with_for_update=True)
    return session.get(VerificationJob, job_id)


def due_jobs_unleased(session: Session, now: datetime, limit: int) -> Sequence[VerificationJob]:
    """Queued jobs due by ``now`` that no live lease holds, oldest due first, locked (rows another
    worker is leasing at this moment are skipped, not waited for)."""
    query = (
        select(VerificationJob)
        .where(VerificationJob.status == "queued", col(VerificationJob.next_attempt_at) <= now)
        .where((col(VerificationJob.lease_until).is_(None)) | (col(VerificationJob.lease_until) < now))
        .order_by(col(VerificationJob.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def jobs_by_ids(session: Session, ids: Sequence[int]) -> Sequence[VerificationJob]:
    """The verification jobs with these ids (those that exist), in id order."""
    if not ids:
        return []
    query = select(VerificationJob).where(col(VerificationJob.id).in_(list(ids)))
    return session.exec(query.order_by(col(VerificationJob.id))).all()


def free_jobs_among(session: Session, ids: Sequence[int], now: datetime) -> Sequence[VerificationJob]:
    """Of these jobs, the queued ones no live lease holds, due or not, locked (rows another worker
    is leasing at this moment are skipped, not waited for)."""
    if not ids:
        return []
    query = (
        select(VerificationJob)
        .where(col(VerificationJob.id).in_(list(ids)), VerificationJob.status == "queued")
        .where((col(VerificationJob.lease_until).is_(None)) | (col(VerificationJob.lease_until) < now))
        .order_by(col(VerificationJob.id))
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def merge_of_problem(session: Session, problem_id: int) -> Merge | None:
    """The merge a problem record's decision made, if it made one."""
    return session.exec(select(Merge).where(Merge.problem_id == problem_id)).first()


def add_job(session: Session, job: VerificationJob) -> None:
    """Queue (or record as done) a person's verification: one INSERT, outside the unit of work."""
    job.id = insert_returning_id(session, VerificationJob, job.model_dump(exclude={"id"}))


def queued_job_ids_of(session: Session, person_ids: list[int]) -> list[int]:
    """The queued verification jobs of these persons, oldest first."""
    query = (
        select(VerificationJob.id)
        .where(col(VerificationJob.person_id).in_(person_ids), VerificationJob.status == "queued")
        .order_by(col(VerificationJob.id))
    )
    return [int(i) for i in session.exec(query).all() if i is not None]


def add_new_jobs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue the verification of many new persons with one COPY (or INSERT): ``VerificationJob``
    columns, those left out at their defaults."""
    write_rows(session, _JOBS, new_rows_of(VerificationJob, rows))


_JOBS = VerificationJob.__table__  # type: ignore[attr-defined]


# --- idempotency: one row per answered key (the rules are gateway.registry.idempotency's) ----------

_IDEMPOTENCY = IdempotencyRecord.__table__  # type: ignore[attr-defined]


@cache
def _stored_answer() -> Any:
    return select(
        _IDEMPOTENCY.c.request_hash, _IDEMPOTENCY.c.status_code, _IDEMPOTENCY.c.response_json
    ).where(_IDEMPOTENCY.c.client_id == bindparam("client"), _IDEMPOTENCY.c.key == bindparam("key"))


def stored_answer(session: Session, client_id: str, key: str) -> Row[Any] | None:
    """The answer stored for a client's key: ``request_hash``, ``status_code``, ``response_json``."""
    return session.connection().execute(_stored_answer(), {"client": client_id, "key": key}).first()


@cache
def _insert_answer() -> Any:
    return _IDEMPOTENCY.insert()


def insert_answer(session: Session, values: dict[str, Any]) -> None:
    session.connection().execute(_insert_answer(), values)


# --- matching model versions and the decisions made with them ------------------------------------


@cache
def _active_version_id() -> Any:
    return select(MatchModelVersion.id).where(MatchModelVersion.status == "active")


def active_model_version_id(session: Session) -> int | None:
    """The number of the active model version (None: the shipped parameters decide)."""
    found = session.exec(_active_version_id()).first()
    return None if found is None else int(found)


def get_model_version(
    session: Session, version_id: int, *, for_update: bool = False
) -> MatchModelVersion | None:
    return session.get(MatchModelVersion, version_id, populate_existing=True, with_for_update=for_update)


def model_versions(session: Session) -> Sequence[MatchModelVersion]:
    """Every stored version, newest first."""
    return session.exec(select(MatchModelVersion).order_by(col(MatchModelVersion.id).desc())).all()


def active_versions_for_update(session: Session) -> Sequence[MatchModelVersion]:
    query = select(MatchModelVersion).where(MatchModelVersion.status == "active").with_for_update()
    return session.exec(query).all()


def add_model_version(session: Session, version: MatchModelVersion) -> None:
    session.add(version)
    session.flush()


def add_match_decision(session: Session, decision: MatchDecision) -> None:
    session.add(decision)
    session.flush()


def decisions_to_recheck(
    session: Session, version_id: int, after_id: int, limit: int
) -> Sequence[MatchDecision]:
    """Auto-links made by another version and not questioned yet, in id order after ``after_id``."""
    query = (
        select(MatchDecision)
        .where(
            col(MatchDecision.id) > after_id,
            col(MatchDecision.reviewed_problem_id).is_(None),
            or_(col(MatchDecision.model_version).is_(None), col(MatchDecision.model_version) != version_id),
        )
        .order_by(col(MatchDecision.id))
        .limit(limit)
    )
    return session.exec(query).all()


def decided_match_problems(session: Session, jurisdiction: Jurisdiction) -> Sequence[ProblemRecord]:
    """Problem records a reviewer decided same or different persons, with the scores that opened
    them, inside the jurisdiction."""
    query = _in_jurisdiction(select(ProblemRecord), jurisdiction).where(
        col(ProblemRecord.decision).in_(["same_person", "different_persons"]),
        col(ProblemRecord.explanation_json).is_not(None),
    )
    rows: Sequence[ProblemRecord] = session.exec(query.order_by(col(ProblemRecord.id))).all()
    return rows


def newest_active_persons(session: Session, limit: int) -> Sequence[Person]:
    """The most recently registered active persons, newest first."""
    query = select(Person).where(Person.status == "active").order_by(col(Person.id).desc()).limit(limit)
    return session.exec(query).all()


def active_persons_after(session: Session, after_id: int, limit: int) -> Sequence[Person]:
    """Active persons in id order after ``after_id`` (a registry-wide read, page by page)."""
    query = (
        select(Person)
        .where(Person.status == "active", col(Person.id) > after_id)
        .order_by(col(Person.id))
        .limit(limit)
    )
    return session.exec(query).all()


def decisions_after(session: Session, after_id: int, limit: int) -> Sequence[MatchDecision]:
    """Stored auto-links in id order after ``after_id``."""
    query = select(MatchDecision).where(col(MatchDecision.id) > after_id).order_by(col(MatchDecision.id))
    return session.exec(query.limit(limit)).all()


def open_problem_naming_all(session: Session, person_ids: list[int]) -> bool:
    """Whether an open problem record (or one waiting for evidence) already names every one of them."""
    query = (
        select(ProblemPerson.problem_id)
        .join(ProblemRecord, col(ProblemRecord.id) == col(ProblemPerson.problem_id))
        .where(
            col(ProblemPerson.person_id).in_(person_ids),
            col(ProblemRecord.status).in_(["open", "needs_evidence"]),
        )
        .group_by(col(ProblemPerson.problem_id))
        .having(func.count(func.distinct(ProblemPerson.person_id)) == len(set(person_ids)))
    )
    return session.exec(query).first() is not None


def stored_answers(session: Session, client_id: str, keys: list[str]) -> list[Row[Any]]:
    """The answers stored for many of a client's keys: ``key``, ``status_code``, ``response_json``."""
    if not keys:
        return []
    query = select(_IDEMPOTENCY.c.key, _IDEMPOTENCY.c.status_code, _IDEMPOTENCY.c.response_json).where(
        _IDEMPOTENCY.c.client_id == client_id, _IDEMPOTENCY.c.key.in_(bindparam("keys", expanding=True))
    )
    rows: list[Row[Any]] = list(session.connection().execute(query, {"keys": keys}))
    return rows


def pairs_with_problems(session: Session, person_ids: list[int]) -> set[tuple[int, int]]:
    """Pairs (lower id first) among ``person_ids`` that some problem record, open or decided, names
    together: a reviewer has the pair already, or has had it."""
    if not person_ids:
        return set()
    first, second = ProblemPerson.__table__.alias("first"), ProblemPerson.__table__.alias("second")  # type: ignore[attr-defined]
    query = (
        select(first.c.person_id, second.c.person_id)
        .where(first.c.problem_id == second.c.problem_id)
        .where(first.c.person_id < second.c.person_id)
        .where(first.c.person_id.in_(person_ids))
        .where(second.c.person_id.in_(person_ids))
    )
    return {(int(a), int(b)) for a, b in session.exec(query).all()}
