"""Cross-province transfers through the central platform (workflows.md): the state machine, who may
take each step, the ten-working-day deadline, and the service that applies them.

The receiving school applies → its authority approves → central validation → the sending school
approves → its authority approves (the record is released) → the receiving school pulls it. Any
open step can be rejected by whoever would approve it, and by the holder (the side the child is
held by) at every step. While a transfer is open the student is locked: other moves, identity
corrections and merges are refused until the transfer completes, is rejected or expires. An
application still open at its deadline (ten working days, ``workdays``) expires: it locks nothing
from that moment (``gateway.students.repository.open_transfer_holding``), and the expiry is
recorded, audited and the lock flag cleared when the transfer is next read or decided, or by the
worker. The transfer rows are students' (``gateway.students.models``); this module is the workflow.

Knowing a code, a name and a birth date is what an application needs, not what it discloses: an
application whose code or identity does not match is answered exactly as an unknown code, and the
applicant sees neither the child's name nor where the child is held (region, school) until the
holder has released the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role, Scope
from gateway.clock import as_utc, utcnow
from gateway.db import advisory_xact_lock, session_scope
from gateway.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from gateway.handoff import repository
from gateway.handoff.disclosure import Disclosure, audit_disclosure
from gateway.handoff.models import Admission
from gateway.handoff.presentation import build_record
from gateway.handoff.workdays import add_working_days
from gateway.identity import InvalidField, normalise_name, parse_date
from gateway.idgen.formats import normalise_code
from gateway.idgen.service import resolve_code
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.privacy import disclosed_code
from gateway.schools.service import check_school
from gateway.students import repository as students
from gateway.students import service as student_service
from gateway.students.models import Transfer, TransferStep
from gateway.students.schemas import StatusEventRequest
from gateway.students.schoolyear import ensure_transfers_open
from gateway.students.statemachine import SchoolStatus, StatusEventType
from gateway.students.verification import Claim, Outcome, StoredFacts, verify

DEADLINE_WORKING_DAYS = 10
NOT_FOUND = "no such transfer"
NO_STUDENT = "no such student"
SYSTEM = "system"


class TransferState(StrEnum):
    APPLIED = "applied"
    RECEIVING_APPROVED = "receiving_approved"
    VALIDATED = "validated"
    SENDING_SCHOOL_APPROVED = "sending_school_approved"
    RELEASED = "released"
    COMPLETED = "completed"
    REJECTED = "rejected"
    EXPIRED = "expired"


Side = Literal["receiving", "sending", "central"]
AUTHORITY_ROLES = frozenset({Role.PROVINCE, Role.CITY, Role.COUNTY})


@dataclass(frozen=True)
class Step:
    """Who acts on a transfer in a state, and where an approval leads."""

    side: Side
    roles: frozenset[Role]
    approve_to: TransferState
    description: str


STEPS: dict[TransferState, Step] = {
    TransferState.APPLIED: Step(
        "receiving", AUTHORITY_ROLES, TransferState.RECEIVING_APPROVED, "the receiving authority approves"
    ),
    TransferState.RECEIVING_APPROVED: Step(
        "central", frozenset({Role.CENTRAL}), TransferState.VALIDATED, "the central platform validates"
    ),
    TransferState.VALIDATED: Step(
        "sending",
        frozenset({Role.SCHOOL}),
        TransferState.SENDING_SCHOOL_APPROVED,
        "the sending school approves",
    ),
    TransferState.SENDING_SCHOOL_APPROVED: Step(
        "sending", AUTHORITY_ROLES, TransferState.RELEASED, "the sending authority approves and releases"
    ),
    TransferState.RELEASED: Step(
        "receiving",
        frozenset({Role.SCHOOL}),
        TransferState.COMPLETED,
        "the receiving school pulls the record",
    ),
}
OPEN_STATES = frozenset(STEPS)


@dataclass(frozen=True)
class Places:
    from_region: str
    from_school: str | None
    to_region: str
    to_school: str


def may_act(state: TransferState, role: Role, jurisdiction: Jurisdiction, places: Places) -> bool:
    """Whether a caller of ``role`` and ``jurisdiction`` takes the step of a transfer in ``state``."""
    step = STEPS.get(state)
    if step is None or role not in step.roles:
        return False
    if step.side == "central":
        return jurisdiction.is_country
    if step.side == "receiving":
        return jurisdiction.covers(places.to_region, places.to_school)
    return jurisdiction.covers(places.from_region, places.from_school)


def _places(transfer: Transfer) -> Places:
    return Places(transfer.from_region, transfer.from_school, transfer.to_region, transfer.to_school)


def _actor(caller: Caller) -> str:
    return (f"{caller.client_id}/{caller.acting_user}" if caller.acting_user else caller.client_id)[:100]


def holds(caller: Caller, transfer: Transfer) -> bool:
    """Whether the caller is on the holding side: its jurisdiction covers where the child is held."""
    return caller.jurisdiction.covers(transfer.from_region, transfer.from_school)


def _visible(caller: Caller, transfer: Transfer) -> bool:
    return holds(caller, transfer) or caller.jurisdiction.covers(transfer.to_region, transfer.to_school)


def _step(
    session: Session, transfer: Transfer, caller: Caller | None, decision: str, to: str, note: str | None
) -> None:
    """Record one decision (``caller`` None: the system's, an expiry) and move the transfer on."""
    assert transfer.id is not None
    repository.add(
        session,
        TransferStep(
            transfer_id=transfer.id,
            from_state=transfer.state,
            to_state=to,
            decision=decision,
            actor=_actor(caller) if caller else SYSTEM,
            role=caller.role.value if caller else SYSTEM,
            decided_at=utcnow(),
            note=note,
        ),
    )
    transfer.state = to
    session.add(transfer)
    audit.record(
        session,
        action=f"transfer.{decision}",
        caller=caller,
        actor=None if caller else SYSTEM,
        object_type="transfer",
        object_ref=str(transfer.id),
        outcome=to,
    )


def _claim(name: str, birth_date: str) -> Claim:
    """The applicant's claim, refused (422) on its own spelling before any record is looked at, so
    that a bad field is answered the same whether or not the code exists."""
    errors: list[FieldError] = []
    normalised_name: str | None = None
    born: date | None = None
    try:
        normalised_name = normalise_name(name)
    except InvalidField as exc:
        errors.append(FieldError(exc.field, exc.code, exc.message))
    try:
        born = parse_date(birth_date)
    except InvalidField as exc:
        errors.append(FieldError(exc.field, exc.code, exc.message))
    if errors or normalised_name is None or born is None:
        raise InvalidInput(errors=errors)
    return Claim(name=normalised_name, birth_date=born)


def _identity_agrees(person: Person, keyring: KeyRing, claim: Claim, code: str) -> bool:
    stored = person_to_record(person, keyring)
    result = verify(
        claim,
        StoredFacts(
            name=stored.name,
            birth_date=stored.birth_date,
            gender=stored.gender,
            id_number=stored.id_number,
            code_is_current=code == person.current_code,
        ),
    )
    return result.outcome in (Outcome.MATCH, Outcome.LINKED_MATCH)


@dataclass(frozen=True)
class Application:
    code: str
    name: str
    birth_date: str
    school_region: str
    note: str | None


def apply(session: Session, keyring: KeyRing, caller: Caller, application: Application) -> Transfer:
    """The receiving school applies for a student of another province; the student is locked."""
    if caller.role is not Role.SCHOOL or not caller.jurisdiction.is_school:
        raise Forbidden("a transfer is applied for by the receiving school")
    # The receiving school against the register and the freeze, before any child is looked at.
    refused = check_school(session, caller.jurisdiction.value, application.school_region)
    if refused:
        raise InvalidInput(errors=refused)
    ensure_transfers_open(session, [application.school_region])
    locked = _lock_transferable(session, _applied_student(session, keyring, application), application)
    assert locked.id is not None
    # The holder's side may be closing its year too; the applicant is not told which region that is.
    ensure_transfers_open(session, [locked.region], named=False)
    refused = check_school(session, caller.jurisdiction.value, application.school_region, locked.grade)
    if refused:
        raise InvalidInput(errors=refused)
    now = utcnow()
    transfer = Transfer(
        person_id=locked.id,
        state=TransferState.APPLIED.value,
        from_region=locked.region,
        from_school=locked.school_code,
        to_region=application.school_region,
        to_school=caller.jurisdiction.value,
        applied_by=_actor(caller),
        applied_at=now,
        due_at=add_working_days(now, DEADLINE_WORKING_DAYS),
        reason=application.note,
    )
    repository.add(session, transfer)
    locked.locked_by_transfer = True
    locked.updated_at = now
    session.add(locked)
    assert transfer.id is not None
    repository.add(
        session,
        TransferStep(
            transfer_id=transfer.id,
            from_state="",
            to_state=transfer.state,
            decision="apply",
            actor=_actor(caller),
            role=caller.role.value,
            decided_at=now,
            note=application.note,
        ),
    )
    audit.record(
        session, action="transfer.apply", caller=caller, object_type="transfer", object_ref=str(transfer.id)
    )
    return transfer


def _applied_student(session: Session, keyring: KeyRing, application: Application) -> Person:
    """The student the application names, when its code, name and birth date agree; anything else is
    answered as a code never issued."""
    claim = _claim(application.name, application.birth_date)
    try:
        found = resolve_code(session, application.code)
    except NotFound:
        raise NotFound(NO_STUDENT) from None
    person = found.person
    # The applicant cannot see the student yet: a code alone, or a wrong name, finds nobody, and is
    # told so in the very words used for a code never issued.
    if not _identity_agrees(person, keyring, claim, application.code):
        raise NotFound(NO_STUDENT)
    return person


def _lock_transferable(session: Session, person: Person, application: Application) -> Person:
    """The student, locked for the application once overdue transfers are expired; refused when the
    move stays within a province, the student is not attending, or a transfer is already open."""
    assert person.id is not None
    advisory_xact_lock(session, "person", str(person.id))
    expire_overdue(session, utcnow(), person_id=person.id)
    locked = people.get_person(session, person.id, for_update=True)
    assert locked is not None
    if locked.region[:2] == application.school_region[:2]:
        raise InvalidInput(
            errors=[
                FieldError(
                    "school_region", "same_province", "a transfer within a province is not cross-province"
                )
            ]
        )
    if locked.school_status not in (SchoolStatus.IN_ATTENDANCE.value, SchoolStatus.SUSPENDED.value):
        raise Conflict(f"a student in status {locked.school_status} cannot be transferred")
    if students.open_transfer_holding(session, [person.id], utcnow()) is not None:
        raise Conflict("this student already has an open transfer")
    return locked


def get_transfer(session: Session, caller: Caller, transfer_id: int, *, for_update: bool = False) -> Transfer:
    """The transfer if it touches the caller's jurisdiction (404 otherwise); one found past its
    deadline is expired first. ``for_update``: locked, after the student it moves."""
    transfer = repository.get_transfer(session, transfer_id)
    if transfer is None or not _visible(caller, transfer):
        raise NotFound(NOT_FOUND)
    now = utcnow()
    overdue = TransferState(transfer.state) in OPEN_STATES and as_utc(transfer.due_at) <= now
    if for_update or overdue:
        # The student first, as everywhere else: no two writers take these locks in another order.
        advisory_xact_lock(session, "person", str(transfer.person_id))
        if overdue:
            expire_overdue(session, now, transfer_id=transfer_id)
        transfer = repository.get_transfer(session, transfer_id, for_update=for_update)
        assert transfer is not None
    return transfer


def _open_and_mine(transfer: Transfer, caller: Caller, decision: str) -> TransferState:
    state = TransferState(transfer.state)
    if state not in OPEN_STATES:
        raise Conflict(f"transfer {transfer.id} is already {state.value}")
    if decision == "reject" and holds(caller, transfer):
        return state  # the holder may refuse at any step
    if not may_act(state, caller.role, caller.jurisdiction, _places(transfer)):
        raise Forbidden(f"this step is for another party: {STEPS[state].description}")
    return state


def decide_step(
    session: Session,
    caller: Caller,
    transfer_id: int,
    decision: Literal["approve", "reject"],
    note: str | None,
) -> Transfer:
    """Approve or reject the transfer's current step; a rejection ends it and unlocks the student.
    The holding side may reject at any open step."""
    transfer = get_transfer(session, caller, transfer_id, for_update=True)
    state = _open_and_mine(transfer, caller, decision)
    if decision == "reject":
        _step(session, transfer, caller, "reject", TransferState.REJECTED.value, note)
        _close(session, transfer)
        return transfer
    if state is TransferState.RELEASED:
        raise Conflict("the record is released: the receiving school completes the transfer by pulling it")
    _step(session, transfer, caller, "approve", STEPS[state].approve_to.value, note)
    return transfer


def _close(session: Session, transfer: Transfer) -> None:
    transfer.closed_at = utcnow()
    session.add(transfer)
    person = people.get_person(session, transfer.person_id, for_update=True)
    assert person is not None
    person.locked_by_transfer = False
    session.add(person)


def expire_overdue(
    session: Session, now: datetime, *, person_id: int | None = None, transfer_id: int | None = None
) -> list[int]:
    """Record the expiry of every open transfer past its deadline (of one person or one transfer
    when given): the state, a step and an audit row by the system, the lock flag cleared. The lock
    itself was released at the deadline already; this writes down what happened. The ids expired."""
    expired = []
    for due in repository.overdue_transfers(session, now, person_id=person_id, transfer_id=transfer_id):
        assert due.id is not None
        advisory_xact_lock(session, "person", str(due.person_id))
        transfer = repository.get_transfer(session, due.id, for_update=True)
        if (
            transfer is None
            or TransferState(transfer.state) not in OPEN_STATES
            or as_utc(transfer.due_at) > now
        ):
            continue  # decided or expired by someone else meanwhile
        _step(session, transfer, None, "expire", TransferState.EXPIRED.value, "the deadline passed")
        _close(session, transfer)
        expired.append(due.id)
    return expired


def expire_overdue_transfers(engine: Engine) -> list[int]:
    """The worker's pass: expire every open transfer past its deadline, each in its own transaction
    (one student's lock at a time)."""
    now = utcnow()
    with session_scope(engine) as session:
        due = [t.id for t in repository.overdue_transfers(session, now) if t.id is not None]
    expired: list[int] = []
    for transfer_id in due:
        with session_scope(engine) as session:
            expired += expire_overdue(session, now, transfer_id=transfer_id)
    return expired


def pull(
    session: Session, keyring: KeyRing, caller: Caller, transfer_id: int, disclosure: Disclosure
) -> tuple[Transfer, dict[str, Any]]:
    """The receiving school takes the released record: the student moves, the transfer completes."""
    transfer = get_transfer(session, caller, transfer_id, for_update=True)
    state = _open_and_mine(transfer, caller, "pull")
    if state is not TransferState.RELEASED:
        raise Conflict(f"the record is not released yet: {STEPS[state].description}")
    person = people.get_person(session, transfer.person_id)
    assert person is not None and person.id is not None
    # The transfer has authorised the move on both sides; the student service checks the rest.
    workflow = replace(caller, jurisdiction=Jurisdiction("CN"))
    today: date = utcnow().date()
    student_service.record_event(
        session,
        workflow,
        person.current_code,
        StatusEventRequest(
            event=StatusEventType.TRANSFERRED_OUT,
            effective_date=today,
            to_school_code=transfer.to_school,
            note=f"transfer {transfer.id}",
        ),
        transfer_workflow=True,
    )
    student_service.record_event(
        session,
        workflow,
        person.current_code,
        StatusEventRequest(
            event=StatusEventType.TRANSFERRED_IN,
            effective_date=today,
            school_code=transfer.to_school,
            school_region=transfer.to_region,
            note=f"transfer {transfer.id}",
        ),
        transfer_workflow=True,
    )
    _step(session, transfer, caller, "pull", TransferState.COMPLETED.value, None)
    _close(session, transfer)
    admission = repository.get_admission(session, caller.client_id, person.id)
    if admission is None:
        admission = Admission(
            client_id=caller.client_id,
            person_id=person.id,
            stage="transfer",
            source="transfer",
            purpose=disclosure.purpose,
            approval_ref=disclosure.approval_ref,
            admitted_at=utcnow(),
        )
        repository.add(session, admission)
    person = people.get_person(session, person.id)
    assert person is not None
    record = build_record(session, keyring, person, admission, identity=caller.has(Scope.HANDOFF_IDENTITY))
    audit_disclosure(
        session, caller, caller.client_id, person.current_code, "handoff.transfer_pull", disclosure
    )
    return transfer, record


def list_transfers(session: Session, caller: Caller, *, overdue: bool, open_only: bool) -> Sequence[Transfer]:
    """Transfers touching the caller's jurisdiction on either side, those past their deadline expired
    first; ``overdue``: the ones that expired at their deadline; ``open_only``: the open ones."""
    jurisdiction = caller.jurisdiction
    school = jurisdiction.value if jurisdiction.is_school else None
    now = utcnow()
    due = repository.transfers(
        session, jurisdiction.region_prefix, school, states=students.OPEN_TRANSFER_STATES, due_before=now
    )
    # In the order of the students' ids, as every writer taking several of their locks does.
    for transfer in sorted(due, key=lambda t: (t.person_id, t.id or 0)):
        assert transfer.id is not None
        expire_overdue(session, now, transfer_id=transfer.id)
    states: tuple[str, ...] | None = None
    if overdue:
        states = (TransferState.EXPIRED.value,)
    elif open_only:
        states = students.OPEN_TRANSFER_STATES
    return repository.transfers(session, jurisdiction.region_prefix, school, states=states, due_before=None)


def view(
    session: Session, caller: Caller, transfer: Transfer, *, supplied: str | None = None
) -> dict[str, Any]:
    """A transfer as one of its parties sees it. The receiving side learns where the child is held
    (region, school) and who decided on the holding side only once the holder has released the
    record; the student's code is masked if it carries an ID number, unless ``supplied`` is that
    very code (the applicant's own, echoed in the reply to its application)."""
    assert transfer.id is not None
    state = TransferState(transfer.state)
    open_ = state in OPEN_STATES
    steps = repository.steps_of(session, transfer.id)
    released = any(s.to_state == TransferState.RELEASED.value for s in steps)
    origin_shown = released or holds(caller, transfer)

    def actor(recorded: str) -> str | None:
        own = recorded.split("/", 1)[0] == caller.client_id
        return recorded if origin_shown or own or recorded == SYSTEM else None

    return {
        "id": transfer.id,
        "state": state.value,
        "code": disclosed_code(
            code_of(session, transfer), supplied={normalise_code(supplied)} if supplied else set()
        ),
        "from_region": transfer.from_region if origin_shown else None,
        "from_school": transfer.from_school if origin_shown else None,
        "to_region": transfer.to_region,
        "to_school": transfer.to_school,
        "applied_at": as_utc(transfer.applied_at).isoformat(),
        "due_at": as_utc(transfer.due_at).isoformat(),
        "overdue": state is TransferState.EXPIRED or (open_ and as_utc(transfer.due_at) <= utcnow()),
        "closed_at": as_utc(transfer.closed_at).isoformat() if transfer.closed_at else None,
        "next_step": STEPS[state].description if open_ else None,
        "steps": [
            {
                "decision": s.decision,
                "from_state": s.from_state or None,
                "to_state": s.to_state,
                "actor": actor(s.actor),
                "role": s.role,
                "decided_at": as_utc(s.decided_at).isoformat(),
                "note": s.note,
            }
            for s in steps
        ],
    }


def code_of(session: Session, transfer: Transfer) -> str:
    person = people.get_person(session, transfer.person_id)
    assert person is not None
    return person.current_code
