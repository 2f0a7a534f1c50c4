"""/healthz (no auth), /readyz, /metrics and /.well-known/jwks.json."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.errors import ServiceUnavailable
from gateway.observability import exposition
from gateway.ops import service

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Needs no authentication."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: ContextDep) -> dict[str, str]:
    """Readiness: the database answers. Needs no authentication and discloses nothing."""
    try:
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise ServiceUnavailable("the database is not reachable") from None
    return {"status": "ready"}


@router.get("/.well-known/jwks.json")
def jwks(ctx: ContextDep) -> dict[str, Any]:
    """The public keys that verify tokens and signed handoff responses (public by design)."""
    return ctx.keyring.jwks()


@router.get("/metrics")
def metrics(
    request: Request,
    _caller: Annotated[Caller, Depends(require_scope(Scope.METRICS_READ))],
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    """Prometheus text: request counts and latencies (every process of this machine's in multiprocess
    mode) and, read now from the database, the background queues' backlog and the feed's version."""
    backlog = service.read_backlog(session)
    text = exposition(request.app.state.metrics, backlog, ctx.settings.prometheus_multiproc_dir)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
