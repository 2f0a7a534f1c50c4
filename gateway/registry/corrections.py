"""Correcting a registered person's identity: the school fixes a misspelt name, a slipped birth date
or a wrong ID number, on evidence, and the gateway checks the corrected record as it would a new one.

A correction is normalised exactly like a registration, refused while a cross-province transfer
locks the student's identity, and applied in one transaction with its history (the replaced values
kept, encrypted), a ``record.corrected`` feed event and an audit row. Identity fields changed means
the person is verified again: like a registration, the external systems are asked before the
transaction (within the short deadline) and the verdict applied in it; what they cannot answer in
time is left queued for the worker. Open wrong-ID problem records of the person are closed by the
correction (a new one opens if the corrected identity fails too). The corrected record goes through
the duplicate check: an ID number another person holds changes nothing and opens a duplicate-ID
problem record; a corrected record that now resembles someone else is applied and opens a possible
duplicate. A ``G`` code is never recomputed from a corrected ID number (student-codes.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.errors import Conflict, FieldError, InvalidInput
from gateway.feed import service as feed
from gateway.identity import RECORD_FIELDS, CanonicalRecord, normalise_record
from gateway.persons import identifiers
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record, store_record
from gateway.privacy import disclosed_code
from gateway.registry import idempotency, repository
from gateway.registry.idempotency import StoredAnswer
from gateway.registry.models import ProblemRecord, RecordCorrection, VerificationJob
from gateway.registry.problems import open_problem_about
from gateway.registry.schemas import CorrectionRequest
from gateway.registry.service import (
    RegistryDeps,
    SearchHit,
    attach_document,
    digests_of,
    explanation_json,
    find_candidates,
    lock_blocking_keys,
    scheme_of,
)
from gateway.registry.submission import Submission
from gateway.registry.verification import apply_verdict, verify_now
from gateway.students import repository as transfers
from gateway.students.service import find_student
from gateway.verdicts import Judgement

# The fields the external systems vouch for: changing one means verifying the person again.
IDENTITY_FIELDS = frozenset({"name", "gender", "birth_date", "id_type", "id_number", "nationality"})
# Every field of the canonical record but its row id and the school (moved by status events).
CORRECTABLE_FIELDS = tuple(f for f in RECORD_FIELDS if f not in ("record_id", "school_code"))
_PREVIOUS_CONTEXT = "correction:previous"


class IdentityLocked(Conflict):
    title = "Identity locked by an open transfer"
    type_slug = "identity-locked"


@dataclass(frozen=True)
class Plan:
    """What a correction would change, worked out from the person as read."""

    person: Person
    current: CanonicalRecord
    corrected: CanonicalRecord
    changed: tuple[str, ...]
    warnings: list[dict[str, str]]
    flags: list[str]
    digests: list[str]  # the corrected record's blocking keys

    @property
    def identity_changed(self) -> bool:
        return bool(IDENTITY_FIELDS & set(self.changed))


def _find_person(session: Session, caller: Caller, code: str) -> Person:
    """The student holding ``code``, answered as not found outside the caller's jurisdiction."""
    return find_student(session, caller, code).person


def _refuse_if_locked(session: Session, person: Person) -> None:
    assert person.id is not None
    if transfers.open_transfer_holding(session, [person.id], utcnow()) is not None:
        raise IdentityLocked("an open cross-province transfer locks this student's identity")


def _plan(session: Session, deps: RegistryDeps, person: Person, request: CorrectionRequest) -> Plan:
    """The corrected record, normalised as at registration; 422 naming the fields it refuses."""
    current = person_to_record(person, deps.keyring)
    given = request.changes.model_dump(include=request.changes.model_fields_set)
    if not given:
        raise InvalidInput(errors=[FieldError("changes", "empty", "name at least one field to correct")])
    raw: dict[str, Any] = {k: v for k, v in current.to_dict().items() if k != "record_id"}
    raw.update(given)
    normalised = normalise_record(raw)
    if normalised.errors or normalised.record is None:
        raise InvalidInput(
            errors=[
                FieldError(f"changes.{e.field}" if e.field in given else e.field, e.code, e.message)
                for e in normalised.errors
            ]
        )
    corrected = normalised.record
    before, after = current.to_dict(), corrected.to_dict()
    changed = tuple(f for f in CORRECTABLE_FIELDS if before[f] != after[f])
    warnings = [{"field": w.field, "code": w.code, "message": w.message} for w in normalised.warnings]
    flags = list(normalised.flags)
    return Plan(person, current, corrected, changed, warnings, flags, digests_of(corrected, deps))


