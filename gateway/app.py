"""The application factory: builds the FastAPI app, and at start-up the engine, keys and clients.

Nothing happens at import time. ``create_app(settings)`` wires routers and middleware; the lifespan
applies migrations (when configured), opens the engine and loads the keys.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway import __version__, sealing
from gateway.audit.endpoints import router as audit_router
from gateway.auth.endpoints import router as auth_router
from gateway.auth.scopes import role_scope_table
from gateway.batches.endpoints import router as batches_router
from gateway.console.endpoints import STATIC_DIR
from gateway.console.endpoints import router as console_router
from gateway.console.security import ConsoleSecurityHeaders
from gateway.context import AppContext
from gateway.db import build_engine, upgrade_database
from gateway.handoff.endpoints import router as handoff_router
from gateway.identity.endpoints import router as identity_router
from gateway.idgen.endpoints import router as codes_router
from gateway.keyring import KeyRing, load_keyring
from gateway.observability import Metrics, configure_logging, install_request_middleware
from gateway.ops.endpoints import router as ops_router
from gateway.problems import install_error_handlers
from gateway.registry.endpoints import router as registry_router
from gateway.registrykeys import check_registry_keys
from gateway.reports.endpoints import router as reports_router
from gateway.settings import Settings
from gateway.students.endpoints import router as students_router

if TYPE_CHECKING:
    from gateway.adapters.orchestrator import VerificationOrchestrator

logger = logging.getLogger(__name__)

# File uploads, which read their bodies under their own, larger cap (MAX_BATCH_BYTES).
UPLOAD_ROUTES = frozenset({("POST", "/v1/batches"), ("POST", "/v1/handoff/intakes")})


def build_verifier(settings: Settings, keyring: KeyRing) -> VerificationOrchestrator | None:
    if not settings.verification_enabled:
        return None
    from gateway.adapters.orchestrator import build_orchestrator

    return build_orchestrator(settings.adapters, hmac_key=keyring.hmac_key)


def attach_services(ctx: AppContext, verifier: VerificationOrchestrator | None) -> AppContext:
    """Build what the workflows share: the trained matcher (loaded once) and the verifier."""
    from gateway.matching import load_config, load_model
    from gateway.registry.service import RegistryDeps

    ctx.services["registry"] = RegistryDeps(
        keyring=ctx.keyring,
        model=load_model(
            ctx.settings.matching_model_file, config=load_config(ctx.settings.matching_config_file)
        ),
        verifier=verifier,
        verify_deadline=ctx.settings.registration_verify_deadline,
    )
    if verifier is not None:
        ctx.services["verifier"] = verifier
    from gateway.batches.service import BatchRunner
    from gateway.handoff.egress import TargetPolicy
    from gateway.handoff.worker import HandoffWorker
    from gateway.students.endpoints import VERIFICATION_LIMITER
    from gateway.students.ratelimit import TokenBucketLimiter

    ctx.services["batches"] = BatchRunner(ctx.engine, ctx.services["registry"], settings=ctx.settings)
    ctx.services["handoff"] = HandoffWorker()
    ctx.services["webhooks"] = TargetPolicy(allow_loopback=ctx.settings.webhooks.allow_loopback)
    ctx.services[VERIFICATION_LIMITER] = TokenBucketLimiter(
        burst=ctx.settings.verification_rate_burst,
        rate_per_second=ctx.settings.verification_rate_per_second,
    )
    return ctx


def build_context(settings: Settings) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keyring = load_keyring(settings)
    sealing.install_from(keyring)  # before migrating: a migration may seal or open stored codes
    if settings.migrate_on_start:
        upgrade_database(settings.resolved_database_url)
    engine = build_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    check_registry_keys(engine, keyring)  # one set of keys per registry, or no start
    ctx = AppContext(settings=settings, engine=engine, keyring=keyring)
    return attach_services(ctx, build_verifier(settings, keyring))


def close_context(ctx: AppContext) -> None:
    for name in ("batches", "handoff"):
        runner = ctx.services.get(name)
        if runner is not None:
            runner.close()
    verifier = ctx.services.get("verifier")
    if verifier is not None:
        verifier.close()
    ctx.engine.dispose()


def create_app(settings: Settings | None = None, context: AppContext | None = None) -> FastAPI:
    """Build the app. Tests pass a ready ``context``; the server builds one in the lifespan."""
    settings = settings or (context.settings if context else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        ctx = context or build_context(settings)
        app.state.ctx = ctx
        anyio.to_thread.current_default_thread_limiter().total_tokens = ctx.settings.request_threads
        if owned:
            # Batches and exports left unfinished by a stopped process carry on where they were.
            ctx.services["batches"].submit_unfinished()
            ctx.services["handoff"].submit_unfinished_exports(ctx.engine, ctx.keyring, ctx.settings)
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
