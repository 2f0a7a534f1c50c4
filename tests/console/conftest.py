"""Fixtures of the console tests: the app with the console and reports routers, and county reviewers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from gateway.console.endpoints import STATIC_DIR
from gateway.console.endpoints import router as console_router
from gateway.context import AppContext
from gateway.reports.endpoints import router as reports_router
from tests.fixtures.api import ApiCaller, register_caller


def mount_console(app: FastAPI) -> FastAPI:
    """Mount the console (and the reports API) unless the app factory already does."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/console/queue" not in paths:
        app.include_router(console_router)
    if "/v1/reports/progress" not in paths:
        app.include_router(reports_router)
    if "/console/static" not in paths:
        app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    return app


@pytest.fixture
def console(committed_api: TestClient) -> TestClient:
    mount_console(committed_api.app)  # type: ignore[arg-type]
    return committed_api


def county_reviewer(api: TestClient, ctx: AppContext, county: str = "410102") -> ApiCaller:
    return register_caller(
        api,
        ctx.engine,
        role="reviewer",
        jurisdiction=county,
        scopes="reviews:read reviews:write reports:read codes:read",
    )
