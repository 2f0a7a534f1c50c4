"""Fixtures of the console tests: the app with the console and reports routers, and problem records."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from gateway.console.endpoints import STATIC_DIR
from gateway.console.endpoints import router as console_router
from gateway.context import AppContext
from gateway.reports.endpoints import router as reports_router
from tests.fixtures.api import ApiCaller, register_caller
from tests.registry.test_registration import CHILD, _citizen


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


@pytest.fixture
def province(committed_api: TestClient, committed_context: AppContext) -> ApiCaller:
    return register_caller(committed_api, committed_context.engine, role="province", jurisdiction="41")


def county_reviewer(api: TestClient, ctx: AppContext, county: str = "410102") -> ApiCaller:
    return register_caller(
        api,
        ctx.engine,
        role="reviewer",
        jurisdiction=county,
        scopes="reviews:read reviews:write reports:read codes:read",
    )


def _register(api: TestClient, caller: ApiCaller, body: dict[str, Any], key: str) -> dict[str, Any]:
    reply = api.post("/v1/registrations", json=body, headers={**caller.headers, "Idempotency-Key": key})
    assert reply.status_code in (200, 201, 202), reply.text
    result: dict[str, Any] = reply.json()
    return result


def held_registration(
    api: TestClient,
    province: ApiCaller,
    county: str = "410102",
    serial: str = "001",
    birth_date: str = "2016-09-01",
) -> int:
    """A child registered at a school of ``county``, then a record that is only possibly them."""
    school = {"school_code": county + "0001", "school_region": county}
    born = birth_date.replace("-", "")
    child = {
        **CHILD,
        "birth_date": birth_date,
        **school,
        "id_number": _citizen(f"{county}{born}{serial}"),
        "household_region": county,
    }
    _register(api, province, child, f"{county}-{serial}-a")
    maybe = {
        **child,
        "name": "王梓涵",
        "id_type": "none",
        "guardian_name": "王建军",
        # day and month swapped: a date slip the matcher weighs as a possible match
        "birth_date": f"{born[:4]}-{born[6:8]}-{born[4:6]}",
    }
    maybe.pop("id_number")
    held = _register(api, province, maybe, f"{county}-{serial}-b")
    assert held["outcome"] == "review_required", held
    return int(held["problem_id"])
