"""Console sign-in of named people has the brute-force limit of POST /v1/token: the same policy,
counted per login and on the same per-address counters."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.context import AppContext
from gateway.settings import Settings
from tests.fixtures.api import request_token
from tests.fixtures.console import county_reviewer


def _login(console: TestClient, login: str, password: str) -> int:
    reply = console.post(
        "/console/login", data={"login": login, "password": password}, follow_redirects=False
    )
    return reply.status_code


def test_wrong_passwords_lock_the_console_sign_in(
    console: TestClient, committed_context: AppContext, settings: Settings
) -> None:
    reviewer = county_reviewer(console, committed_context)
    for _ in range(settings.signin_client_failures):
        assert _login(console, reviewer.person.login, "nope") == 401
    locked = console.post("/console/login", data=reviewer.login)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= settings.signin_lockout_seconds
    assert "try again" in locked.text and "gw_console" not in locked.cookies
    # Another person signing in from the same place is not locked by it: the lock is on the login
    # (the address has fewer failures than its own, higher limit).
    assert settings.signin_client_failures < settings.signin_address_failures
    other = county_reviewer(console, committed_context, name="王芳")
    assert console.post("/console/login", data=other.login, follow_redirects=False).status_code == 303


def test_the_console_address_limit_spans_logins_and_client_ids(
    console: TestClient, committed_context: AppContext, settings: Settings
) -> None:
    settings.signin_address_failures = 3
    reviewer = county_reviewer(console, committed_context)
    for n in range(settings.signin_address_failures - 1):
        assert _login(console, f"guess.{n}", "nope") == 401
    # A failure on the API counts against the same address.
    assert request_token(console, "cl_guess", "nope").status_code == 401
    assert _login(console, reviewer.person.login, reviewer.person.password) == 429
    assert request_token(console, reviewer.client_id, reviewer.client.secret).status_code == 429
