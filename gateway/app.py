"""The application factory: builds the FastAPI app, and at start-up the engine, keys and clients.

Nothing happens at import time. ``create_app(settings)`` wires routers and middleware; the lifespan
builds the process's context through ``gateway.wiring`` (migrations when configured, the engine, the
keys, the shared services) and resumes the background work a stopped process left.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway import __version__
from gateway.audit.endpoints import router as audit_router
from gateway.auth.endpoints import router as auth_router
from gateway.auth.scopes import role_scope_table
from gateway.batches.endpoints import router as batches_router
from gateway.console.endpoints import STATIC_DIR
from gateway.console.endpoints import router as console_router
from gateway.console.security import ConsoleSecurityHeaders
from gateway.context import AppContext
from gateway.handoff.endpoints import router as handoff_router
from gateway.identity.endpoints import router as identity_router
from gateway.idgen.endpoints import router as codes_router
from gateway.logs import configure_logging
from gateway.observability import Metrics, install_request_middleware
from gateway.ops.endpoints import router as ops_router
from gateway.problems import install_error_handlers
from gateway.registry.endpoints import router as registry_router
from gateway.reports.endpoints import router as reports_router
from gateway.schools.endpoints import router as schools_router
from gateway.settings import Settings
from gateway.students.endpoints import router as students_router
from gateway.wiring import build_context, close_context, resume_in_background

logger = logging.getLogger(__name__)

# File uploads, which read their bodies under their own, larger cap (MAX_BATCH_BYTES).
UPLOAD_ROUTES = frozenset({("POST", "/v1/batches"), ("POST", "/v1/handoff/intakes")})


def create_app(settings: Settings | None = None, context: AppContext | None = None) -> FastAPI:
    """Build the app. Tests pass a ready ``context``; the server builds one in the lifespan."""
    settings = settings or (context.settings if context else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        ctx = context or build_context(settings)
        app.state.ctx = ctx
        if ctx.services.verifier is not None:
            ctx.services.verifier.report_to(app.state.metrics.adapters)
        anyio.to_thread.current_default_thread_limiter().total_tokens = ctx.settings.request_threads
        if owned:
            # Batches and exports left unfinished by a stopped process carry on where they were.
            resume_in_background(ctx)
        logger.info("gateway started", extra={"event": "startup"})
        try:
            yield
        finally:
            if owned:
                close_context(ctx)

    app = FastAPI(
        title="Student Identity Gateway",
        version=__version__,
        lifespan=lifespan,
        description=(
            "Lifelong national student codes, identity matching, verification and handoff.\n\n"
            "Every caller has a role, a jurisdiction and scopes. A role may only ever hold the scopes "
            "ticked for it below (`all` means all of them); a record outside the caller's jurisdiction "
            "answers as if it did not exist.\n\n" + role_scope_table()
        ),
    )
    if context is not None:
        app.state.ctx = context
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    install_request_middleware(app, metrics, max_body_bytes=settings.max_body_bytes, uploads=UPLOAD_ROUTES)
    app.add_middleware(ConsoleSecurityHeaders, settings=settings)
    app.include_router(ops_router)
    app.include_router(auth_router)
    app.include_router(audit_router)
    app.include_router(codes_router)
    app.include_router(identity_router)
    app.include_router(registry_router)
    app.include_router(students_router)
    app.include_router(schools_router)
    app.include_router(batches_router)
    app.include_router(handoff_router)
    app.include_router(reports_router)
    app.include_router(console_router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory gateway.app:create_app_from_env``."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
