"""Problem records and their decisions: merge (same person), issue (different persons), send back.

Nothing is deleted. A merge marks one person merged into the survivor and turns its code into an
alias (through ``gateway.idgen``); undoing it restores both persons and codes. Every decision is
audited with the reviewer, and so is every read of a problem record (``read_problem``: the API's and
the console's), which shows each person as the reader's jurisdiction may see them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from gateway.feed import service as feed
from gateway.idgen import service as code_service
from gateway.persons import identifiers
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.privacy import mask_code, mask_id_number
from gateway.registry import repository
from gateway.registry.models import Merge, ProblemRecord
from gateway.registry.problems import open_problem, stored_submission
from gateway.registry.schemas import PersonView, ProblemDetail, ProblemSummary
from gateway.registry.service import RegistryDeps, attach_document, create_person, scheme_of
from gateway.students import repository as transfers

Decision = Literal["same_person", "different_persons", "needs_evidence"]
PROBLEM_TYPES = (
    "wrong_id",
    "duplicate_id",
    "duplicate_no_id",
    "possible_duplicate",
    "duplicate_enrolment",
    "auto_link_review",
)
OPEN_STATES = ("open", "needs_evidence")


def list_problems(
    session: Session,
    caller: Caller,
    *,
    kind: str | None = None,
    status: str | None = None,
    region: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> Sequence[ProblemRecord]:
    """Problem records the caller may see, in id order after ``after_id``, filtered."""
    return repository.problems_in_jurisdiction(
        session, caller.jurisdiction, kind=kind, status=status, region=region, after_id=after_id, limit=limit
    )


def count_problems(session: Session, caller: Caller) -> dict[str, int]:
    """How many problem records the caller may see, by status."""
    return repository.count_problems_in_jurisdiction(session, caller.jurisdiction)


def get_problem(
    session: Session, caller: Caller, problem_id: int, *, for_update: bool = False
) -> ProblemRecord:
    """A problem record the caller may see: filed inside its jurisdiction or about one of its persons."""
    problem = repository.get_problem(session, problem_id, for_update=for_update)
    if problem is None:
        raise NotFound("no such problem record")
    if not caller.jurisdiction.covers(problem.region, problem.school_code) and not any(
        caller.jurisdiction.covers(p.region, p.school_code)
        for p in repository.persons_of_problem(session, int(problem.id or 0))
    ):
        raise NotFound("no such problem record")
    return problem


def within(caller: Caller, person: Person) -> bool:
    """Whether ``person`` is inside the caller's jurisdiction (seen in full, decided on)."""
    return caller.jurisdiction.covers(person.region, person.school_code)


def files_here(caller: Caller, problem: ProblemRecord) -> bool:
    """Whether the caller's jurisdiction filed the problem record (sees what was submitted)."""
    return caller.jurisdiction.covers(problem.region, problem.school_code)


def require_authority(session: Session, caller: Caller, problem: ProblemRecord) -> None:
    """A decision touches only persons inside the decider's jurisdiction: a record whose persons (or
    whose filing school) lie in two jurisdictions is decided where all of them are in view."""
    persons = repository.persons_of_problem(session, int(problem.id or 0))
    filed_elsewhere = problem.submitted_encrypted is not None and not files_here(caller, problem)
    if filed_elsewhere or not all(within(caller, p) for p in persons):
        raise Forbidden(
            "this problem record concerns persons outside your jurisdiction; it is decided by a "
            "reviewer whose jurisdiction covers all of them (across provinces: the ministry)"
        )


def candidate_ids(problem: ProblemRecord) -> list[int]:
    return [int(x) for x in problem.candidate_person_ids.split()]


def _summary_fields(problem: ProblemRecord) -> dict[str, Any]:
    return {
        "id": problem.id,
        "type": problem.type,
        "status": problem.status,
        "region": problem.region,
        "school_code": problem.school_code,
        "candidate_count": len(candidate_ids(problem)),
        "opened_at": problem.opened_at,
        "decided_at": problem.decided_at,
        "decision": problem.decision,
    }


def problem_summary(problem: ProblemRecord) -> ProblemSummary:
    """A problem record as the queue lists it."""
    return ProblemSummary(**_summary_fields(problem))


def person_view(person: Person, *, grade: str | None = None) -> PersonView:
    return PersonView(
        person_id=int(person.id or 0),
        code=mask_code(person.current_code),
        code_type=person.current_code[0],
        match_grade=grade,
        status=person.status,
        name=person.name,
        gender=person.gender,
        birth_date=person.birth_date.isoformat(),
        id_type=person.id_type,
        id_number_masked=person.id_number_masked,
        household_region=person.household_region,
        guardian_name=person.guardian_name,
        school_code=person.school_code,
        region=person.region,
        verification_status=person.verification_status,
    )


