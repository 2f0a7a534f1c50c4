"""HTTP edge of the handoff domain: preschool intakes, claims, handoff records, bulk exports, the
change feed, thin webhooks and cross-province transfers.

Every disclosure needs ``X-Purpose`` and ``X-Approval-Ref`` headers (422 naming the header
otherwise) and its JSON body is signed: the ``X-JWS-Signature`` header holds a detached JWS over the
exact body bytes, verifiable with ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.batches.parsing import MEDIA_TYPES, decode_upload, format_of_media_type
from gateway.batches.service import MAX_BATCH_BYTES, PayloadTooLarge, UnsupportedMediaType
from gateway.clock import as_utc
from gateway.context import AppContext
from gateway.errors import FieldError, InvalidInput
from gateway.handoff import claims, exports, feed, intakes, records, transfers, webhooks
from gateway.handoff.disclosure import Disclosure
from gateway.handoff.egress import TargetPolicy
from gateway.handoff.schemas import ClaimRequest, TransferApplication, TransferDecision, WebhookRequest
from gateway.handoff.signing import SIGNATURE_HEADER, canonical_json, sign_detached
from gateway.jobs import Lane
from gateway.schemas import Offset, PlainText, RowId

router = APIRouter(tags=["handoff"])

HandoffWriter = Annotated[Caller, Depends(require_scope(Scope.HANDOFF_WRITE))]
HandoffReader = Annotated[Caller, Depends(require_scope(Scope.HANDOFF_READ))]
FeedReader = Annotated[Caller, Depends(require_scope(Scope.FEED_READ))]
TransferCaller = Annotated[Caller, Depends(require_scope(Scope.TRANSFERS_WRITE))]
# Opaque ids of intakes, exports and subscriptions (``in_``, ``ex_``, ``wh_`` + hex).
OpaqueId = Annotated[PlainText, Path(max_length=40)]


def disclosure(
    purpose: Annotated[
        PlainText,
        Header(alias="X-Purpose", max_length=200, description="Why the records are disclosed."),
    ],
    approval_ref: Annotated[
        PlainText,
        Header(alias="X-Approval-Ref", max_length=200, description="The approval the disclosure rests on."),
    ],
) -> Disclosure:
    """The purpose and approval reference every disclosure must state."""
    errors = []
    values = {}
    for header, given in (("X-Purpose", purpose), ("X-Approval-Ref", approval_ref)):
        value = given.strip()
        if not value:
            errors.append(FieldError(header, "missing", f"{header} is required on every disclosure"))
        elif len(value) > 200:
            errors.append(FieldError(header, "too_long", f"{header} may be at most 200 characters"))
        values[header] = value
    if errors:
        raise InvalidInput(errors=errors)
    return Disclosure(values["X-Purpose"], values["X-Approval-Ref"])


DisclosureDep = Annotated[Disclosure, Depends(disclosure)]


def signed(ctx: AppContext, caller: Caller, data: Any, status_code: int = 200, **headers: str) -> Response:
    body = canonical_json(data)
    signature = sign_detached(ctx.keyring, body, audience=caller.client_id)
    return Response(
        content=body,
        status_code=status_code,
        media_type="application/json",
        headers={SIGNATURE_HEADER: signature, **headers},
    )


# --- preschool intake -------------------------------------------------------------------------


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"an intake file may be at most {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    # Counted while streaming: a chunked upload has no Content-Length to check up front.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/handoff/intakes",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES},
        }
    },
)
async def submit_intake(
    request: Request, caller: HandoffWriter, basis: DisclosureDep, ctx: ContextDep
) -> Response:
    """A preschool registry hands over its leaving children: a CSV or NDJSON registration file whose
    record_id is the preschool's number of each child; 202 with a status URL."""
    fmt = format_of_media_type(request.headers.get("content-type"))
    if fmt is None:
        raise UnsupportedMediaType(f"send the file as one of: {', '.join(MEDIA_TYPES)}")
    data = await _read_capped(request, MAX_BATCH_BYTES)
    intake = await run_in_threadpool(
        lambda: intakes.submit_intake(ctx.engine, ctx.keyring, caller, decode_upload(data), fmt, basis)
    )
    deps = ctx.services.registry
    ctx.services.jobs.submit(
        Lane.HANDOFF, f"intake {intake.id}", lambda: intakes.run_intake(ctx.engine, deps, intake.id)
    )
    url = intakes.intake_path(intake.id)
    body = {"id": intake.id, "status": intake.status, "total_rows": intake.total_rows, "status_url": url}
    return signed(ctx, caller, body, 202, Location=url)


