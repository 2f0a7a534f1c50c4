"""Console sign-in has the brute-force limit of POST /v1/token, on the same counters."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.context import AppContext
from gateway.settings import Settings
from tests.fixtures.api import request_token
from tests.fixtures.console import county_reviewer


def _login(console: TestClient, client_id: str, secret: str) -> int:
    reply = console.post(
        "/console/login", data={"client_id": client_id, "client_secret": secret}, follow_redirects=False
    )
    return reply.status_code


def test_wrong_secrets_lock_the_console_sign_in(
    console: TestClient, committed_context: AppContext, settings: Settings
) -> None:
    reviewer = county_reviewer(console, committed_context)
    for _ in range(settings.signin_client_failures):
        assert _login(console, reviewer.client_id, "nope") == 401
    locked = console.post(
        "/console/login", data={"client_id": reviewer.client_id, "client_secret": reviewer.secret}
    )
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= settings.signin_lockout_seconds
    assert "try again" in locked.text and "gw_console" not in locked.cookies
    # The API refuses the same id: the two share their counters.
    token = request_token(console, reviewer.client_id, reviewer.secret)
    assert token.status_code == 429


def test_failures_on_the_api_count_towards_the_console_lock(
    console: TestClient, committed_context: AppContext, settings: Settings
) -> None:
    reviewer = county_reviewer(console, committed_context)
    for _ in range(settings.signin_client_failures - 1):
        reply = request_token(console, reviewer.client_id, "x")
        assert reply.status_code == 401
    assert _login(console, reviewer.client_id, "nope") == 401
    assert _login(console, reviewer.client_id, reviewer.secret) == 429


def test_the_console_address_limit_spans_client_ids(
    console: TestClient, committed_context: AppContext, settings: Settings
) -> None:
    settings.signin_address_failures = 3
    reviewer = county_reviewer(console, committed_context)
    for n in range(settings.signin_address_failures):
        assert _login(console, f"cl_guess_{n}", "nope") == 401
    assert _login(console, reviewer.client_id, reviewer.secret) == 429
