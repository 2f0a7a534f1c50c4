"""The application factory: builds the FastAPI app, and at start-up the engine, keys and clients.

Nothing happens at import time. ``create_app(settings)`` wires routers and middleware; the lifespan
applies migrations (when configured), opens the engine and loads the keys.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import __version__
from gateway.auth.endpoints import router as auth_router
from gateway.context import AppContext
from gateway.db import build_engine, upgrade_database
from gateway.errors import install_error_handlers
from gateway.identity.endpoints import router as identity_router
from gateway.idgen.endpoints import router as codes_router
from gateway.keyring import load_keyring
from gateway.observability import Metrics, configure_logging, install_request_middleware
from gateway.ops.endpoints import router as ops_router
from gateway.settings import Settings

logger = logging.getLogger(__name__)


def build_context(settings: Settings) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        upgrade_database(settings.resolved_database_url)
    engine = build_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    return AppContext(settings=settings, engine=engine, keyring=load_keyring(settings))


def create_app(settings: Settings | None = None, context: AppContext | None = None) -> FastAPI:
    """Build the app. Tests pass a ready ``context``; the server builds one in the lifespan."""
    settings = settings or (context.settings if context else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        ctx = context or build_context(settings)
        app.state.ctx = ctx
        logger.info("gateway started", extra={"event": "startup"})
        try:
            yield
        finally:
            if owned:
                ctx.engine.dispose()

    app = FastAPI(
        title="Student Identity Gateway",
        version=__version__,
        lifespan=lifespan,
        description="Lifelong national student codes, identity matching, verification and handoff.",
    )
    if context is not None:
        app.state.ctx = context
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    install_request_middleware(app, metrics)
    app.include_router(ops_router)
    app.include_router(auth_router)
    app.include_router(codes_router)
    app.include_router(identity_router)
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory gateway.app:create_app_from_env``."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
