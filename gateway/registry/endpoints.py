"""Registrations, real-time search, problem records, decisions and merges over HTTP."""

from __future__ import annotations

import json
from typing import Annotated, Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import Session, select

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.context import AppContext
from gateway.errors import InvalidInput, NotFound
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.privacy import disclosed_code, mask_code, mask_id_number
from gateway.registry import corrections, outcomes, problems, repository, reviews, service, verification
from gateway.registry.models import Merge, ProblemRecord
from gateway.registry.outcomes import HeldElsewhere
from gateway.registry.schemas import (
    CorrectionHistory,
    CorrectionOut,
    CorrectionRequest,
    DecisionRequest,
    DecisionResponse,
    DuplicateReport,
    FieldScore,
    MergeResponse,
    PersonView,
    ProblemDetail,
    ProblemPage,
    ProblemSummary,
    RegistrationRequest,
    SearchCandidate,
    SearchRequest,
    SearchResponse,
)
from gateway.schemas import Offset, PlainText, RowId

router = APIRouter(tags=["registry"])
VERIFICATION_WAITS = "registry.verification_waits"


async def registry_deps(ctx: ContextDep) -> service.RegistryDeps:
    deps: service.RegistryDeps = ctx.services["registry"]
    return deps


DepsDep = Annotated[service.RegistryDeps, Depends(registry_deps)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the request replayable: the same key and body get the same answer.",
    ),
]
StudentCode = Annotated[PlainText, Path(max_length=64)]


@router.post("/v1/registrations", status_code=201)
async def register(
    caller: Annotated[Caller, Depends(require_scope(Scope.REGISTRATIONS_WRITE))],
    ctx: ContextDep,
    deps: DepsDep,
    body: RegistrationRequest,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Register a student: ``existing`` (200), ``issued`` (201), ``review_required`` (202),
    ``held_elsewhere`` (409) or 422."""
    submitted = body.submitted()
    started = await to_thread.run_sync(service.begin, ctx.engine, deps, caller, submitted, idempotency_key)
    if isinstance(started, service.Pending):
        # Waiting for the external systems holds none of the request threads (which are few: they
        # run the CPU work); the waits have their own, larger allowance.
        verdict = await to_thread.run_sync(
            verification.verify_now, deps, started.submission, limiter=verification_waits(ctx)
        )
        outcome = await to_thread.run_sync(service.finish, ctx.engine, deps, caller, started, verdict)
    else:
        outcome = started
    answer = outcomes.to_json(outcome)
    if isinstance(outcome, HeldElsewhere):
        answer["next_step"] = (
            "the child is enrolled in another jurisdiction: apply for a transfer "
            "(POST /v1/transfers) with the code and identity the family holds"
        )
    return JSONResponse(answer, status_code=outcomes.status_of(outcome))


def verification_waits(ctx: AppContext) -> CapacityLimiter:
    """How many registrations of this process may wait for the external systems at once."""
    limiter = ctx.services.get(VERIFICATION_WAITS)
    if not isinstance(limiter, CapacityLimiter):
        limiter = CapacityLimiter(ctx.settings.registration_verification_waits)
        ctx.services[VERIFICATION_WAITS] = limiter
    return limiter


@router.post("/v1/search", response_model=SearchResponse)
def search(
    caller: Annotated[Caller, Depends(require_scope(Scope.SEARCH_READ))],
    session: SessionDep,
    deps: DepsDep,
    body: SearchRequest,
) -> SearchResponse:
    """Ranked candidates for a record; only persons inside the caller's jurisdiction are shown."""
    from gateway.identity import normalise_record
    from gateway.matching import search_outcome

    normalised = normalise_record(body.model_dump(exclude_unset=True))
    if normalised.record is None:
        raise InvalidInput(
            errors=[{"field": i.field, "code": i.code, "message": i.message} for i in normalised.errors]
        )
    hits, _outcome, _holders = service.find_candidates(session, deps, normalised.record)
    # A G code is an ID number: shown in full only when it carries the very number searched with.
    supplied = frozenset({normalised.record.id_number} if normalised.record.id_number else ())
    visible = [h for h in hits if caller.jurisdiction.covers(h.person.region, h.person.school_code)]
    shown = [h for h in visible if h.result.band != "non_match"][:20]
    audit.record(session, action="search", caller=caller, object_type="search", record_count=len(shown))
    config = deps.model.config
    return SearchResponse(
        outcome=search_outcome([h.result for h in visible], config),
        config=f"{config.name}@{config.version}",
        candidates=[
            SearchCandidate(
                code=disclosed_code(h.person.current_code, supplied=supplied) or h.person.current_code,
                score=round(h.result.probability, 6),
                band=h.result.band,
                grade=h.result.grade,
                explanation=[
                    FieldScore(field=e.field, level=e.level, weight=round(e.weight, 3))
                    for e in h.result.explanation
                ],
                rules_fired=list(h.result.rules_fired),
            )
            for h in shown
        ],
    )


def _summary(problem: ProblemRecord) -> dict[str, Any]:
    return {
        "id": problem.id,
        "type": problem.type,
        "status": problem.status,
        "region": problem.region,
        "school_code": problem.school_code,
        "candidate_count": len(reviews.candidate_ids(problem)),
        "opened_at": problem.opened_at,
        "decided_at": problem.decided_at,
        "decision": problem.decision,
    }


@router.get("/v1/reviews", response_model=ProblemPage)
def list_reviews(
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_READ))],
    session: SessionDep,
    type: Annotated[str | None, Query(pattern="^(" + "|".join(reviews.PROBLEM_TYPES) + ")$")] = None,
    status: Annotated[str | None, Query(pattern="^(open|needs_evidence|resolved)$")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    after_id: Annotated[Offset, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProblemPage:
    rows = reviews.list_problems(
        session, caller, kind=type, status=status, region=region, after_id=after_id, limit=limit
    )
    return ProblemPage(
        items=[ProblemSummary(**_summary(p)) for p in rows],
        next_after_id=rows[-1].id if len(rows) == limit else None,
        counts=reviews.count_problems(session, caller),
    )


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
    session: Session, deps: service.RegistryDeps, problem: ProblemRecord, caller: Caller
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
    hidden = {pid for pid, p in persons.items() if not reviews.within(caller, p)}

    def view(person_id: int) -> PersonView:
        person = persons[person_id]
        grade = grades.get(person_id)
        return (
            masked_person_view(person, grade=grade)
            if person_id in hidden
            else person_view(person, grade=grade)
        )

    filed_here = reviews.files_here(caller, problem)
    submission = problems.stored_submission(problem, deps.keyring) if filed_here else None
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
    merge = session.exec(select(Merge).where(Merge.problem_id == problem.id)).first()
    result = persons.get(problem.result_person_id or 0) or (
        people.get_person(session, problem.result_person_id) if problem.result_person_id else None
    )
    summary = _summary(problem)
    if not filed_here:
        # The other side of the case sees where it was filed only as a province.
        summary.update(region=problem.region[:2], school_code=None)
    return ProblemDetail(
        **summary,
        subject=view(problem.subject_person_id) if problem.subject_person_id in persons else None,
        submitted=submitted,
        candidates=[view(pid) for pid in reviews.candidate_ids(problem) if pid in persons],
        explanation=explanation,
        decision_note=problem.decision_note,
        result_code=mask_code(result.current_code)
        if result is not None and reviews.within(caller, result)
        else None,
        merge_id=merge.id if merge else None,
    )


@router.post("/v1/reviews", response_model=ProblemSummary, status_code=201)
def report_duplicate(
    body: DuplicateReport,
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_WRITE))],
    session: SessionDep,
    deps: DepsDep,
) -> ProblemSummary:
    """Report persons who hold codes and seem to be one person; opens a possible-duplicate record."""
    problem = reviews.report_duplicate(session, deps, caller, body.codes, body.note)
    return ProblemSummary(**_summary(problem))


