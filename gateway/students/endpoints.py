"""HTTP edge of the students domain: GET /v1/students/{code}, GET and POST
/v1/students/{code}/events, and POST /v1/verifications for partner agencies (rate-limited per
client, per process)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.errors import RateLimited
from gateway.privacy import disclosed_code, mask_id_numbers
from gateway.schemas import PlainText
from gateway.students import service
from gateway.students.models import StatusEvent
from gateway.students.ratelimit import retry_after_seconds
from gateway.students.schemas import (
    StatusEventOut,
    StatusEventRequest,
    StudentEventsOut,
    StudentOut,
    VerificationFlags,
    VerificationRequest,
    VerificationResponse,
)

router = APIRouter(tags=["students"])

StudentsReader = Annotated[Caller, Depends(require_scope(Scope.STUDENTS_READ))]
StudentsWriter = Annotated[Caller, Depends(require_scope(Scope.STUDENTS_WRITE))]
VerifyingCaller = Annotated[Caller, Depends(require_scope(Scope.VERIFICATIONS_WRITE))]
CodePath = Annotated[PlainText, Path(max_length=64)]


def _shown(code: str, asked: str) -> str:
    # A G code is an ID number, which student reads show masked: full only when it is the code the
    # caller asked with (echoing it discloses nothing).
    return disclosed_code(code, supplied=frozenset({asked})) or code


def _event_out(event: StatusEvent) -> StatusEventOut:
    return StatusEventOut(
        event=event.event,
        from_status=event.from_status,
        to_status=event.to_status,
        effective_date=event.effective_date,
        school_code=event.school_code,
        region=event.region,
        to_school_code=event.to_school_code,
        recorded_by=event.recorded_by,
        recorded_at=event.recorded_at,
        # Free text: whatever a school typed, no ID number (nor a G code) is read back in full.
        note=None if event.note is None else mask_id_numbers(event.note),
        grade=event.grade,
        school_year=event.school_year,
    )


@router.get("/v1/students/{code}", response_model=StudentOut)
def read_student(code: CodePath, caller: StudentsReader, session: SessionDep) -> StudentOut:
    """The student holding ``code``; the ID number masked, and so a ``G`` code unless it is the code
    asked with. Outside the jurisdiction: 404."""
    found = service.read_student(session, caller, code)
    person = found.person
    return StudentOut(
        code=_shown(found.current_code, found.asked),
        code_type=found.current_code[0],
        requested_code=found.asked,
        requested_code_status=found.asked_status,
        name=person.name,
        gender=person.gender,
        birth_date=person.birth_date,
        school_code=person.school_code,
        region=person.region,
        school_status=person.school_status,
        grade=person.grade,
        verification_status=person.verification_status,
        id_type=person.id_type,
        id_number_masked=person.id_number_masked,
    )


@router.get("/v1/students/{code}/events", response_model=StudentEventsOut)
def list_events(code: CodePath, caller: StudentsReader, session: SessionDep) -> StudentEventsOut:
    """The student's status events in the order they were recorded."""
    history = service.list_events(session, caller, code)
    return StudentEventsOut(
        code=_shown(history.current_code, history.asked), events=[_event_out(e) for e in history.events]
    )


@router.post("/v1/students/{code}/events", response_model=StatusEventOut, status_code=201)
def record_event(
    code: CodePath, body: StatusEventRequest, caller: StudentsWriter, session: SessionDep
) -> StatusEventOut:
    """Record a status change (学籍异动); 409 when the student's status does not allow it.
    ``transferred_out`` names the school the student leaves for; only that school may then record
    ``transferred_in`` (anyone else outside the holder's jurisdiction is answered 404)."""
    return _event_out(service.record_event(session, caller, code, body))


@router.post("/v1/verifications", response_model=VerificationResponse)
def verify_student(
    body: VerificationRequest, caller: VerifyingCaller, session: SessionDep, ctx: ContextDep
) -> VerificationResponse:
    """Whether a code and the demographics given belong together: an outcome and per-field flags."""
    wait = ctx.services.verification_limiter.try_acquire(caller.client_id)
    if wait > 0:
        retry_after = retry_after_seconds(wait)
        raise RateLimited(f"too many verifications; retry in {retry_after} s", retry_after=retry_after)
    result = service.verify_partner_claim(session, caller, ctx.keyring, body)
    flags = result.flags
    return VerificationResponse(
        # The code as the partner sent it, and nothing else: the current code of a person asked
        # about by an old one (a G code, an ID number) is not theirs to learn.
        code=body.code,
        outcome=result.outcome,
        flags=None
        if flags is None
        else VerificationFlags(
            name=flags.name, birth_date=flags.birth_date, gender=flags.gender, id_number=flags.id_number
        ),
    )