def _lock(session: Session, deps: RegistryDeps, plan: Plan) -> Person:
    """Serialise with registrations of the corrected identity (its blocking keys, taken first as
    registrations take them) and with every other change of the person; the locked person."""
    lock_blocking_keys(session, plan.digests)
    assert plan.person.id is not None
    advisory_xact_lock(session, "person", str(plan.person.id))
    person = people.get_person(session, plan.person.id, for_update=True)
    assert person is not None
    return person


def _submission(plan: Plan) -> Submission:
    person = plan.person
    return Submission(
        record=plan.corrected,
        school_code=person.school_code or "",
        school_region=person.region,
        guardian_id_number=None,
        warnings=plan.warnings,
        flags=plan.flags,
    )


def correct_record(
    engine: Engine,
    deps: RegistryDeps,
    caller: Caller,
    code: str,
    request: CorrectionRequest,
    idempotency_key: str | None,
) -> StoredAnswer:
    """Correct the identity recorded for the student holding ``code``; replayable by its key.

    Answers ``corrected`` (200, with the verification and any duplicate problem record opened),
    ``unchanged`` (200: the record already reads so), ``review_required`` (202: the corrected ID
    number is held by another person; nothing changed), 404, 409 (identity locked by a transfer) or
    422 (field errors; nothing stored).
    """
    keyed = idempotency.idempotent_request(
        caller.client_id, idempotency_key, {"correction_of": code, **request.model_dump(exclude_unset=True)}
    )
    with idempotency.answering(engine, keyed) as work:
        if work.replay is not None:
            return work.replay
        person = _find_person(work.session, caller, code)
        _refuse_if_locked(work.session, person)  # before asking the external systems for nothing
        plan = _plan(work.session, deps, person, request)
    verdict: Judgement | None = None
    if deps.verifier is not None and deps.verify_deadline > 0 and plan.identity_changed:
        verdict = verify_now(deps, _submission(plan))
    with idempotency.answering(engine, keyed) as work:
        if work.replay is not None:
            return work.replay
        answer = _apply(work.session, deps, caller, code, request, plan, verdict)
        work.store(answer)
        return answer


def _apply(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    code: str,
    request: CorrectionRequest,
    planned: Plan,
    verdict: Judgement | None,
) -> StoredAnswer:
    person, plan = _relock(session, deps, request, planned)
    if plan.corrected != planned.corrected:
        verdict = None  # the systems were asked about another record: the worker asks again
    actor = caller.client_id
    if not plan.changed:
        _audit(session, caller, person, "unchanged")
        shown = _shown_code(person, code, plan)
        return StoredAnswer(200, {"outcome": "unchanged", "code": shown, "changed_fields": []})
    assert person.id is not None
    # The national duplicate check of the corrected record, as for a registration (the person's own
    # record aside): searched once, before the correction is written.
    hits, _outcome, holders = find_candidates(session, deps, plan.corrected, plan.digests)
    held_by_others = [h for h in holders if h != person.id]
    others = {int(p.id or 0): p for p in people.persons_by_ids(session, held_by_others)}
    held_here = [pid for pid, p in others.items() if caller.jurisdiction.covers(p.region, p.school_code)]
    if held_here:
        return _refuse_number_held(session, deps, caller, person, plan, held_by_others, code)
    # Held only outside the caller's jurisdiction: the answer must not say so (no oracle of who holds
    # which number), so the correction is answered and applied as any other; the number is not
    # attached while the other person holds it, and a duplicate-ID record both sides see masked
    # keeps the conflict in view (no promotion while it is open).
    held_elsewhere = held_by_others
    _write_correction(session, deps, person, plan, request, actor, attach=not held_elsewhere)
    body: dict[str, Any] = {
        "outcome": "corrected",
        "code": _shown_code(person, code, plan),
        "changed_fields": list(plan.changed),
        **_open_follow_ups(session, deps, caller, person, plan, request, hits, held_elsewhere),
    }
    if plan.warnings:
        body["warnings"] = plan.warnings
    if plan.flags:
        body["flags"] = plan.flags
    # Noted before any promotion, so a follower reads the correction, then the new code.
    feed.append(session, type="record.corrected", person=person, detail=" ".join(plan.changed))
    if plan.identity_changed:
        body.update(_verify_again(session, deps, person, verdict, actor))
    _audit(session, caller, person, "corrected")
    body["code"] = _shown_code(person, code, plan)  # a verified L code was promoted just now
    return StoredAnswer(200, body)