@router.get("/v1/reviews/{problem_id}", response_model=ProblemDetail)
def get_review(
    problem_id: RowId,
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_READ))],
    session: SessionDep,
    deps: DepsDep,
) -> ProblemDetail:
    problem = reviews.get_problem(session, caller, problem_id)
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


@router.post("/v1/reviews/{problem_id}/decision", response_model=DecisionResponse)
def decide(
    problem_id: RowId,
    body: DecisionRequest,
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_WRITE))],
    session: SessionDep,
    deps: DepsDep,
) -> DecisionResponse:
    result = reviews.decide(
        session, deps, caller, problem_id, body.decision, survivor_id=body.survivor_id, note=body.note
    )
    return DecisionResponse(
        problem_id=problem_id,
        status=result.problem.status,
        decision=body.decision,
        code=mask_code(result.code),
        merge_id=result.merge_id,
    )


@router.post("/v1/merges/{merge_id}/undo", response_model=MergeResponse)
def undo_merge(
    merge_id: RowId,
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_WRITE))],
    session: SessionDep,
) -> MergeResponse:
    merge = reviews.undo_merge(session, caller, merge_id)
    survivor = people.get_person(session, merge.survivor_id)
    restored = people.get_person(session, merge.merged_id)
    if survivor is None or restored is None or merge.undone_at is None:
        raise NotFound("no such merge")
    return MergeResponse(
        merge_id=merge_id,
        survivor_code=str(mask_code(survivor.current_code)),
        restored_code=str(mask_code(restored.current_code)),
        undone_at=merge.undone_at,
    )


@router.post("/v1/students/{code}/corrections")
def correct_record(
    code: StudentCode,
    request: CorrectionRequest,
    caller: Annotated[Caller, Depends(require_scope(Scope.STUDENTS_WRITE))],
    ctx: ContextDep,
    deps: DepsDep,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Correct a student's recorded identity on evidence: ``corrected`` or ``unchanged`` (200),
    ``review_required`` (202: the corrected ID number is another person's), 404, 409 or 422."""
    answer = corrections.correct_record(ctx.engine, deps, caller, code, request, idempotency_key)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("/v1/students/{code}/corrections", response_model=CorrectionHistory)
def list_corrections(
    code: StudentCode,
    caller: Annotated[Caller, Depends(require_scope(Scope.STUDENTS_READ))],
    session: SessionDep,
) -> CorrectionHistory:
    """Every correction of the student: which fields, why, on what evidence, by whom (never the values)."""
    current, rows = corrections.list_corrections(session, caller, code)
    asked = {code}
    return CorrectionHistory(
        code=str(disclosed_code(current, supplied=asked)),
        corrections=[
            CorrectionOut(
                changed_fields=r.changed_fields.split(),
                reason=r.reason,
                evidence_ref=r.evidence_ref,
                code=str(disclosed_code(r.code, supplied=asked)),
                corrected_by=r.corrected_by,
                corrected_at=r.corrected_at,
            )
            for r in rows
        ],
    )
