"""The brute-force limit on POST /v1/token: per client id and per source address, in the database.

Time is moved by writing the counters' ``last_failure_at`` back, never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlmodel import Session

from gateway.auth import repository, service
from gateway.auth.throttle import KeyKind, source_address
from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.db import build_engine
from gateway.errors import NotAuthenticated
from gateway.settings import Settings
from tests.fixtures.api import request_token


def _client(session: Session) -> tuple[str, str]:
    created = service.create_client(session, name="x", role="province", jurisdiction="41", scopes="all")
    session.commit()
    return created.client.id, created.secret


def _fail(api: TestClient, client_id: str, times: int, **headers: str) -> None:
    for _ in range(times):
        reply = request_token(api, client_id, "not the secret", headers)
        assert reply.status_code == 401, reply.text


def _counter(session: Session, kind: str, key: str) -> int | None:
    row = session.execute(
        text("SELECT failures FROM auth_throttle WHERE kind = :kind AND key = :key"),
        {"kind": kind, "key": key},
    ).first()
    return None if row is None else int(row[0])


def _age_counters(session: Session, seconds: float) -> None:
    """Pretend every counted failure happened ``seconds`` earlier."""
    session.execute(
        text("UPDATE auth_throttle SET last_failure_at = :when"),
        {"when": utcnow() - timedelta(seconds=seconds)},
    )
    session.commit()


def test_wrong_secrets_lock_the_client_id_even_against_the_right_secret(
    api: TestClient, session: Session, settings: Settings
) -> None:
    client_id, secret = _client(session)
    _fail(api, client_id, settings.signin_client_failures)
    locked = request_token(api, client_id, "not the secret")
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(locked.headers["Retry-After"]) <= settings.signin_lockout_seconds
    # The right secret is not even checked: a 200 here would tell a guesser he had found it.
    right = request_token(api, client_id, secret)
    assert right.status_code == 429 and "Retry-After" in right.headers


def test_an_unknown_id_is_counted_and_answered_like_a_known_one(
    api: TestClient, session: Session, settings: Settings
) -> None:
    known, _ = _client(session)
    replies = {}
    for client_id in (known, "cl_" + "0" * 24):
        statuses = [
            request_token(api, client_id, "guess").status_code for _ in range(settings.signin_client_failures)
        ]
        locked = request_token(api, client_id, "guess")
        replies[client_id] = (statuses, locked.status_code, locked.json()["detail"], locked.json()["type"])
    assert replies[known] == replies["cl_" + "0" * 24]
    assert replies[known][1] == 429


def test_unknown_and_known_ids_run_the_same_scrypt_work(api: TestClient, session: Session) -> None:
    known, _ = _client(session)
    work = []
    for client_id in (known, "cl_nobody"):
        before = (service.SCRYPT_WORK.derivations, service.SCRYPT_WORK.cost)
        assert request_token(api, client_id, "guess").status_code == 401
        after = (service.SCRYPT_WORK.derivations, service.SCRYPT_WORK.cost)
        work.append((after[0] - before[0], after[1] - before[1]))
    assert work[0] == work[1]
    assert work[0][0] == 1 and work[0][1] > 0


def test_no_scrypt_runs_while_locked(api: TestClient, session: Session, settings: Settings) -> None:
    client_id, secret = _client(session)
    _fail(api, client_id, settings.signin_client_failures)
    before = service.SCRYPT_WORK.derivations
    for attempt in ("guess", secret, "another guess"):
        assert request_token(api, client_id, attempt).status_code == 429
    assert service.SCRYPT_WORK.derivations == before
    # Refused attempts are not counted either: hammering a locked id does not lengthen its lock.
    assert _counter(session, "client", client_id) == settings.signin_client_failures


def test_the_address_is_locked_after_failures_across_many_ids(
    api: TestClient, session: Session, settings: Settings
) -> None:
    settings.signin_address_failures = 4
    client_id, secret = _client(session)
    for n in range(settings.signin_address_failures):
        _fail(api, f"cl_sprayed_{n}", 1)
    assert request_token(api, "cl_sprayed_new", "guess").status_code == 429
    assert request_token(api, client_id, secret).status_code == 429
    # Another address is not locked, and the client id itself has no failures.
    elsewhere = TestClient(api.app, client=("192.0.2.10", 40000))
    assert request_token(elsewhere, client_id, secret).status_code == 200


def test_the_lock_expires_and_a_further_failure_doubles_it(
    api: TestClient, session: Session, settings: Settings
) -> None:
    client_id, secret = _client(session)
    _fail(api, client_id, settings.signin_client_failures)
    assert request_token(api, client_id, secret).status_code == 429
    _age_counters(session, settings.signin_lockout_seconds + 1)
    _fail(api, client_id, 1)  # one more failure right after the lock: locked again, twice as long
    again = request_token(api, client_id, secret)
    assert again.status_code == 429
    assert (
        settings.signin_lockout_seconds
        < int(again.headers["Retry-After"])
        <= 2 * settings.signin_lockout_seconds
    )
    _age_counters(session, 2 * settings.signin_lockout_seconds + 1)
    assert request_token(api, client_id, secret).status_code == 200


def test_a_success_forgets_the_client_ids_failures_not_the_addresss(
    api: TestClient, session: Session, settings: Settings
) -> None:
    client_id, secret = _client(session)
    _fail(api, client_id, settings.signin_client_failures - 1)
    assert request_token(api, client_id, secret).status_code == 200
    assert _counter(session, "client", client_id) is None
    assert _counter(session, "address", "testclient") == settings.signin_client_failures - 1
    _fail(api, client_id, settings.signin_client_failures - 1)  # counting starts again from zero


def test_failures_are_forgotten_after_a_quiet_spell_and_old_counters_pruned(
    api: TestClient, session: Session, settings: Settings
) -> None:
    client_id, _ = _client(session)
    _fail(api, client_id, settings.signin_client_failures - 1)
    _fail(api, "cl_someone_else", 1)
    _age_counters(session, settings.signin_forget_seconds + 1)
    _fail(api, client_id, 1)
    assert _counter(session, "client", client_id) == 1
    assert _counter(session, "address", "testclient") == 1
    assert _counter(session, "client", "cl_someone_else") is None


def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    api: TestClient, app_context: AppContext, settings: Settings
) -> None:
    settings.signin_address_failures = 2
    # Not trusted (the default): X-Forwarded-For is ignored, every attempt counts on the peer.
    _fail(api, "cl_a", 1, **{"X-Forwarded-For": "203.0.113.1"})
    _fail(api, "cl_b", 1, **{"X-Forwarded-For": "203.0.113.2"})
    assert request_token(api, "cl_c", "guess", {"X-Forwarded-For": "203.0.113.3"}).status_code == 429

    settings.trusted_proxies = ["10.9.0.0/16"]
    proxy = TestClient(api.app, client=("10.9.0.5", 40000))
    _fail(proxy, "cl_d", 2, **{"X-Forwarded-For": "203.0.113.7"})
    # Whatever the client writes on the left, the hop the proxy saw is the one counted.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert request_token(proxy, "cl_e", "guess", spoofed).status_code == 429
    assert request_token(proxy, "cl_f", "guess", {"X-Forwarded-For": "203.0.113.8"}).status_code == 401


def test_a_client_id_with_control_characters_is_refused_naming_the_field(
    api: TestClient, session: Session
) -> None:
    reply = request_token(api, "cl_\x00abc", "guess")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "client_id"
    assert session.execute(text("SELECT count(*) FROM auth_throttle")).scalar_one() == 0


def test_source_address_rules() -> None:
    trusted = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]
    assert source_address("192.0.2.1", ["198.51.100.9"], []) == "192.0.2.1"
    assert source_address("192.0.2.1", ["198.51.100.9"], trusted) == "192.0.2.1"
    assert source_address("10.0.0.2", ["198.51.100.9, 10.0.0.3"], trusted) == "198.51.100.9"
    assert source_address("10.0.0.2", ["1.2.3.4, 198.51.100.9", "10.0.0.3"], trusted) == "198.51.100.9"
    assert source_address("10.0.0.2", [], trusted) == "10.0.0.2"
    assert source_address("10.0.0.2", ["10.1.1.1"], trusted) == "10.1.1.1"
    assert source_address("2001:db8:1:2:aaaa::1", [], []) == "2001:db8:1:2::/64"
    assert source_address("::ffff:192.0.2.4", [], []) == "192.0.2.4"
    assert source_address(None, [], []) == "unknown"
    assert source_address("10.0.0.2", ["not-an-address"], trusted) == "not-an-address"


def test_bad_throttle_settings_are_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(data_dir=tmp_path, trusted_proxies="10.0.0.0/8, proxy.example")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="signin_forget_seconds"):
        Settings(data_dir=tmp_path, signin_forget_seconds=60, signin_max_lockout_seconds=900)
    parsed = Settings(data_dir=tmp_path, trusted_proxies="10.0.0.0/8, ::1")  # type: ignore[arg-type]
    assert parsed.trusted_proxies == ["10.0.0.0/8", "::1"]


# Concurrency: several processes over one PostgreSQL must count every failure exactly once.


@pytest.fixture
def two_engines(fresh_db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines over one database: two gateway processes, each with its own pool."""
    engines = (build_engine(fresh_db_url, pool_size=8), build_engine(fresh_db_url, pool_size=8))
    yield engines
    for engine in engines:
        engine.dispose()


