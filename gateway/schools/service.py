"""The rules of the school register: the one check of a school named by a registration, a claim, a
status change or a transfer (``check_school``, or ``SchoolRegister`` for a set of rows at once),
importing the register file, and reading it within a caller's jurisdiction.

A school is acceptable when the register knows it, it lies in the region given, it is active, and it
teaches the grade given (when one is). An empty register (a fresh deployment that has not imported
its file yet) checks nothing: every school passes, as before the register existed; from the first
import on, the register is authoritative everywhere (ADR 016 argues this).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.scopes import Stage
from gateway.clock import utcnow
from gateway.errors import FieldError, NotFound
from gateway.schools import repository
from gateway.schools.levels import Level, grades_offered, parse_levels
from gateway.schools.models import School
from gateway.schools.parsing import RowError, parse_register

NOT_FOUND = "no such school"
K = TypeVar("K")


@dataclass(frozen=True)
class SchoolFields:
    """The names the checked fields carry in the request that named the school."""

    code: str = "school_code"
    region: str = "school_region"
    grade: str = "grade"


DEFAULT_FIELDS = SchoolFields()


@dataclass(frozen=True)
class SchoolFacts:
    """A school as the register holds it, as plain values."""

    code: str
    name: str
    region: str
    type: str
    levels: frozenset[Level]
    enrolment: int | None
    active: bool
    run_by: str = "county"

    @classmethod
    def of(cls, school: School) -> SchoolFacts:
        return cls(
            school.code,
            school.name,
            school.region,
            school.type,
            parse_levels(school.levels),
            school.enrolment,
            school.active,
            school.run_by,
        )


def _grades_text(grades: frozenset[int]) -> str:
    ordered = sorted(grades)
    runs: list[str] = []
    start = prev = ordered[0]
    for grade in [*ordered[1:], None]:
        if grade is not None and grade == prev + 1:
            prev = grade
            continue
        runs.append(f"{start}-{prev}" if start != prev else str(start))
        if grade is not None:
            start = prev = grade
    return ", ".join(runs)


def school_errors(
    school: SchoolFacts | None,
    *,
    school_code: str,
    school_region: str | None,
    grade: int | None,
    fields: SchoolFields = DEFAULT_FIELDS,
) -> list[FieldError]:
    """Why the register refuses this school for this region and grade (empty: it does not). Pure."""
    if school is None:
        return [
            FieldError(
                fields.code,
                "unknown_school",
                f"school {school_code} is not in the school register; ask the county to add it",
            )
        ]
    errors: list[FieldError] = []
    if school_region is not None and school.region != school_region:
        errors.append(
            FieldError(
                fields.region,
                "school_region_mismatch",
                f"school {school_code} ({school.name}) lies in region {school.region}, not {school_region}",
            )
        )
    if not school.active:
        errors.append(
            FieldError(fields.code, "inactive_school", f"school {school_code} ({school.name}) is not active")
        )
    offered = grades_offered(school.levels)
    if grade is not None and grade not in offered:
        errors.append(
            FieldError(
                fields.grade,
                "grade_not_offered",
                f"school {school_code} ({school.name}, {school.type}) does not teach grade {grade}; "
                f"it teaches grades {_grades_text(offered)}",
            )
        )
    return errors


class SchoolRegister:
    """The register's rows for a set of schools, read in one query; checks any number of rows
    against them (a bulk path loads the codes of a whole batch once, then checks row by row)."""

    def __init__(self, schools: dict[str, SchoolFacts], *, empty: bool) -> None:
        self.schools = schools
        self.empty = empty

    @classmethod
    def load(cls, session: Session, codes: Iterable[str]) -> SchoolRegister:
        found = repository.schools_by_code(session, codes)
        empty = not found and repository.register_is_empty(session)
        return cls({code: SchoolFacts.of(s) for code, s in found.items()}, empty=empty)

    def errors(
        self,
        school_code: str,
        school_region: str | None,
        grade: int | None = None,
        fields: SchoolFields = DEFAULT_FIELDS,
    ) -> list[FieldError]:
        if self.empty:
            return []
        return school_errors(
            self.schools.get(school_code),
            school_code=school_code,
            school_region=school_region,
            grade=grade,
            fields=fields,
        )

    def get(self, school_code: str | None) -> SchoolFacts | None:
        return None if school_code is None else self.schools.get(school_code)


def check_school(
    session: Session,
    school_code: str,
    school_region: str | None,
    grade: int | None = None,
    fields: SchoolFields = DEFAULT_FIELDS,
) -> list[FieldError]:
    """The one check of a school named by a registration, claim, status change or transfer: the
    field errors (unknown school, another region, inactive, grade not taught); empty when it passes."""
    return SchoolRegister.load(session, [school_code]).errors(school_code, school_region, grade, fields)


def check_schools(
    session: Session, places: Sequence[tuple[K, str, str | None, int | None]]
) -> dict[K, list[FieldError]]:
    """The check of many rows at once (a bulk path): ``places`` are (key, school_code, school_region,
    grade); one query for all their schools; the field errors of each refused key."""
    register = SchoolRegister.load(session, [code for _, code, _, _ in places])
    refused = {key: register.errors(code, region, grade) for key, code, region, grade in places}
    return {key: errors for key, errors in refused.items() if errors}


def registers_at_schools(caller: Caller) -> bool:
    """Whether the caller's registrations are checked against the register: everyone's but a
    preschool registry's, whose children are registered at kindergartens (not in the register)."""
    return caller.stage != Stage.PRESCHOOL


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


