"""The school year (学年): its close for a region, and the transfer freeze around the cut-over.

``close_year`` runs graduation and promotion for every student in attendance with a grade in a
region: a student in the final grade of a level (6, 9, 12; a nine-year school's sixth grade carries
on) graduates, effective 31 July; a student whose school recorded ``repeated`` during the year is
kept in their grade (the close records a ``repeated`` event of its own); everyone else is promoted a
grade, effective 31 August. Students already in the next year (an event after 31 August) are left
alone. It works in chunks of students, each one transaction that writes the events in one statement,
updates the persons in one statement, notes the feed and one audit row per kind, and adds to the
close's counts. Every event it writes carries the school year, and a student with such an event is
not picked again: a second run changes nothing, and a run that died half-way resumes where the
committed chunks end.

From the moment a close is opened (``freeze``, or the first run) until it is done, transfers into or
out of its region are refused (``TransfersFrozen``): a student must not move between schools while
the grades are being rewritten under them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.clock import utcnow
from gateway.db import advisory_xact_lock, session_scope
from gateway.errors import Conflict, FieldError, InvalidInput
from gateway.feed import service as feed
from gateway.identity import is_known_region
from gateway.schools.levels import graduates_at
from gateway.students import repository
from gateway.students.models import SchoolYearClose
from gateway.students.repository import CloseCandidate

GRADUATION_DAY = (7, 31)
CUT_OVER_DAY = (8, 31)
CHUNK = 2000


class TransfersFrozen(Conflict):
    """409: a transfer during the cut-over of a school year."""

    title = "Transfers frozen for the school-year cut-over"
    type_slug = "transfers-frozen"

    def __init__(self, close: SchoolYearClose, *, named: bool) -> None:
        self.region, self.school_year, self.named = close.region, close.school_year, named
        where = f"region {self.region}" if named else "the student's side of this transfer"
        super().__init__(
            f"transfers are frozen in {where} while the school year {self.school_year - 1}-"
            f"{self.school_year} is closed (graduation and promotion); apply again once the close is done"
        )

    def extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"school_year": self.school_year}
        if self.named:
            extra["frozen_region"] = self.region
        return extra


def freezing_close(session: Session, region: str | None) -> SchoolYearClose | None:
    """The unfinished close whose region covers ``region``, if any."""
    if region is None:
        return None
    for close in repository.freezing_closes(session):
        if region.startswith(close.region):
            return close
    return None


def ensure_transfers_open(session: Session, regions: Iterable[str | None], *, named: bool = True) -> None:
    """Refuse (409 ``transfers-frozen``) a move into or out of a region whose school year is closing;
    ``named``: the answer may name the region (the caller's own side)."""
    for region in regions:
        close = freezing_close(session, region)
        if close is not None:
            raise TransfersFrozen(close, named=named)


@dataclass(frozen=True)
class CloseReport:
    region: str
    school_year: int
    state: str
    graduated: int
    promoted: int
    repeaters: int
    changed_now: int  # students this run dealt with (0 on a second run)
    without_grade: int = 0  # students in attendance the close could not deal with: no grade recorded


def _lock_year(session: Session, school_year: int) -> None:
    # One close of a year at a time, whatever its region: closes of a city and of its province may
    # not pick the same student in two transactions. Each chunk is short; a second run waits.
    advisory_xact_lock(session, "school-year", str(school_year))


def _check_request(region: str, school_year: int, today: date) -> None:
    errors: list[FieldError] = []
    if not (region.isdigit() and len(region) in (2, 4, 6) and is_known_region(region.ljust(6, "0"))):
        errors.append(
            FieldError("region", "unknown_region", "region must be a known 2, 4 or 6-digit GB/T 2260 prefix")
        )
    if not 2000 <= school_year <= 2100:
        errors.append(FieldError("year", "invalid", "year is the calendar year the school year ends in"))
    elif today < date(school_year, 7, 1):
        errors.append(
            FieldError(
                "year",
                "not_ended",
                f"the school year {school_year - 1}-{school_year} ends in July {school_year}; "
                f"it cannot be closed before {school_year}-07-01",
            )
        )
    if errors:
        raise InvalidInput(errors=errors)


def _open(session: Session, region: str, school_year: int, actor: str, state: str) -> SchoolYearClose:
    close = repository.get_close(session, region, school_year)
    if close is None:
        close = repository.add_close(
            session,
            SchoolYearClose(
                region=region,
                school_year=school_year,
                state=state,
                frozen_at=utcnow(),
                recorded_by=actor[:100],
            ),
        )
        audit.record(
            session,
            action="schoolyear.freeze",
            actor=actor,
            object_type="region",
            object_ref=f"{region}/{school_year}",
        )
    return close


def freeze(
    engine: Engine, *, region: str, school_year: int, actor: str, today: date | None = None
) -> CloseReport:
    """Open the close of a school year without running it: transfers in the region are frozen from now."""
    _check_request(region, school_year, today or utcnow().date())
    with session_scope(engine) as session:
        _lock_year(session, school_year)
        return _report(_open(session, region, school_year, actor, "frozen"), 0)


def _events(
    candidates: list[CloseCandidate],
    event: str,
    to_status: str,
    effective: date,
    actor: str,
    school_year: int,
    grade_step: int,
) -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "person_id": c.person_id,
            "event": event,
            "from_status": "in_attendance",
            "to_status": to_status,
            "effective_date": effective,
            "school_code": c.school_code,
            "region": c.region,
            "recorded_by": actor[:100],
            "recorded_at": now,
            "grade": c.grade + grade_step,
            "school_year": school_year,
            "note": None,
            "to_school_code": None,
        }
        for c in candidates
    ]