def _relock(
    session: Session, deps: RegistryDeps, request: CorrectionRequest, planned: Plan
) -> tuple[Person, Plan]:
    """The person locked again and the correction planned again: refused if the person was merged,
    is held by a transfer, or their record changed since the correction was first planned."""
    person = _lock(session, deps, planned)
    if person.status != "active":
        raise Conflict("the student was merged while this correction was submitted; submit it again")
    _refuse_if_locked(session, person)
    plan = _plan(session, deps, person, request)
    if plan.digests != planned.digests:
        raise Conflict("the student's record changed while this correction was submitted; submit again")
    return person, plan


def _write_correction(
    session: Session,
    deps: RegistryDeps,
    person: Person,
    plan: Plan,
    request: CorrectionRequest,
    actor: str,
    *,
    attach: bool,
) -> None:
    """The history row, the replaced document (attached unless another person holds it), the
    corrected record and its blocking keys."""
    assert person.id is not None
    session.add(_history(deps, person, plan, request, actor))
    _replace_document(session, deps, person, plan, actor, attach=attach)
    store_record(person, plan.corrected, deps.keyring)
    person.updated_at = utcnow()
    session.add(person)
    people.add_blocking_keys(session, person.id, plan.digests)


def _open_follow_ups(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    person: Person,
    plan: Plan,
    request: CorrectionRequest,
    hits: list[SearchHit],
    held_elsewhere: list[int],
) -> dict[str, Any]:
    """What a correction closes and opens: wrong-ID records closed when the identity changed, a
    duplicate-ID record while another person holds the number, a possible duplicate it now matches."""
    actor = caller.client_id
    answer: dict[str, Any] = {}
    if plan.identity_changed:
        answer["closed_problem_ids"] = _close_wrong_id_problems(session, person, actor, request.reason)
    if held_elsewhere:
        open_problem_about(
            session,
            deps.keyring,
            person,
            kind="duplicate_id",
            actor=actor,
            candidates=held_elsewhere,
            submission=_submission(plan),
            explanation=json.dumps({"reason": "corrected_id_number_held_by_another_person"}),
        )
    duplicate = _open_possible_duplicate(session, deps, person, hits, actor, ours=caller)
    if duplicate is not None:
        answer["problem_id"], answer["problem_type"] = duplicate.id, duplicate.type
    return answer


def _history(
    deps: RegistryDeps, person: Person, plan: Plan, request: CorrectionRequest, actor: str
) -> RecordCorrection:
    assert person.id is not None
    before = plan.current.to_dict()
    previous = json.dumps({f: before[f] for f in plan.changed}, ensure_ascii=False)
    return RecordCorrection(
        person_id=person.id,
        code=person.current_code,
        changed_fields=" ".join(plan.changed),
        previous_encrypted=deps.keyring.encrypt(previous, _PREVIOUS_CONTEXT),
        reason=request.reason,
        evidence_ref=request.evidence_ref,
        corrected_by=actor,
        corrected_at=utcnow(),
    )


def _shown_code(person: Person, asked: str, plan: Plan) -> str | None:
    """The student's code as the answer shows it: a G code in full only when the caller sent it (as
    the code asked about, or as the ID number it carries)."""
    return disclosed_code(person.current_code, supplied={asked, str(plan.corrected.id_number)})


def _refuse_number_held(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    person: Person,
    plan: Plan,
    holders: list[int],
    asked: str,
) -> StoredAnswer:
    """202 ``review_required``: the corrected number is held by a person the caller can see too;
    nothing changes, a duplicate-ID problem record is opened."""
    problem = open_problem_about(
        session,
        deps.keyring,
        person,
        kind="duplicate_id",
        actor=caller.client_id,
        candidates=holders,
        submission=_submission(plan),
        explanation=json.dumps({"reason": "corrected_id_number_held_by_another_person"}),
    )
    _audit(session, caller, person, "review_required")
    return StoredAnswer(
        202,
        {
            "outcome": "review_required",
            "code": _shown_code(person, asked, plan),
            "problem_id": problem.id,
            "problem_type": "duplicate_id",
            "changed_fields": [],
        },
    )


