"""The rules of student reads, status changes and partner verification, inside the caller's unit of
work (never committed here).

Jurisdiction: a student is visible to a caller whose jurisdiction covers the school holding them
(``person.region``, ``person.school_code``); anyone else is told the code does not exist, exactly as
for a code never issued. The one exception is ``transferred_in``: ``transferred_out`` names the school
the student leaves for, and that school, and no other, may record ``transferred_in`` for the student
waiting in ``transferred_out`` (the holder may record it too, at that school only). Every read and
every change is audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from gateway.feed import service as feed
from gateway.identity import InvalidField, canonical_number, is_known_region, normalise_name, parse_date
from gateway.identity.codes import parse_gender
from gateway.idgen.service import Resolution, resolve_code
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.schools.service import check_school
from gateway.students import repository
from gateway.students.models import StatusEvent
from gateway.students.schemas import StatusEventRequest, VerificationRequest
from gateway.students.schoolyear import ensure_transfers_open
from gateway.students.statemachine import (
    DESTINATION_REQUIRED,
    SCHOOL_ALLOWED,
    SCHOOL_REQUIRED,
    IllegalTransition,
    SchoolStatus,
    StatusEventType,
    transition,
)
from gateway.students.verification import Claim, FactCheck, StoredFacts, verify

NOT_FOUND = "no such student"
# Events are recorded on the day they happen or after; a day of slack covers the time-zone gap
# between UTC and a school's local date (UTC+8).
_FUTURE_SLACK = timedelta(days=1)


class WrongDestination(Conflict):
    """409: ``transferred_in`` at a school other than the one named when the student left."""

    title = "Not the school the student left for"
    type_slug = "wrong-destination"

    def __init__(self, named: str) -> None:
        super().__init__(
            f"the student left for school {named}; transferred_in is accepted only at that school"
        )
        self.named = named

    def extra(self) -> dict[str, Any]:
        return {"to_school_code": self.named}


class IllegalStatusChange(Conflict):
    """409: the student's current status does not allow this event."""

    title = "Status change not allowed"
    type_slug = "illegal-status-change"

    def __init__(self, cause: IllegalTransition) -> None:
        super().__init__(str(cause))
        self.cause = cause

    def extra(self) -> dict[str, Any]:
        return {
            "current_status": self.cause.current,
            "event": self.cause.event.value,
            "allowed_from": list(self.cause.allowed_from),
        }


def _resolve(session: Session, code: str) -> Resolution | None:
    try:
        return resolve_code(session, code)
    except NotFound:
        return None


def _visible(caller: Caller, person: Person) -> bool:
    return caller.jurisdiction.covers(person.region, person.school_code)


def find_student(session: Session, caller: Caller, code: str) -> Resolution:
    """The student holding ``code`` (an old or merged-away code resolves to the current holder)."""
    found = _resolve(session, code)
    if found is None or not _visible(caller, found.person):
        raise NotFound(NOT_FOUND)
    return found


def read_student(session: Session, caller: Caller, code: str) -> Resolution:
    found = find_student(session, caller, code)
    audit.record(
        session, action="student.read", caller=caller, object_type="person", object_ref=found.current_code
    )
    return found


@dataclass(frozen=True)
class StudentEvents:
    current_code: str
    events: Sequence[StatusEvent]
    asked: str  # the code the caller asked with, as stored


def list_events(session: Session, caller: Caller, code: str) -> StudentEvents:
    """Every status event of the student, including those recorded on persons merged into them."""
    found = find_student(session, caller, code)
    assert found.person.id is not None
    events = repository.events_for_persons(session, people.merged_person_ids(session, found.person.id))
    audit.record(
        session,
        action="student.events.read",
        caller=caller,
        object_type="person",
        object_ref=found.current_code,
        record_count=len(events),
    )
    return StudentEvents(found.current_code, events, found.asked)