def masked_person_view(person: Person, *, grade: str | None = None) -> PersonView:
    """A person outside the caller's jurisdiction: their province, code type and match grade only."""
    return PersonView(
        masked=True,
        person_id=None,
        code=None,
        code_type=person.current_code[0],
        match_grade=grade,
        status=None,
        name=None,
        gender=None,
        birth_date=None,
        id_type=None,
        id_number_masked=None,
        household_region=None,
        guardian_name=None,
        school_code=None,
        region=person.region[:2],
        verification_status=None,
    )


def problem_detail(
    session: Session, deps: RegistryDeps, problem: ProblemRecord, caller: Caller
) -> ProblemDetail:
    """A problem record as ``caller`` may see it: persons inside its jurisdiction in full (numbers
    masked), persons outside masked to province, code type and match grade; what was submitted only
    to the jurisdiction that submitted it."""
    explanation = json.loads(problem.explanation_json) if problem.explanation_json else None
    grades = {
        int(item["person_id"]): str(item.get("grade"))
        for item in (explanation if isinstance(explanation, list) else [])
        if isinstance(item, dict) and "person_id" in item
    }
    # Subject and candidates, as named in problem_person (migration 0012 named those of older records).
    persons = {int(p.id or 0): p for p in repository.persons_of_problem(session, int(problem.id or 0))}
    hidden = {pid for pid, p in persons.items() if not within(caller, p)}

    def view(person_id: int) -> PersonView:
        person = persons[person_id]
        grade = grades.get(person_id)
        return (
            masked_person_view(person, grade=grade)
            if person_id in hidden
            else person_view(person, grade=grade)
        )

    filed_here = files_here(caller, problem)
    submission = stored_submission(problem, deps.keyring) if filed_here else None
    submitted = None
    if submission is not None:
        submitted = {**submission.record.to_dict(), "school_region": submission.school_region}
        submitted["id_number"] = mask_id_number(submission.record.id_number)
    if isinstance(explanation, list):
        explanation = [
            item
            if not (isinstance(item, dict) and item.get("person_id") in hidden)
            else {"masked": True, "grade": item.get("grade"), "band": item.get("band")}
            for item in explanation
        ]
    merge = repository.merge_of_problem(session, int(problem.id or 0))
    result = persons.get(problem.result_person_id or 0) or (
        people.get_person(session, problem.result_person_id) if problem.result_person_id else None
    )
    summary = _summary_fields(problem)
    if not filed_here:
        # The other side of the case sees where it was filed only as a province.
        summary.update(region=problem.region[:2], school_code=None)
    return ProblemDetail(
        **summary,
        subject=view(problem.subject_person_id) if problem.subject_person_id in persons else None,
        submitted=submitted,
        candidates=[view(pid) for pid in candidate_ids(problem) if pid in persons],
        explanation=explanation,
        decision_note=problem.decision_note,
        result_code=mask_code(result.current_code) if result is not None and within(caller, result) else None,
        merge_id=merge.id if merge else None,
    )


@dataclass(frozen=True)
class DecisionResult:
    problem: ProblemRecord
    code: str | None
    merge_id: int | None


def _actor(caller: Caller) -> str:
    return f"{caller.client_id}/{caller.acting_user}" if caller.acting_user else caller.client_id


def _refuse_during_transfer(session: Session, *persons: Person) -> None:
    """Identity changes wait for an open cross-province transfer: it moves a person and their code,
    and must not end up moving an alias or half of a split record."""
    ids = [p.id for p in persons if p.id is not None]
    if transfers.open_transfer_holding(session, ids, utcnow()) is not None:
        raise Conflict(
            "an open cross-province transfer holds one of these students; decide after it completes"
        )


def merge_persons(
    session: Session, survivor: Person, merged: Person, actor: str, problem_id: int | None
) -> Merge:
    """``merged`` becomes an alias of ``survivor``; both rows and both codes remain."""
    if survivor.id == merged.id:
        raise Conflict("a person cannot be merged into themself")
    if survivor.status != "active" or merged.status != "active":
        raise Conflict("only two active persons can be merged")
    assert survivor.id is not None and merged.id is not None
    for pid in sorted([survivor.id, merged.id]):
        advisory_xact_lock(session, "person", str(pid))
    _refuse_during_transfer(session, survivor, merged)
    now = utcnow()
    merged.status, merged.merged_into_id, merged.updated_at = "merged", survivor.id, now
    session.add(merged)
    code_service.alias_merged_code(session, merged, survivor, actor=actor, at=now)
    merge = Merge(
        survivor_id=survivor.id, merged_id=merged.id, problem_id=problem_id, decided_by=actor, decided_at=now
    )
    session.add(merge)
    session.flush()
    # The merged person's old code now leads to the survivor: downstream registries follow the alias.
    feed.append(
        session,
        type="person.merged",
        person=survivor,
        old_code=merged.current_code,
        detail=f"merge:{merge.id}",
    )
    return merge