def _replace_document(
    session: Session, deps: RegistryDeps, person: Person, plan: Plan, actor: str, *, attach: bool = True
) -> None:
    """The old national document stops being the person's (kept, its validity ended); the new one
    is attached, unless another person holds it (a problem record then names both). Other
    registries' numbers are left alone."""
    if not {"id_type", "id_number"} & set(plan.changed):
        return
    assert person.id is not None
    old_scheme = scheme_of(plan.current)
    if old_scheme is not None and plan.current.id_number:
        old_hash = deps.keyring.lookup_hash(old_scheme, plan.current.id_number)
        for row in people.find_active_identifier(session, old_scheme, old_hash):
            if row.person_id == person.id:
                identifiers.end_identifier(session, row)
    if attach:
        attach_document(session, deps, person.id, plan.corrected, actor)


def _close_wrong_id_problems(session: Session, person: Person, actor: str, reason: str) -> list[int]:
    assert person.id is not None
    problems = repository.open_problems_about(session, person.id, "wrong_id", for_update=True)
    now = utcnow()
    for problem in problems:
        problem.status, problem.decision, problem.decided_by, problem.decided_at = (
            "resolved",
            "data_corrected",
            actor,
            now,
        )
        problem.decision_note = reason[:500]
        problem.result_person_id = person.id
        session.add(problem)
    session.flush()
    return [int(p.id or 0) for p in problems]


def _open_possible_duplicate(
    session: Session, deps: RegistryDeps, person: Person, hits: list[SearchHit], actor: str, *, ours: Caller
) -> ProblemRecord | None:
    """A possible-duplicate problem record when the corrected record resembles someone else.

    Only a look-alike inside the caller's jurisdiction is named in the answer; one elsewhere opens
    the record all the same (both sides see it masked) but the answer does not tell."""
    others = [h for h in hits if h.person.id != person.id and h.result.band in ("match", "review")]
    if not others:
        return None
    problem = open_problem_about(
        session,
        deps.keyring,
        person,
        kind="possible_duplicate",
        actor=actor,
        candidates=[int(h.person.id or 0) for h in others],
        explanation=explanation_json(others),
    )
    named = any(ours.jurisdiction.covers(h.person.region, h.person.school_code) for h in others)
    return problem if named else None


def _verify_again(
    session: Session, deps: RegistryDeps, person: Person, verdict: Judgement | None, actor: str
) -> dict[str, Any]:
    """A new verification job for the corrected identity, with the verdict already in when the
    systems answered; an earlier job still queued for the old identity is finished as superseded."""
    now = utcnow()
    assert person.id is not None
    for old in repository.queued_jobs_of(session, person.id, for_update=True):
        old.status, old.outcome, old.finished_at, old.last_reason = "done", "superseded", now, "corrected"
        session.add(old)
    job = VerificationJob(person_id=person.id, next_attempt_at=now, created_at=now)
    person.verification_status = "pending"
    session.add_all([job, person])
    session.flush()
    assert job.id is not None
    if verdict is None:
        return {"verification": "pending"}
    applied = apply_verdict(session, deps, job.id, verdict.outcome, verdict.reason, actor)
    return applied or {"verification": "pending"}


def _audit(session: Session, caller: Caller, person: Person, outcome: str) -> None:
    audit.record(
        session,
        action="student.correct",
        caller=caller,
        object_type="person",
        object_ref=person.current_code,
        outcome=outcome,
    )


def list_corrections(session: Session, caller: Caller, code: str) -> tuple[str, Sequence[RecordCorrection]]:
    """The corrections of the student holding ``code`` (fields, reason, evidence; never the values)."""
    person = _find_person(session, caller, code)
    assert person.id is not None
    rows = repository.corrections_of(session, person.id)
    audit.record(
        session,
        action="student.corrections.read",
        caller=caller,
        object_type="person",
        object_ref=person.current_code,
        record_count=len(rows),
    )
    return person.current_code, rows
