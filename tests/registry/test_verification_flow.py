"""Registration against the live mock government systems: promotion, wrong IDs, outages, the worker.

The mocks are real servers on loopback answering from a population the test knows; only they stand
in for the government systems. Our database is the real one (a fresh committed database).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Role, Scope
from gateway.context import AppContext
from gateway.persons.models import Person
from gateway.privacy import mask_code
from gateway.registry import service, verification
from gateway.registry.models import IdempotencyRecord, ProblemRecord, VerificationJob
from gateway.registry.outcomes import Issued
from mocks.faults import FaultPlan
from mocks.population import Population
from mocks.server import RunningMocks
from tests.fixtures.adapters import orchestrator
from tests.fixtures.api import ApiCaller
from tests.fixtures.mocks import reset_faults
from tests.fixtures.registrations import citizen, register
from tests.registry.people import citizens, registration_body


@pytest.fixture
def api(verified_api: TestClient) -> TestClient:
    return verified_api


@pytest.fixture
def registry(verified_registry: ApiCaller) -> ApiCaller:
    return verified_registry


def test_verified_citizen_is_promoted_to_g_at_once(
    api: TestClient, registry: ApiCaller, population: Population
) -> None:
    person = citizens(population)[0]
    answer = register(api, registry, registration_body(person), "g1")
    assert answer["outcome"] == "issued" and answer["verification"] == "verified"
    assert answer["code"] == "G" + person.id_number and answer["promoted_from"].startswith("L")
    lineage = api.get(f"/v1/codes/{answer['promoted_from']}", headers=registry.headers).json()
    assert lineage["current_code"] == mask_code(answer["code"])  # asked by the old code: masked
    assert lineage["lineage"][0]["reason"] == "verified_and_deduplicated"
    # the replay of the same request gives the final answer, not the first half
    again = register(api, registry, registration_body(person), "g1")
    assert again == answer


def test_number_the_register_does_not_know_opens_a_wrong_id_problem(
    api: TestClient, registry: ApiCaller, verified_context: AppContext
) -> None:
    digits = "41010220150302091"
    stranger = {
        "name": "赵无名",
        "gender": "1",
        "birth_date": "2015-03-02",
        "id_type": "resident_id",
        "id_number": citizen(digits),
        "school_region": "410102",
        "school_code": "4101020001",
    }
    answer = register(api, registry, stranger, "w1")
    assert answer["outcome"] == "issued" and answer["verification"] == "failed"
    assert answer["code"].startswith("L")  # the temporary code stays until a reviewer decides
    with Session(verified_context.engine) as s:
        problem = s.get(ProblemRecord, answer["problem_id"])
        assert problem is not None and problem.type == "wrong_id" and problem.status == "open"


def _due_now(context: AppContext) -> None:
    """Every queued verification job due now instead of after its back-off."""
    with Session(context.engine) as s:
        for job in s.exec(select(VerificationJob)).all():
            job.next_attempt_at = job.created_at
            s.add(job)
        s.commit()


def test_outage_leaves_the_code_temporary_and_the_worker_finishes_later(
    api: TestClient,
    registry: ApiCaller,
    population: Population,
    mocks: RunningMocks,
    verified_context: AppContext,
) -> None:
    person = citizens(population)[1]
    mocks.injectors["public_security"].set_plan(FaultPlan(down=True))
    answer = register(api, registry, registration_body(person), "o1")
    assert answer["outcome"] == "issued" and answer["verification"] == "pending"
    assert answer["code"].startswith("L")
    reset_faults(mocks)
    deps = verified_context.services.registry
    _due_now(verified_context)
    assert verification.work_queue_once(verified_context.engine, deps) == 1
    with Session(verified_context.engine) as s:
        stored = s.exec(select(Person)).one()
        assert stored.current_code == "G" + person.id_number and stored.verification_status == "verified"
        assert s.exec(select(VerificationJob)).one().status == "done"


def test_quota_exhaustion_queues_jobs_that_complete_once_quota_returns(
    registry: ApiCaller,
    api: TestClient,
    population: Population,
    mocks: RunningMocks,
    verified_context: AppContext,
) -> None:
    people = citizens(population)[2:6]
    mocks.injectors["public_security"].set_plan(FaultPlan(daily_quota=0))
    answers = [register(api, registry, registration_body(p), f"q{i}") for i, p in enumerate(people)]
    assert [a["verification"] for a in answers] == ["pending"] * 4
    # The next day: the source's quota is back and the worker runs with a fresh day's allowance.
    reset_faults(mocks)
    next_day = orchestrator(mocks)
    deps = service.RegistryDeps(
        keyring=verified_context.keyring, model=verified_context.services.registry.model, verifier=next_day
    )
    _due_now(verified_context)
    assert verification.work_queue_once(verified_context.engine, deps) == 4
    next_day.close()
    with Session(verified_context.engine) as s:
        codes = sorted(p.current_code for p in s.exec(select(Person)).all())
    assert codes == sorted("G" + p.id_number for p in people)


def test_worker_killed_mid_job_loses_no_job(
    api: TestClient,
    registry: ApiCaller,
    population: Population,
    mocks: RunningMocks,
    verified_context: AppContext,
) -> None:
    person = citizens(population)[7]
    mocks.injectors["public_security"].set_plan(FaultPlan(down=True))
    register(api, registry, registration_body(person), "k1")
    reset_faults(mocks)
    engine, deps = verified_context.engine, verified_context.services.registry
    _due_now(verified_context)
    # A worker leases the job and dies before finishing it.
    leased = verification.claim_due_jobs(engine, limit=5, lease_seconds=0.5)
    assert len(leased) == 1
    assert (
        verification.claim_due_jobs(engine, limit=5, lease_seconds=0.5) == []
    )  # leased: nobody else takes it
    time.sleep(0.6)
    assert verification.work_queue_once(engine, deps) == 1  # the lease ran out: another worker finishes it
    with Session(engine) as s:
        assert s.exec(select(VerificationJob)).one().status == "done"
        assert s.exec(select(Person)).one().current_code == "G" + person.id_number


def test_zero_deadline_leaves_verification_to_the_worker(
    api: TestClient, registry: ApiCaller, population: Population, verified_context: AppContext
) -> None:
    person = citizens(population)[9]
    deps = verified_context.services.registry
    deps.verify_deadline = 0
    answer = register(api, registry, registration_body(person), "z1")
    assert answer["code"].startswith("L") and answer["verification"] == "pending"
    assert verification.work_queue_once(verified_context.engine, deps) == 1
    with Session(verified_context.engine) as s:
        assert s.exec(select(Person)).one().current_code == "G" + person.id_number


class _Crash(BaseException):
    """The process dying (not an error anybody handles)."""


class _Interposed:
    """A verifier that runs ``before`` once, then answers like the real one."""

    def __init__(self, real: Any, before: Any) -> None:
        self.real, self.before, self.calls = real, before, 0

    def verify_identity(self, record: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.before()
        return self.real.verify_identity(record, **kwargs)

    def verify_identities(self, items: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.before()
        return self.real.verify_identities(items, **kwargs)


def _central(registry: ApiCaller) -> Caller:
    central = ClientFields(registry.client_id, "central", Role.CENTRAL, "CN")
    return Caller.of_client(central, scopes=[s.value for s in Scope])


def test_a_twin_registered_while_the_first_is_being_verified_is_still_found(
    api: TestClient, registry: ApiCaller, population: Population, verified_context: AppContext
) -> None:
    # Both registrations find nobody; the second is written while the first waits for the external
    # systems. The first must decide again after the answer, find the second, and issue nothing.
    person = citizens(population)[11]
    deps = verified_context.services.registry
    inner: list[dict[str, Any]] = []
    deps.verifier = _Interposed(
        deps.verifier, lambda: inner.append(register(api, registry, registration_body(person), "t2"))
    )
    first = register(api, registry, registration_body(person), "t1")
    assert inner[0]["outcome"] == "issued" and inner[0]["code"] == "G" + person.id_number
    assert first["outcome"] == "existing" and first["code"] == inner[0]["code"]
    with Session(verified_context.engine) as s:
        assert [p.current_code for p in s.exec(select(Person)).all()] == ["G" + person.id_number]


def test_death_while_the_systems_are_asked_leaves_nothing_half_written(
    registry: ApiCaller, population: Population, verified_context: AppContext
) -> None:
    person = citizens(population)[12]
    engine, deps = verified_context.engine, verified_context.services.registry
    real = deps.verifier

    def die() -> None:
        raise _Crash

    deps.verifier = _Interposed(real, die)
    with pytest.raises(_Crash):
        service.register(engine, deps, _central(registry), registration_body(person), "d1")
    with Session(engine) as s:
        assert s.exec(select(Person)).all() == [] and s.exec(select(IdempotencyRecord)).all() == []
    # Nothing was acknowledged; the client's retry with the same key registers the child once.
    answer = service.register(engine, deps, _central(registry), registration_body(person), "d1")
    assert isinstance(answer, Issued) and answer.code == "G" + person.id_number
    with Session(engine) as s:
        assert len(s.exec(select(Person)).all()) == 1


def test_a_verifier_that_breaks_leaves_the_person_queued_for_the_worker(
    api: TestClient, registry: ApiCaller, population: Population, verified_context: AppContext
) -> None:
    person = citizens(population)[13]
    deps = verified_context.services.registry
    real = deps.verifier

    def broken() -> None:
        raise RuntimeError("a bug in an adapter")

    deps.verifier = _Interposed(real, broken)
    answer = register(api, registry, registration_body(person), "b1")
    assert answer["outcome"] == "issued" and answer["verification"] == "pending"
    assert answer["code"].startswith("L")
    with Session(verified_context.engine) as s:
        job = s.exec(select(VerificationJob)).one()
        assert job.status == "queued" and job.attempts == 0
    assert verification.work_queue_once(verified_context.engine, deps) == 1
    with Session(verified_context.engine) as s:
        assert s.exec(select(Person)).one().current_code == "G" + person.id_number


def test_a_slow_register_holds_no_request_thread_while_it_is_asked(
    verified_context: AppContext, mocks: RunningMocks, population: Population, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one request thread and a public-security service that takes 1.5 s, a search sent while a
    registration waits for that service is answered before the service answers: the wait holds no
    request thread."""
    import threading

    from gateway.app import create_app
    from tests.fixtures.api import register_caller

    monkeypatch.setattr(verified_context.settings, "request_threads", 1)
    mocks.injectors["public_security"].set_plan(FaultPlan(latency_ms=1500))
    finished: list[str] = []
    verifier = verified_context.services.registry.verifier
    ask = verifier.verify_identity

    def recorded(*args: Any, **kwargs: Any) -> Any:
        verdict = ask(*args, **kwargs)
        finished.append("verified")
        return verdict

    monkeypatch.setattr(verifier, "verify_identity", recorded)
    with TestClient(create_app(context=verified_context), raise_server_exceptions=False) as api:
        caller = register_caller(api, verified_context.engine, role="central", jurisdiction="CN")
        person, other = citizens(population)[:2]

        def slow_registration() -> None:
            answer = register(api, caller, registration_body(person), "slow-1")
            assert answer["outcome"] == "issued"
            finished.append("registration")

        started = threading.Thread(target=slow_registration)
        started.start()
        # Wait until the mock has the registration's question in hand (it answers 1.5 s later).
        deadline = time.monotonic() + 10
        while (
            mocks.injectors["public_security"].snapshot().get("requests", 0) == 0
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        reply = api.post("/v1/search", json=registration_body(other), headers=caller.headers)
        assert reply.status_code == 200, reply.text
        finished.append("search")
        started.join(30)
    assert finished == ["search", "verified", "registration"]