@router.get("/v1/handoff/intakes/{intake_id}")
def get_intake(
    intake_id: OpaqueId,
    caller: HandoffWriter,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """An intake's progress: rows registered, children handed over, outcomes counted."""
    return signed(ctx, caller, intakes.intake_status(session, caller, intake_id))


# --- claims and records -----------------------------------------------------------------------


@router.post("/v1/handoff/claims")
def claim(
    body: ClaimRequest, caller: HandoffWriter, basis: DisclosureDep, session: SessionDep, ctx: ContextDep
) -> Response:
    """Claim a student by code and identity (held anywhere), or by identity alone (only a student
    held inside the caller's jurisdiction): a school enrols a child handed over by a preschool, a
    registry of a later stage admits a graduate. 201 with the handoff record (200 if claimed
    before); 404 ``claim-no-match`` when the claim finds nobody, which is also the answer to every
    refused claim; 409 ``claim-ambiguous`` when it finds several people inside the jurisdiction."""
    result = claims.claim_student(
        session,
        ctx.services.registry,
        caller,
        claims.ClaimInput(
            code=body.code,
            identity=body.identity,
            student_number=body.student_number,
            exam_candidate_number=body.exam_candidate_number,
            school_region=body.school_region,
            effective_date=body.effective_date,
        ),
        basis,
    )
    return signed(ctx, caller, result.record, 201 if result.created else 200)


@router.get("/v1/handoff/records")
def list_records(
    caller: HandoffReader,
    basis: DisclosureDep,
    session: SessionDep,
    ctx: ContextDep,
    page_token: Annotated[PlainText | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The caller's admitted cohort, one page at a time (opaque keyset ``page_token``)."""
    page = records.list_records(session, ctx.keyring, caller, basis, page_token=page_token, limit=limit)
    return signed(ctx, caller, {"records": page.records, "next_page_token": page.next_page_token})


@router.get("/v1/handoff/records/{code}")
def read_record(
    code: Annotated[PlainText, Path(max_length=64)],
    caller: HandoffReader,
    basis: DisclosureDep,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """One admitted student's handoff record by any code they held (404 for anyone not admitted)."""
    return signed(ctx, caller, records.read_record(session, ctx.keyring, caller, code, basis))


# --- bulk export ------------------------------------------------------------------------------


@router.post("/v1/handoff/exports", status_code=202)
def start_export(
    request: Request, caller: HandoffReader, basis: DisclosureDep, session: SessionDep, ctx: ContextDep
) -> Response:
    """Start an export of the whole admitted cohort; 202 with the status URL to poll."""
    export = exports.start_export(session, caller, basis, str(request.url))
    # The job reads the export row in its own transaction: the request's must commit first.
    session.commit()
    export_id = export.id
    policy = exports.ExportPolicy.from_settings(ctx.settings)
    ctx.services.jobs.submit(
        Lane.HANDOFF,
        f"export {export_id}",
        lambda: exports.run_export(ctx.engine, ctx.keyring, policy, export_id),
    )
    url = exports.export_path(export_id)
    return signed(
        ctx,
        caller,
        {"id": export_id, "status": "queued", "status_url": url},
        202,
        **{"Content-Location": url},
    )


@router.get("/v1/handoff/exports/{export_id}")
def export_status(
    export_id: OpaqueId,
    caller: HandoffReader,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """202 with ``X-Progress`` while running; 200 with the manifest when done; 500-free failure report;
    410 once the retention period removed the files."""
    export = exports.get_export(session, caller, export_id)
    if export.status == "expired":
        return signed(
            ctx,
            caller,
            {"id": export.id, "status": "expired", "expired_at": _iso(export.expires_at)},
            410,
        )
    if export.status in ("queued", "running"):
        return Response(status_code=202, headers={"X-Progress": export.status, "Retry-After": "1"})
    if export.status == "failed":
        return signed(ctx, caller, {"id": export.id, "status": "failed", "error": export.error})
    expires = {"expires_at": _iso(export.expires_at)} if export.expires_at else {}
    return signed(
        ctx, caller, {"id": export.id, "status": "done", **expires, **_manifest(export.manifest_json)}
    )


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def _manifest(text: str | None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text or "{}")
    return data


@router.get("/v1/handoff/exports/{export_id}/files/{name}")
def export_file(
    export_id: OpaqueId,
    name: Annotated[str, Path(max_length=80, pattern=r"^[A-Za-z]+-\d+\.ndjson$")],
    caller: HandoffReader,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """One NDJSON file of a finished export, for the client that started it only; signed."""
    store = exports.ExportPolicy.from_settings(ctx.settings).store(ctx.engine, ctx.keyring)
    content = exports.export_file(session, caller, store, export_id, name)
    signature = sign_detached(ctx.keyring, content, audience=caller.client_id)
    return Response(
        content=content, media_type="application/fhir+ndjson", headers={SIGNATURE_HEADER: signature}
    )


# --- change feed ------------------------------------------------------------------------------


@router.get("/v1/feed")
def read_feed(
    caller: FeedReader,
    session: SessionDep,
    ctx: ContextDep,
    since: Annotated[Offset, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> Response:
    """Changes after version ``since`` within the caller's scope, in strictly increasing version order."""
    page = feed.read_feed(session, ctx.keyring, caller, since, limit)
    return signed(
        ctx, caller, {"events": page.events, "next_since": page.next_since, "has_more": page.has_more}
    )


# --- webhooks ---------------------------------------------------------------------------------


def _target_policy(ctx: AppContext) -> TargetPolicy:
    policy = ctx.services.webhooks
    return policy


def _subscription_view(subscription: Any) -> dict[str, Any]:
    return {"id": subscription.id, "url": subscription.url, "since_version": subscription.cursor_version}


@router.post("/v1/webhooks", status_code=201)
def subscribe(body: WebhookRequest, caller: FeedReader, session: SessionDep, ctx: ContextDep) -> Response:
    """Be notified (event type, feed version and subject id only) when the caller's feed grows.
    The ``whsec_`` secret that signs the notifications is shown in this reply only."""
    created = webhooks.subscribe(session, ctx.keyring, caller, body.url, _target_policy(ctx))
    return signed(ctx, caller, {**_subscription_view(created.subscription), "secret": created.secret}, 201)


@router.get("/v1/webhooks")
def list_webhooks(caller: FeedReader, session: SessionDep, ctx: ContextDep) -> Response:
    rows = webhooks.subscriptions_of(session, caller)
    return signed(ctx, caller, {"webhooks": [_subscription_view(s) for s in rows]})


@router.get("/v1/webhooks/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: OpaqueId,
    caller: FeedReader,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """Each notification of a subscription: its status, attempts and the class of its last attempt's
    outcome (delivered, rejected, failed, unreachable, refused_address), never the answer itself."""
    rows = webhooks.deliveries_of(session, caller, subscription_id)
    return signed(
        ctx,
        caller,
        {
            "deliveries": [
                {
                    "id": d.id,
                    "version": d.version,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_outcome": webhooks.last_outcome(d),
                }
                for d in rows
            ]
        },
    )


@router.delete("/v1/webhooks/{subscription_id}", status_code=204)
def unsubscribe(subscription_id: OpaqueId, caller: FeedReader, session: SessionDep) -> Response:
    webhooks.unsubscribe(session, caller, subscription_id)
    return Response(status_code=204)


# --- cross-province transfers -----------------------------------------------------------------


@router.post("/v1/transfers", status_code=201)
def apply_transfer(
    body: TransferApplication, caller: TransferCaller, session: SessionDep, ctx: ContextDep
) -> Response:
    """The receiving school applies for a student of another province with the code, name and birth
    date the family gave it; the student is locked until the transfer completes, is rejected or
    expires at its deadline. A code or identity that does not match is answered as an unknown code;
    the applicant is not shown where the child is held until the holder releases the record."""
    transfer = transfers.apply(
        session,
        ctx.keyring,
        caller,
        transfers.Application(body.code, body.name, body.birth_date, body.school_region, body.note),
    )
    return signed(ctx, caller, transfers.view(session, caller, transfer, supplied=body.code), 201)


@router.get("/v1/transfers")
def list_transfers(
    caller: TransferCaller,
    session: SessionDep,
    ctx: ContextDep,
    overdue: bool = False,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> Response:
    """Transfers touching the caller's jurisdiction; ``overdue=true``: those that expired at their
    deadline; ``open=true``: those still open."""
    rows = transfers.list_transfers(session, caller, overdue=overdue, open_only=open_only)
    return signed(ctx, caller, {"transfers": [transfers.view(session, caller, t) for t in rows]})


@router.get("/v1/transfers/{transfer_id}")
def get_transfer(
    transfer_id: RowId, caller: TransferCaller, session: SessionDep, ctx: ContextDep
) -> Response:
    """One transfer as its parties see it (expired first if past its deadline); 404 outside both sides."""
    transfer = transfers.get_transfer(session, caller, transfer_id)
    return signed(ctx, caller, transfers.view(session, caller, transfer))


@router.post("/v1/transfers/{transfer_id}/decisions")
def decide_transfer(
    transfer_id: RowId, body: TransferDecision, caller: TransferCaller, session: SessionDep, ctx: ContextDep
) -> Response:
    """Approve or reject the current step (only the party whose step it is; the holding side may
    reject at any step). A transfer past its deadline is expired, and that is kept even though the
    decision is then refused (409)."""
    transfers.get_transfer(session, caller, transfer_id)
    session.commit()
    transfer = transfers.decide_step(session, caller, transfer_id, body.decision, body.note)
    return signed(ctx, caller, transfers.view(session, caller, transfer))


@router.post("/v1/transfers/{transfer_id}/pull")
def pull_transfer(
    transfer_id: RowId, caller: TransferCaller, basis: DisclosureDep, session: SessionDep, ctx: ContextDep
) -> Response:
    """The receiving school pulls the released record; the student moves and the transfer completes.
    A transfer past its deadline is expired (kept) and the pull refused (409)."""
    transfers.get_transfer(session, caller, transfer_id)
    session.commit()
    transfer, record = transfers.pull(session, ctx.keyring, caller, transfer_id, basis)
    return signed(ctx, caller, {"transfer": transfers.view(session, caller, transfer), "record": record})