def import_register(session: Session, text: str, *, actor: str) -> ImportResult:
    """Load a register file into the caller's transaction: all of it or, when any row is refused,
    nothing (every refusal reported with its line and field). Schools already registered are
    updated; schools the file does not name are left as they are (close one with ``active=false``)."""
    parsed = parse_register(text)
    if parsed.errors:
        return ImportResult(0, 0, 0, parsed.errors)
    existing = repository.schools_by_code(session, [s.code for s in parsed.schools])
    now = utcnow()
    created = updated = unchanged = 0
    changed: list[School] = []
    for row in parsed.schools:
        values: dict[str, object] = {
            "name": row.name,
            "region": row.region,
            "type": row.type.value,
            "levels": row.levels_text,
            "enrolment": row.enrolment,
            "active": row.active,
            "run_by": row.run_by,
        }
        school = existing.get(row.code)
        if school is None:
            changed.append(
                School(
                    code=row.code,
                    name=row.name,
                    region=row.region,
                    type=row.type.value,
                    levels=row.levels_text,
                    enrolment=row.enrolment,
                    active=row.active,
                    run_by=row.run_by,
                    updated_at=now,
                )
            )
            created += 1
        elif any(getattr(school, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(school, key, value)
            school.updated_at = now
            changed.append(school)
            updated += 1
        else:
            unchanged += 1
    repository.save(session, changed)
    audit.record(
        session,
        action="schools.import",
        actor=actor,
        object_type="school_register",
        object_ref=f"created {created}, updated {updated}, unchanged {unchanged}",
        record_count=created + updated,
    )
    return ImportResult(created, updated, unchanged, [])


def list_schools(session: Session, caller: Caller, *, after: str, limit: int) -> Sequence[School]:
    """The schools inside the caller's jurisdiction, by code after ``after``."""
    jurisdiction = caller.jurisdiction
    return repository.schools_in(
        session,
        region_prefix=jurisdiction.region_prefix,
        school_code=jurisdiction.value if jurisdiction.is_school else None,
        after=after,
        limit=limit,
    )


def get_school(session: Session, caller: Caller, code: str) -> School:
    """One school of the caller's jurisdiction; outside it, as if it did not exist (404)."""
    school = repository.schools_by_code(session, [code]).get(code)
    if school is None or not caller.jurisdiction.covers(school.region, school.code):
        raise NotFound(NOT_FOUND)
    return school