@dataclass(frozen=True)
class UndoneMerge:
    """A merge undone: both persons' codes as they are again, and when."""

    merge_id: int
    survivor_code: str
    restored_code: str
    undone_at: datetime


def undo_merge(session: Session, caller: Caller, merge_id: int) -> UndoneMerge:
    """Restore the merged person and their code; refused during an open transfer."""
    merge = repository.get_merge(session, merge_id, for_update=True)
    if merge is None:
        raise NotFound("no such merge")
    survivor = people.get_person(session, merge.survivor_id, for_update=True)
    merged = people.get_person(session, merge.merged_id, for_update=True)
    assert survivor is not None and merged is not None
    if not (within(caller, survivor) or within(caller, merged)):
        raise NotFound("no such merge")
    if not (within(caller, survivor) and within(caller, merged)):
        raise Forbidden(
            "this merge joined persons of two jurisdictions; it is undone by a reviewer whose "
            "jurisdiction covers both (across provinces: the ministry)"
        )
    if merge.undone_at is not None:
        raise Conflict("this merge was already undone")
    _refuse_during_transfer(session, survivor, merged)
    now, actor = utcnow(), _actor(caller)
    merged.status, merged.merged_into_id, merged.updated_at = "active", None, now
    merge.undone_at, merge.undone_by = now, actor
    session.add_all([merged, merge])
    code_service.restore_unmerged_code(session, merged, survivor, actor=actor, at=now)
    audit.record(session, action="merge.undo", caller=caller, object_type="merge", object_ref=str(merge.id))
    feed.append(
        session,
        type="person.unmerged",
        person=merged,
        old_code=survivor.current_code,
        detail=f"merge:{merge.id}",
    )
    session.flush()
    return UndoneMerge(merge_id, survivor.current_code, merged.current_code, now)


def report_duplicate(
    session: Session, deps: RegistryDeps, caller: Caller, codes: list[str], note: str | None
) -> ProblemRecord:
    """Open a possible-duplicate problem over persons that already hold codes (a school's report,
    or a pair found by the national dedupe run)."""
    persons: list[Person] = []
    for code in codes:
        try:
            person = code_service.resolve_code(session, code).person
        except NotFound:
            raise InvalidInput(errors=[FieldError("codes", "unknown_code", f"no such code {code}")]) from None
        if not caller.jurisdiction.covers(person.region, person.school_code):
            raise InvalidInput(errors=[FieldError("codes", "unknown_code", f"no such code {code}")])
        persons.append(person)
    if len({p.id for p in persons}) < 2:
        raise InvalidInput(
            errors=[FieldError("codes", "same_person", "the codes already belong to one person")]
        )
    subject, others = persons[0], persons[1:]
    problem = open_problem(
        session,
        deps.keyring,
        kind="possible_duplicate",
        region=subject.region,
        school_code=subject.school_code,
        opened_by=_actor(caller),
        subject=subject,
        candidates=[int(p.id or 0) for p in others],
    )
    problem.decision_note = note
    session.add(problem)
    audit.record(
        session,
        action="review.report",
        caller=caller,
        object_type="problem_record",
        object_ref=str(problem.id),
    )
    return problem


def decide_problem(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    problem_id: int,
    decision: Decision,
    *,
    survivor_id: int | None = None,
    note: str | None = None,
) -> DecisionResult:
    """Take a reviewer's decision on an open problem record the caller has authority over: record
    it (audited) with what it did, a merge, a code or nothing."""
    problem = get_problem(session, caller, problem_id, for_update=True)
    require_authority(session, caller, problem)
    if problem.status not in OPEN_STATES:
        raise Conflict(f"problem record {problem_id} is already {problem.status}")
    actor = _actor(caller)
    done = _DECISIONS[decision](session, deps, problem, actor, survivor_id)
    problem.status = done.status
    problem.decision, problem.decided_by, problem.decided_at, problem.decision_note = (
        decision,
        actor,
        utcnow(),
        note,
    )
    session.add(problem)
    session.flush()
    audit.record(
        session,
        action=f"review.{decision}",
        caller=caller,
        object_type="problem_record",
        object_ref=str(problem.id),
        outcome=problem.status,
    )
    return DecisionResult(problem, done.code, done.merge_id)


