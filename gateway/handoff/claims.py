"""Claims: a school at enrolment, or a registry of a later stage, claims a student and is admitted
to them. With the student's code and a matching identity a caller claims a student held anywhere;
by identity alone it finds only students its own jurisdiction holds, and a refused claim answers
like a child who does not exist. A school's claim enrols a child a preschool handed over; a
later-stage registry's claim admits a graduate. Each claim discloses the record and is audited."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlmodel import Session

from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role, Scope, Stage
from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from gateway.handoff import repository
from gateway.handoff.disclosure import Disclosure, audit_disclosure
from gateway.handoff.models import Admission
from gateway.handoff.presentation import build_record, supplied_values
from gateway.handoff.records import admission_for
from gateway.identity import CanonicalRecord, normalise_record
from gateway.idgen.service import resolve_code
from gateway.persons import identifiers
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.registry.service import RegistryDeps, find_candidates
from gateway.schools.service import check_school
from gateway.students import service as student_service
from gateway.students.schemas import StatusEventRequest
from gateway.students.statemachine import SchoolStatus, StatusEventType
from gateway.students.verification import Claim, Outcome, StoredFacts, verify

# Every claim that finds nobody answers the same, whatever the reason (no such child, a code with
# somebody else's identity, a child held outside the caller's jurisdiction claimed by identity
# alone, a child nobody handed over): a refusal must not tell the caller that a child exists.
CLAIM_NOT_FOUND = "no student matches this claim"
UPPER_STAGES = frozenset({Stage.SENIOR_SECONDARY, Stage.VOCATIONAL, Stage.HIGHER_EDUCATION})
# The identifier scheme a stage's own student number is kept under (identifiers.py).
STAGE_SCHEMES = {Stage.VOCATIONAL.value: "vocational", Stage.HIGHER_EDUCATION.value: "higher_education"}
GRADUATE_STATUSES = frozenset({SchoolStatus.GRADUATED.value, SchoolStatus.COMPLETED.value})
_ACCEPTED_CODE_MATCHES = frozenset({Outcome.MATCH, Outcome.LINKED_MATCH})


class ClaimNoMatch(NotFound):
    title = "Claim matches nobody"
    type_slug = "claim-no-match"


class ClaimAmbiguous(Conflict):
    title = "Claim matches more than one person"
    type_slug = "claim-ambiguous"

    def __init__(self, detail: str, candidate_count: int) -> None:
        super().__init__(detail)
        self.candidate_count = candidate_count

    def extra(self) -> dict[str, Any]:
        return {"candidate_count": self.candidate_count}


@dataclass(frozen=True)
class ClaimInput:
    code: str | None
    identity: dict[str, Any]
    student_number: str | None
    exam_candidate_number: str | None
    school_region: str | None
    effective_date: date | None


@dataclass(frozen=True)
class ClaimResult:
    created: bool
    record: dict[str, Any]


def _canonical_identity(identity: dict[str, Any]) -> CanonicalRecord:
    normalised = normalise_record({k: v for k, v in identity.items() if k != "record_id"})
    if normalised.record is None:
        raise InvalidInput(
            errors=[FieldError(f"identity.{i.field}", i.code, i.message) for i in normalised.errors]
        )
    return normalised.record


def _match_by_identity(
    session: Session, deps: RegistryDeps, caller: Caller, record: CanonicalRecord
) -> Person:
    hits, _outcome, _holders = find_candidates(session, deps, record)
    # Knowing a child's name and birthday is not authority: by identity alone a caller claims only
    # a student its own jurisdiction holds (current school and region). Anyone held elsewhere is not
    # a candidate at all, so neither a match nor the count of an ambiguity tells the caller they exist.
    hits = [h for h in hits if caller.jurisdiction.covers(h.person.region, h.person.school_code)]
    matches = [h for h in hits if h.result.band == "match"]
    possible = [h for h in hits if h.result.band in ("match", "review")]
    if len(matches) == 1 and len(possible) == 1:
        person = people.get_person(session, matches[0].person.id)
        assert person is not None
        return person
    if not possible:
        raise ClaimNoMatch(CLAIM_NOT_FOUND)
    raise ClaimAmbiguous(
        "this identity matches more than one registered student, or none with certainty; "
        "claim by code or ask a reviewer",
        len(possible),
    )


def _match_by_code(session: Session, deps: RegistryDeps, code: str, record: CanonicalRecord) -> Person:
    try:
        found = resolve_code(session, code)
    except NotFound:
        raise ClaimNoMatch(CLAIM_NOT_FOUND) from None
    stored = person_to_record(found.person, deps.keyring)
    result = verify(
        Claim(
            name=record.name,
            birth_date=record.birth_date,
            gender=str(record.gender),
            id_number=record.id_number,
        ),
        StoredFacts(
            name=stored.name,
            birth_date=stored.birth_date,
            gender=stored.gender,
            id_number=stored.id_number,
            code_is_current=found.asked == found.current_code,
        ),
    )
    if result.outcome not in _ACCEPTED_CODE_MATCHES:
        # The same answer as an unknown code: a claim must not confirm who holds a code.
        raise ClaimNoMatch(CLAIM_NOT_FOUND)
    return found.person


def _claim_kind(caller: Caller, claim: ClaimInput) -> str:
    if caller.role is Role.SCHOOL and caller.jurisdiction.is_school:
        if claim.school_region is None:
            raise InvalidInput(
                errors=[FieldError("school_region", "missing", "a school claims with its 6-digit region")]
            )
        return "primary"
    if caller.role is Role.REGISTRY and caller.stage in UPPER_STAGES:
        return str(caller.stage)
    raise Forbidden("claims are made by a school at enrolment or by a registry of a later stage")


def _workflow_caller(caller: Caller) -> Caller:
    # The handoff has already decided the caller may enrol this child; the status change is made on
    # its behalf even though the child is still held by the preschool outside its jurisdiction.
    return replace(caller, jurisdiction=Jurisdiction("CN"))


def claim_student(
    session: Session, deps: RegistryDeps, caller: Caller, claim: ClaimInput, disclosure: Disclosure
) -> ClaimResult:
    """Match the claimed student (by code, or by identity), admit them to the caller, return the record.

    Authority: with the student's code and a matching identity (the family gave them the code, as on
    a preschool's leaving slip or an admission letter) a caller claims a student held anywhere; by
    identity alone only a student its own jurisdiction holds. Every refusal of a match answers like
    a child who does not exist (``ClaimNoMatch``, one message). A school's claim enrols a child
    handed over by a preschool and moves them to the school; a later-stage registry's claim admits a
    graduate. Claiming the same student twice is harmless.
    """
    if claim.identity is None:
        # A code alone is guessable (an L code is region + birth date + 4 digits): the identity is
        # always checked, and the code, when given, picks the person instead of a search.
        raise InvalidInput(
            errors=[FieldError("identity", "missing", "a claim carries the student's identity")]
        )
    kind = _claim_kind(caller, claim)
    if kind == "primary":
        # The claiming school against the register, before any child is looked at: a refusal says
        # nothing about whether the child exists.
        refused = check_school(session, caller.jurisdiction.value, claim.school_region)
        if refused:
            raise InvalidInput(errors=refused)
    record = _canonical_identity(claim.identity)
    if claim.code is not None:
        person = _match_by_code(session, deps, claim.code, record)
    else:
        person = _match_by_identity(session, deps, caller, record)
    assert person.id is not None
    advisory_xact_lock(session, "person", str(person.id))
    admission = admission_for(session, caller, person)
    created = admission is None
    if admission is None:
        admission = _admit(session, deps, caller, claim, kind, person, disclosure)
    session.refresh(person)
    result = build_record(
        session,
        deps.keyring,
        person,
        admission,
        identity=caller.has(Scope.HANDOFF_IDENTITY),
        supplied=supplied_values(claim.code, record.id_number),
    )
    audit_disclosure(session, caller, caller.client_id, person.current_code, "handoff.claim", disclosure)
    return ClaimResult(created, result)


def _admit(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    claim: ClaimInput,
    kind: str,
    person: Person,
    disclosure: Disclosure,
) -> Admission:
    """Admit a student the caller claims for the first time, after the check its kind of claim needs,
    and keep the numbers the claim gives the student at the new stage."""
    assert person.id is not None
    if kind == "primary":
        _enrol_handed_over(session, caller, claim, person)
    else:
        _require_graduate(person)
    admission = Admission(
        client_id=caller.client_id,
        person_id=person.id,
        stage=kind,
        student_number=claim.student_number,
        source="claim",
        purpose=disclosure.purpose,
        approval_ref=disclosure.approval_ref,
        admitted_at=utcnow(),
    )
    repository.add(session, admission)
    _keep_stage_numbers(session, deps, caller, claim, kind, person.id)
    return admission


def _enrol_handed_over(session: Session, caller: Caller, claim: ClaimInput, person: Person) -> None:
    """A school's claim: only a child a preschool handed over (to anyone in the merged family) and not
    enrolled yet; the child is enrolled at the claiming school."""
    assert person.id is not None
    family = people.merged_person_ids(session, person.id)
    handed = [a for a in repository.admissions_of_persons(session, family) if a.stage == Stage.PRESCHOOL]
    if not handed:
        raise ClaimNoMatch(CLAIM_NOT_FOUND)
    if person.school_status != SchoolStatus.REGISTERED.value:
        raise Conflict("this child is already enrolled at a school")
    assert claim.school_region is not None
    student_service.record_event(
        session,
        _workflow_caller(caller),
        person.current_code,
        StatusEventRequest(
            event=StatusEventType.ENROLLED,
            effective_date=claim.effective_date or utcnow().date(),
            school_code=caller.jurisdiction.value,
            school_region=claim.school_region,
            note="claimed from a preschool handover",
        ),
    )


def _require_graduate(person: Person) -> None:
    """A later stage's claim: only a student who finished the previous stage."""
    if person.school_status not in GRADUATE_STATUSES:
        raise Conflict("only a student who graduated or completed the previous stage can be admitted")


def _keep_stage_numbers(
    session: Session, deps: RegistryDeps, caller: Caller, claim: ClaimInput, kind: str, person_id: int
) -> None:
    """The stage's own student number and the exam candidate number, kept as the student's identifiers."""
    scheme = STAGE_SCHEMES.get(kind)
    if scheme and claim.student_number:
        identifiers.attach_identifier(
            session,
            deps.keyring,
            person_id=person_id,
            scheme=scheme,
            value=claim.student_number,
            source=caller.client_id,
        )
    if claim.exam_candidate_number:
        identifiers.attach_identifier(
            session,
            deps.keyring,
            person_id=person_id,
            scheme="exam_candidate",
            value=claim.exam_candidate_number,
            source=caller.client_id,
        )
