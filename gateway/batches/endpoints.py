"""Bulk registration over HTTP: submit a file, follow its progress, download its per-row results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.batches import collection, service
from gateway.batches.parsing import MEDIA_TYPES, decode_upload, format_of_media_type
from gateway.batches.schemas import (
    BatchAccepted,
    BatchStatus,
    CollectionQueue,
    ReviewRequest,
    SubmissionOut,
)
from gateway.schemas import PlainText

router = APIRouter(tags=["batches"])

BatchCaller = Annotated[Caller, Depends(require_scope(Scope.BATCHES_WRITE))]
Reviewer = Annotated[Caller, Depends(require_scope(Scope.COLLECTION_REVIEW))]
BatchId = Annotated[PlainText, Path(max_length=40)]
Replaces = Annotated[
    PlainText | None,
    Query(
        max_length=40,
        description="the returned submission this one corrects (an entry clerk's resubmission)",
    ),
]


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise service.PayloadTooLarge(f"a batch file may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    # Counted while streaming: a chunked upload has no Content-Length to check up front.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise service.PayloadTooLarge(f"a batch file may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/batches",
    status_code=202,
    response_model=BatchAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES},
        }
    },
)
async def submit_batch(
    request: Request, caller: BatchCaller, ctx: ContextDep, replaces: Replaces = None
) -> JSONResponse:
    """Submit a CSV (header row) or NDJSON file of up to 100,000 registrations; 202 with a status URL.

    Submitted by a named entry clerk (``X-Staff-Id`` or a console session), the file is one school's
    submission: held, unrun, until its review levels accept it (``review_step`` submitted)."""
    fmt = format_of_media_type(request.headers.get("content-type"))
    if fmt is None:
        raise service.UnsupportedMediaType(f"send the file as one of: {', '.join(MEDIA_TYPES)}")
    data = await _read_capped(request, service.MAX_BATCH_BYTES)
    # Decoding, encrypting and storing up to 100,000 rows is CPU and I/O work: off the event loop.
    accepted = await run_in_threadpool(
        lambda: service.submit_batch(
            ctx.engine, ctx.keyring, caller, decode_upload(data), fmt, replaces=replaces
        )
    )
    if accepted.status == "queued":
        service.run_in_background(
            ctx.services.jobs, ctx.engine, ctx.services.registry, accepted.id, settings=ctx.settings
        )
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=202, headers={"Location": accepted.status_url}
    )


@router.get("/v1/batches/{batch_id}", response_model=BatchStatus)
def get_batch(batch_id: BatchId, caller: BatchCaller, session: SessionDep) -> BatchStatus:
    """A batch's status, rows done and counts per outcome (only its submitter or a central client)."""
    return service.batch_status(session, caller, batch_id)


@router.get(
    "/v1/batches/{batch_id}/results.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the results"}},
)
def get_results(batch_id: BatchId, caller: BatchCaller, session: SessionDep) -> Response:
    """row_number, record_id, outcome, code, problem_id, errors for every row (pending until done)."""
    content = service.results_csv(session, caller, batch_id)
    return Response(
        content=content.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{batch_id}-results.csv"'},
    )


@router.post("/v1/batches/{batch_id}/reviews", response_model=SubmissionOut)
async def review_batch(
    batch_id: BatchId, body: ReviewRequest, caller: Reviewer, ctx: ContextDep
) -> SubmissionOut:
    """Take the step a school's submission waits for: accept it, or reject it back to the school with a
    reason (for the whole, or per row). Only a named person of that step's level, inside whose
    jurisdiction the school lies; an accepted submission is then run."""
    reviewed = await run_in_threadpool(
        lambda: collection.review_submission(
            ctx.engine,
            caller,
            batch_id,
            decision=collection.Decision(body.decision),
            reason=body.reason,
            rows=[collection.RowReason(r.row_number, r.reason) for r in body.rows],
        )
    )
    if reviewed.step == collection.ReviewStep.ACCEPTED:
        service.run_in_background(
            ctx.services.jobs, ctx.engine, ctx.services.registry, batch_id, settings=ctx.settings
        )
    return reviewed


@router.get("/v1/collection/queue", response_model=CollectionQueue)
def collection_queue(caller: Reviewer, session: SessionDep) -> CollectionQueue:
    """The submissions waiting for the caller's level in their jurisdiction, the longest waiting first
    (a named reviewer: their own step; a caller acting for its client: every waiting submission)."""
    waiting = collection.queue(session, caller)
    return CollectionQueue(submissions=collection.present(session, waiting))