@dataclass(frozen=True)
class _Done:
    """What a decision did: the problem record's new status, the code it leads to, its merge."""

    status: str
    code: str | None = None
    merge_id: int | None = None


def _same_person(
    session: Session, deps: RegistryDeps, problem: ProblemRecord, actor: str, survivor_id: int | None
) -> _Done:
    """A registered subject is merged with a candidate; a submission (nobody registered yet) is
    resolved to the candidate it is, who takes its document."""
    candidates = candidate_ids(problem)
    if survivor_id is not None and survivor_id not in candidates + (
        [problem.subject_person_id] if problem.subject_person_id else []
    ):
        raise InvalidInput(
            errors=[
                FieldError(
                    "survivor_id",
                    "not_a_candidate",
                    "survivor must be one of the persons of this problem record",
                )
            ]
        )
    if problem.subject_person_id is not None:
        return _merge_subject(session, problem, candidates, survivor_id, actor)
    return _resolve_to_candidate(session, deps, problem, candidates, survivor_id, actor)


def _merge_subject(
    session: Session, problem: ProblemRecord, candidates: list[int], survivor_id: int | None, actor: str
) -> _Done:
    assert problem.subject_person_id is not None
    if not candidates:
        raise InvalidInput(
            errors=[
                FieldError(
                    "decision",
                    "no_candidate",
                    "this problem record has no other person to merge with",
                )
            ]
        )
    subject = people.get_person(session, problem.subject_person_id, for_update=True)
    other_id = survivor_id if survivor_id and survivor_id != problem.subject_person_id else candidates[0]
    other = people.get_person(session, other_id, for_update=True)
    assert subject is not None and other is not None
    survivor, merged = (subject, other) if survivor_id == subject.id else (other, subject)
    merge = merge_persons(session, survivor, merged, actor, problem.id)
    problem.result_person_id = survivor.id
    return _Done("resolved", survivor.current_code, merge.id)


def _resolve_to_candidate(
    session: Session,
    deps: RegistryDeps,
    problem: ProblemRecord,
    candidates: list[int],
    survivor_id: int | None,
    actor: str,
) -> _Done:
    target_id = survivor_id or (candidates[0] if candidates else None)
    if target_id is None:
        raise InvalidInput(
            errors=[FieldError("decision", "no_candidate", "this problem record has no candidate person")]
        )
    target = people.get_person(session, target_id)
    assert target is not None and target.id is not None
    submission = stored_submission(problem, deps.keyring)
    scheme = scheme_of(submission.record) if submission else None
    # The submitted document becomes the survivor's, unless somebody holds it already.
    if (
        submission
        and scheme
        and submission.record.id_number
        and not identifiers.find_holders(session, deps.keyring, scheme, submission.record.id_number)
    ):
        attach_document(session, deps, target.id, submission.record, actor)
    problem.result_person_id = target.id
    return _Done("resolved", target.current_code)


def _different_persons(
    session: Session, deps: RegistryDeps, problem: ProblemRecord, actor: str, survivor_id: int | None
) -> _Done:
    """A submission that is nobody registered yet is registered now; a subject stays as it is."""
    submission = stored_submission(problem, deps.keyring)
    if submission is not None and problem.subject_person_id is None:
        person, _issued = create_person(session, deps, submission, actor)
        problem.result_person_id = person.id
        return _Done("resolved", person.current_code)
    return _Done("resolved")


def _needs_evidence(
    session: Session, deps: RegistryDeps, problem: ProblemRecord, actor: str, survivor_id: int | None
) -> _Done:
    """Sent back for evidence: the record stays open for a later decision."""
    return _Done("needs_evidence")


_DECISIONS: dict[str, Callable[[Session, RegistryDeps, ProblemRecord, str, int | None], _Done]] = {
    "same_person": _same_person,
    "different_persons": _different_persons,
    "needs_evidence": _needs_evidence,
}


def read_problem(session: Session, deps: RegistryDeps, caller: Caller, problem_id: int) -> ProblemDetail:
    """A problem record as the caller may see it (``problem_detail``). Every view of personal data
    is audited, with how many persons it showed, whether the API or the console asked."""
    problem = get_problem(session, caller, problem_id)
    detail = problem_detail(session, deps, problem, caller)
    audit.record(
        session,
        action="review.read",
        caller=caller,
        object_type="problem_record",
        object_ref=str(problem_id),
        record_count=len(detail.candidates) + (1 if detail.subject else 0),
    )
    return detail