def _check_school_fields(change: StatusEventRequest) -> tuple[str, str] | None:
    """The (region, school) the event moves the student to, or None; 422 naming the fields."""
    errors: list[FieldError] = []
    given = change.school_code is not None or change.school_region is not None
    fields = (("school_code", change.school_code), ("school_region", change.school_region))
    if change.event in SCHOOL_REQUIRED or (given and change.event in SCHOOL_ALLOWED):
        errors = [
            FieldError(
                field, "missing", f"{change.event.value} to a school needs school_code and school_region"
            )
            for field, value in fields
            if value is None
        ]
    elif given:
        errors = [
            FieldError(field, "not_allowed", f"{change.event.value} does not move a student to a school")
            for field, value in fields
            if value is not None
        ]
    if change.school_region is not None and not is_known_region(change.school_region):
        errors.append(FieldError("school_region", "unknown_region", "not a known GB/T 2260 region code"))
    if change.event in DESTINATION_REQUIRED and change.to_school_code is None:
        errors.append(
            FieldError(
                "to_school_code",
                "missing",
                f"{change.event.value} names the school the student leaves for (only it may take them in)",
            )
        )
    elif change.event not in DESTINATION_REQUIRED and change.to_school_code is not None:
        errors.append(
            FieldError("to_school_code", "not_allowed", f"{change.event.value} does not name a destination")
        )
    if change.grade is not None and change.event not in SCHOOL_ALLOWED:
        errors.append(
            FieldError("grade", "not_allowed", f"{change.event.value} does not set a grade (the close does)")
        )
    if errors:
        raise InvalidInput(errors=errors)
    if change.school_code is None or change.school_region is None:
        return None
    return change.school_region, change.school_code


def _check_dates(session: Session, person: Person, effective: date) -> None:
    if effective > utcnow().date() + _FUTURE_SLACK:
        raise InvalidInput(
            errors=[FieldError("effective_date", "future_date", "effective_date is in the future")]
        )
    if effective < person.birth_date:
        raise InvalidInput(
            errors=[FieldError("effective_date", "before_birth", "effective_date is before the birth date")]
        )
    assert person.id is not None
    latest = repository.latest_effective_date(session, person.id)
    if latest is not None and effective < latest:
        # Events apply in the order they are recorded; a back-dated one would rewrite history.
        raise Conflict(f"effective_date is before the student's latest recorded event ({latest.isoformat()})")


def _named_destination(session: Session, person: Person) -> str | None:
    """The school a student waiting in ``transferred_out`` left for (None: not waiting, or left
    before destinations were recorded)."""
    if person.school_status != SchoolStatus.TRANSFERRED_OUT:
        return None
    assert person.id is not None
    departure = repository.latest_departure(session, person.id)
    return departure.to_school_code if departure is not None else None


def _authorise_event(
    session: Session,
    caller: Caller,
    person: Person,
    change: StatusEventRequest,
    moving_to: tuple[str, str] | None,
) -> None:
    sees_holder = _visible(caller, person)
    if change.event is StatusEventType.TRANSFERRED_IN:
        named = _named_destination(session, person)
        # The school named at departure is authorised by being named; nobody else outside the
        # holder's jurisdiction learns that the student exists.
        if not sees_holder and not (caller.jurisdiction.is_school and caller.jurisdiction.value == named):
            raise NotFound(NOT_FOUND)
        if named is not None and moving_to is not None and moving_to[1] != named:
            raise WrongDestination(named)
    elif not sees_holder:
        raise NotFound(NOT_FOUND)
    if moving_to is not None and not caller.jurisdiction.covers(*moving_to):
        raise Forbidden("the receiving school lies outside your jurisdiction")
    if change.to_school_code is not None and change.to_school_code == person.school_code:
        raise InvalidInput(
            errors=[FieldError("to_school_code", "same_school", "the student already attends this school")]
        )


# How an event moves the grade: promotion one up, skipping a grade two; enrolment and arrival take
# the grade given (or keep the student's); anything else leaves it.
_GRADE_STEP = {StatusEventType.PROMOTED: 1, StatusEventType.SKIPPED: 2}
TRANSFER_EVENTS = frozenset({StatusEventType.TRANSFERRED_OUT, StatusEventType.TRANSFERRED_IN})


def _grade_after(person: Person, change: StatusEventRequest) -> int | None:
    if change.grade is not None:
        return change.grade
    step = _GRADE_STEP.get(change.event)
    if step is None or person.grade is None:
        return person.grade
    return min(person.grade + step, 12)


def _check_school_register(
    session: Session,
    person: Person,
    change: StatusEventRequest,
    moving_to: tuple[str, str] | None,
    grade: int | None,
) -> None:
    """The school the student attends after the event, against the register (422 naming the field):
    a school moved to in full; the student's own school only for the grade, when it changes."""
    if moving_to is not None:
        refused = check_school(session, moving_to[1], moving_to[0], grade)
    elif person.school_code is not None and grade is not None and grade != person.grade:
        refused = check_school(session, person.school_code, None, grade)
    else:
        return
    if refused:
        raise InvalidInput(errors=refused)