def _hammer(engines: tuple[Engine, Engine], threads: int, work: Callable[[Engine, int], None]) -> None:
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            work(engines[n % 2], n)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors


@pytest.mark.postgres
def test_concurrent_failures_from_two_processes_are_counted_exactly(
    two_engines: tuple[Engine, Engine],
) -> None:
    threads, each = 8, 50
    now = utcnow()

    def work(engine: Engine, n: int) -> None:
        for _ in range(each):
            with Session(engine) as s:
                keys = {KeyKind.CLIENT: "cl_target", KeyKind.ADDRESS: f"198.51.100.{n}"}
                repository.record_failure(s, keys, utcnow(), forget_before=now - timedelta(hours=1))
                repository.prune_failures(s, before=now - timedelta(hours=1))
                s.commit()

    _hammer(two_engines, threads, work)
    with Session(two_engines[0]) as s:
        assert _counter(s, "client", "cl_target") == threads * each
        assert all(_counter(s, "address", f"198.51.100.{n}") == each for n in range(threads))


@pytest.mark.postgres
def test_concurrent_wrong_secrets_through_the_service_are_counted_exactly(
    two_engines: tuple[Engine, Engine], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, signin_client_failures=1000, signin_address_failures=1000)
    with Session(two_engines[0]) as s:
        client_id, _ = _client(s)
    threads, each = 6, 4

    def work(engine: Engine, n: int) -> None:
        for _ in range(each):
            with Session(engine) as s, pytest.raises(NotAuthenticated):
                service.check_credentials(
                    s, settings, client_id=client_id, client_secret="guess", address="198.51.100.77"
                )

    _hammer(two_engines, threads, work)
    with Session(two_engines[1]) as s:
        assert _counter(s, "client", client_id) == threads * each
        assert _counter(s, "address", "198.51.100.77") == threads * each