def _subjects(candidates: list[CloseCandidate]) -> list[feed.Subject]:
    return [feed.Subject(c.person_id, c.code, c.region, c.school_code) for c in candidates]


def _close_chunk(
    session: Session, close: SchoolYearClose, candidates: list[CloseCandidate], actor: str
) -> None:
    """Graduate, keep and promote one chunk of students, in the caller's transaction."""
    year = close.school_year
    graduating = [c for c in candidates if not c.repeating and graduates_at(c.grade, c.school_type)]
    repeating = [c for c in candidates if c.repeating]
    promoted = [c for c in candidates if not c.repeating and not graduates_at(c.grade, c.school_type)]
    graduation = date(year, *GRADUATION_DAY)
    cut_over = date(year, *CUT_OVER_DAY)
    repository.insert_events(
        session,
        _events(graduating, "graduated", "graduated", graduation, actor, year, 0)
        + _events(repeating, "repeated", "in_attendance", cut_over, actor, year, 0)
        + _events(promoted, "promoted", "in_attendance", cut_over, actor, year, 1),
    )
    now = utcnow()
    repository.set_status(session, [c.person_id for c in graduating], "graduated", now)
    repository.advance_grade(session, [c.person_id for c in promoted], now)
    for kind, group in (("graduated", graduating), ("repeated", repeating), ("promoted", promoted)):
        if not group:
            continue
        feed.append_many(session, type="status.changed", subjects=_subjects(group), detail=kind)
        audit.record(
            session,
            action=f"schoolyear.{kind}",
            actor=actor,
            object_type="region",
            object_ref=f"{close.region}/{year}",
            record_count=len(group),
        )
    close.graduated += len(graduating)
    close.repeaters += len(repeating)
    close.promoted += len(promoted)
    session.add(close)


def close_year(
    engine: Engine,
    *,
    region: str,
    school_year: int,
    actor: str,
    chunk: int = CHUNK,
    today: date | None = None,
    progress: Callable[[CloseReport], None] | None = None,
) -> CloseReport:
    """Close ``school_year`` for ``region``: graduation, repeaters, promotion; idempotent and resumable.
    ``progress`` is told after each committed chunk (the command prints it)."""
    _check_request(region, school_year, today or utcnow().date())
    year_start = date(school_year - 1, 9, 1)
    cut_over = date(school_year, *CUT_OVER_DAY)
    with session_scope(engine) as session:
        _lock_year(session, school_year)
        close = _open(session, region, school_year, actor, "running")
        if close.state == "done":
            return _report(close, 0)
        close.state = "running"
        session.add(close)
    after, changed = 0, 0
    while True:
        with session_scope(engine) as session:
            _lock_year(session, school_year)
            current = repository.get_close(session, region, school_year)
            assert current is not None
            close = current
            candidates = repository.close_candidates(
                session,
                region=region,
                school_year=school_year,
                year_start=year_start,
                cut_over=cut_over,
                after_id=after,
                limit=chunk,
            )
            if not candidates:
                close.state = "done"
                close.finished_at = utcnow()
                session.add(close)
                audit.record(
                    session,
                    action="schoolyear.close",
                    actor=actor,
                    object_type="region",
                    object_ref=f"{region}/{school_year}",
                    record_count=close.graduated + close.promoted + close.repeaters,
                )
                return _report(close, changed, repository.count_without_grade(session, region))
            _close_chunk(session, close, candidates, actor)
            after, changed = candidates[-1].person_id, changed + len(candidates)
            report = _report(close, changed)
        if progress is not None:
            progress(report)


def _report(close: SchoolYearClose, changed: int, without_grade: int = 0) -> CloseReport:
    return CloseReport(
        close.region,
        close.school_year,
        close.state,
        close.graduated,
        close.promoted,
        close.repeaters,
        changed,
        without_grade,
    )
