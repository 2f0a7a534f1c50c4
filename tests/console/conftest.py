"""Fixtures of the console tests: the committed app, and county reviewers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.context import AppContext
from tests.fixtures.api import ApiCaller, register_caller


@pytest.fixture
def console(committed_api: TestClient) -> TestClient:
    """The committed app (the app factory mounts the console and the reports API)."""
    return committed_api


def county_reviewer(api: TestClient, ctx: AppContext, county: str = "410102") -> ApiCaller:
    return register_caller(
        api,
        ctx.engine,
        role="reviewer",
        jurisdiction=county,
        scopes="reviews:read reviews:write reports:read codes:read",
    )
