"""Registrations, real-time search, problem records, decisions and merges over HTTP."""

from __future__ import annotations

from typing import Annotated

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.context import AppContext
from gateway.privacy import disclosed_code, mask_code
from gateway.registry import corrections, outcomes, reviews, service, verification
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


async def registry_deps(ctx: ContextDep) -> service.RegistryDeps:
    deps: service.RegistryDeps = ctx.services.registry
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
    limiter = ctx.services.verification_waits
    if limiter is None:
        limiter = CapacityLimiter(ctx.settings.registration_verification_waits)
        ctx.services.verification_waits = limiter
    return limiter


@router.post("/v1/search", response_model=SearchResponse)
def search(
    caller: Annotated[Caller, Depends(require_scope(Scope.SEARCH_READ))],
    session: SessionDep,
    deps: DepsDep,
    body: SearchRequest,
) -> SearchResponse:
    """Ranked candidates for a record; only persons inside the caller's jurisdiction are shown."""
    found = service.search(session, deps, caller, body.model_dump(exclude_unset=True))
    config = deps.model.config
    return SearchResponse(
        outcome=found.outcome,
        config=f"{config.name}@{config.version}",
        candidates=[
            SearchCandidate(
                code=disclosed_code(h.person.current_code, supplied=found.supplied) or h.person.current_code,
                score=round(h.result.probability, 6),
                band=h.result.band,
                grade=h.result.grade,
                explanation=[
                    FieldScore(field=e.field, level=e.level, weight=round(e.weight, 3))
                    for e in h.result.explanation
                ],
                rules_fired=list(h.result.rules_fired),
            )
            for h in found.shown
        ],
    )


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
        items=[reviews.problem_summary(p) for p in rows],
        next_after_id=rows[-1].id if len(rows) == limit else None,
        counts=reviews.count_problems(session, caller),
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
    return reviews.problem_summary(problem)


@router.get("/v1/reviews/{problem_id}", response_model=ProblemDetail)
def get_review(
    problem_id: RowId,
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_READ))],
    session: SessionDep,
    deps: DepsDep,
) -> ProblemDetail:
    """A problem record as the caller may see it; the read is audited."""
    return reviews.read_problem(session, deps, caller, problem_id)


@router.post("/v1/reviews/{problem_id}/decision", response_model=DecisionResponse)
def review_decision(
    problem_id: RowId,
    body: DecisionRequest,
    caller: Annotated[Caller, Depends(require_scope(Scope.REVIEWS_WRITE))],
    session: SessionDep,
    deps: DepsDep,
) -> DecisionResponse:
    result = reviews.decide_problem(
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
    undone = reviews.undo_merge(session, caller, merge_id)
    return MergeResponse(
        merge_id=merge_id,
        survivor_code=str(mask_code(undone.survivor_code)),
        restored_code=str(mask_code(undone.restored_code)),
        undone_at=undone.undone_at,
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