def record_event(
    session: Session,
    caller: Caller,
    code: str,
    change: StatusEventRequest,
    *,
    transfer_workflow: bool = False,
) -> StatusEvent:
    """Apply one status change to the student holding ``code`` and record it.

    ``transfer_workflow`` is for the cross-province transfer process, the only writer allowed to
    move a student whose identity is locked by an open transfer.
    """
    moving_to = _check_school_fields(change)
    found = _resolve(session, code)
    if found is None:
        raise NotFound(NOT_FOUND)
    assert found.person.id is not None
    # Serialise changes of one student: the status read below must still hold at commit.
    advisory_xact_lock(session, "person", str(found.person.id))
    person = people.get_person(session, found.person.id, for_update=True)
    assert person is not None and person.id is not None
    if person.status != "active":
        raise Conflict("the student was merged while this change was submitted; submit it again")
    _authorise_event(session, caller, person, change, moving_to)
    if change.event in TRANSFER_EVENTS:
        # No move between schools while a school year is being closed on either side.
        ensure_transfers_open(session, [person.region, moving_to[0] if moving_to else None])
    grade = _grade_after(person, change)
    _check_school_register(session, person, change, moving_to, grade)
    if (
        not transfer_workflow
        and (moving_to is not None or change.event is StatusEventType.TRANSFERRED_OUT)
        and repository.open_transfer_holding(session, [person.id], utcnow()) is not None
    ):
        raise Conflict("an open cross-province transfer holds this student; it moves them when it completes")
    try:
        step = transition(person.school_status, change.event)
    except IllegalTransition as exc:
        raise IllegalStatusChange(exc) from None
    _check_dates(session, person, change.effective_date)
    now = utcnow()
    person.school_status = step.to_status.value
    person.grade = grade
    if moving_to is not None:
        person.region, person.school_code = moving_to
    person.updated_at = now
    session.add(person)
    recorder = caller.client_id if caller.acting_user is None else f"{caller.client_id}/{caller.acting_user}"
    event = repository.add_event(
        session,
        StatusEvent(
            person_id=person.id,
            event=change.event.value,
            from_status=step.from_status.value,
            to_status=step.to_status.value,
            effective_date=change.effective_date,
            school_code=person.school_code,
            region=person.region,
            to_school_code=change.to_school_code,
            recorded_by=recorder[:100],
            recorded_at=now,
            note=change.note,
            grade=grade,
        ),
    )
    audit.record(
        session, action="student.event", caller=caller, object_type="person", object_ref=person.current_code
    )
    feed.append(session, type="status.changed", person=person, detail=change.event.value)
    return event


def _claim(request: VerificationRequest) -> Claim:
    errors: list[FieldError] = []
    name = birth_date = gender = None
    try:
        name = normalise_name(request.name)
    except InvalidField as exc:
        errors.append(FieldError(exc.field, exc.code, exc.message))
    try:
        birth_date = parse_date(request.birth_date)
    except InvalidField as exc:
        errors.append(FieldError(exc.field, exc.code, exc.message))
    if request.gender is not None and request.gender.strip():
        try:
            gender = parse_gender(request.gender).value
        except InvalidField as exc:
            errors.append(FieldError(exc.field, exc.code, exc.message))
    id_number = canonical_number(request.id_number) if request.id_number else ""
    if errors or name is None or birth_date is None:
        raise InvalidInput(errors=errors)
    return Claim(name=name, birth_date=birth_date, gender=gender, id_number=id_number or None)


def verify_partner_claim(
    session: Session, caller: Caller, keyring: KeyRing, request: VerificationRequest
) -> FactCheck:
    """Does ``request.code`` belong to the person described? An outcome with per-field flags.

    A code outside the caller's jurisdiction is ``code_not_found``, like a code never issued.
    """
    claim = _claim(request)
    found = _resolve(session, request.code)
    stored: StoredFacts | None = None
    if found is not None and _visible(caller, found.person):
        record = person_to_record(found.person, keyring)
        stored = StoredFacts(
            name=record.name,
            birth_date=record.birth_date,
            gender=record.gender,
            id_number=record.id_number,
            code_is_current=found.asked == found.current_code,
        )
    result = verify(claim, stored)
    audit.record(
        session,
        action="verification.partner",
        caller=caller,
        object_type="person",
        object_ref=found.current_code if stored is not None and found is not None else request.code[:64],
        purpose=request.purpose,
        outcome=result.outcome.value,
    )
    return result
