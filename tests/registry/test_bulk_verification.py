"""The verification queue worked in bulk against the live mock government systems: the worker's pass
and ``work_jobs`` (a bulk import verifying what it just wrote) ask about up to 100 persons per call,
apply each verdict once, and leave the jobs the systems did not answer queued with back-off.

The mocks are real servers on loopback; our database is the real one (a fresh committed database).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.context import AppContext
from gateway.persons.models import Person
from gateway.registry import verification
from gateway.registry.models import ProblemRecord, VerificationJob
from mocks.faults import FaultKind, FaultPlan
from mocks.population import Population
from mocks.server import RunningMocks
from tests.fixtures.api import ApiCaller
from tests.fixtures.mocks import UNDOCUMENTED, known_population, reset_faults
from tests.fixtures.registrations import citizen, register
from tests.registry.people import citizens, registration_body

CORRECT, WRONG_NAME = 24, 2
# A child without a document, vouched for by a guardian whose ID number is valid (registration checks it).
CHILD = replace(UNDOCUMENTED, record_id="U2", name="李小雪", guardian_id_number=citizen("41010219850307001"))


@pytest.fixture(scope="module")
def population() -> Population:
    """The registry tests' population, and the child above."""
    return Population([*known_population(size=200, seed=31).people, CHILD])


@pytest.fixture
def api(verified_api: TestClient) -> TestClient:
    return verified_api


def _child_body(child: Any) -> dict[str, Any]:
    body = registration_body(child)
    body["guardian_id_number"] = child.guardian_id_number
    return body


@pytest.fixture
def queued(
    api: TestClient, verified_registry: ApiCaller, verified_context: AppContext, population: Population
) -> dict[str, list[int]]:
    """Persons registered with verification left to the worker: citizens (two under a wrong name) and
    a child without a document, vouched for by a guardian; their queued job ids by kind."""
    verified_context.services.registry.verify_deadline = 0
    people = citizens(population)
    bodies = {
        "correct": [registration_body(p) for p in people[20 : 20 + CORRECT]],
        "wrong_name": [
            registration_body(replace(p, name=p.name + "一")) for p in people[60 : 60 + WRONG_NAME]
        ],
        "child": [_child_body(CHILD)],
    }
    jobs: dict[str, list[int]] = {}
    for kind, group in bodies.items():
        for n, body in enumerate(group):
            answer = register(api, verified_registry, body, f"{kind}-{n}")
            assert answer["outcome"] == "issued" and answer["verification"] == "pending", answer
            jobs.setdefault(kind, []).append(_job_of(verified_context, answer["code"]))
    return jobs


def _job_of(context: AppContext, code: str) -> int:
    with Session(context.engine) as s:
        person_id = s.exec(select(Person.id).where(Person.current_code == code)).one()
        return int(
            s.exec(select(VerificationJob.id).where(VerificationJob.person_id == person_id)).one() or 0
        )


def _jobs(context: AppContext, ids: list[int]) -> list[VerificationJob]:
    with Session(context.engine) as s:
        return [job for job_id in ids if (job := s.get(VerificationJob, job_id)) is not None]


def _codes(context: AppContext, ids: list[int]) -> list[str]:
    with Session(context.engine) as s:
        return [
            s.exec(select(Person.current_code).where(Person.id == job.person_id)).one()
            for job in _jobs(context, ids)
        ]


def _due_now(context: AppContext) -> None:
    with Session(context.engine) as s:
        for job in s.exec(select(VerificationJob).where(VerificationJob.status == "queued")).all():
            job.next_attempt_at = job.created_at
            s.add(job)
        s.commit()


def test_the_worker_verifies_the_queue_in_bulk(
    queued: dict[str, list[int]], mocks: RunningMocks, verified_context: AppContext
) -> None:
    reset_faults(mocks)
    engine, deps = verified_context.engine, verified_context.services.registry
    everyone = [job for ids in queued.values() for job in ids]
    assert verification.work_queue_once(engine, deps, limit=100) == len(everyone)
    # The 26 citizens asked about together (one call to each of their two sources, unless a slow
    # reply on this busy machine made the guard try again), not one call each.
    requests = {name: i.snapshot().get("requests", 0) for name, i in mocks.injectors.items()}
    assert 1 <= requests["public_security"] < CORRECT + WRONG_NAME
    assert 1 <= requests["social_security"] < CORRECT + WRONG_NAME
    assert requests["exit_entry"] == 0
    assert {job.status for job in _jobs(verified_context, everyone)} == {"done"}
    assert all(code.startswith("G") for code in _codes(verified_context, queued["correct"]))
    assert all(code.startswith("J") for code in _codes(verified_context, queued["child"]))
    assert all(code.startswith("L") for code in _codes(verified_context, queued["wrong_name"]))
    with Session(engine) as s:
        problems = s.exec(select(ProblemRecord).where(ProblemRecord.type == "wrong_id")).all()
    assert len(problems) == WRONG_NAME
    assert verification.work_queue_once(engine, deps) == 0


def test_work_jobs_verifies_the_given_jobs_and_never_applies_a_verdict_twice(
    queued: dict[str, list[int]], mocks: RunningMocks, verified_context: AppContext
) -> None:
    engine, deps = verified_context.engine, verified_context.services.registry
    correct = queued["correct"]
    held_by_another = correct[0]
    assert verification.lease_jobs(engine, [held_by_another], lease_seconds=60) == [held_by_another]
    first = verification.work_jobs(engine, deps, correct[1:5])
    assert (first.leased, first.skipped, dict(first.recorded)) == (4, 0, {"verified": 4})
    codes_after_first = _codes(verified_context, correct[1:5])

    given = [*correct, *queued["wrong_name"], 10**9]  # 10**9: no such job
    counts = verification.work_jobs(engine, deps, given)
    assert counts.leased == len(correct) - 5 + WRONG_NAME
    assert counts.skipped == 1 + 4 + 1  # leased by another worker, already done, unknown
    assert dict(counts.recorded) == {"verified": len(correct) - 5, "failed": WRONG_NAME}
    assert counts.unapplied == 0
    assert _codes(verified_context, correct[1:5]) == codes_after_first  # not promoted again
    (held,) = _jobs(verified_context, [held_by_another])
    assert held.status == "queued" and held.lease_until is not None  # the other worker's, untouched
    with Session(engine) as s:
        assert len(s.exec(select(ProblemRecord).where(ProblemRecord.type == "wrong_id")).all()) == WRONG_NAME
    again = verification.work_jobs(engine, deps, queued["wrong_name"])
    assert (again.leased, again.skipped, sum(again.recorded.values())) == (0, WRONG_NAME, 0)


@pytest.mark.parametrize(
    ("fault", "pending"),
    [(FaultKind.PARTIAL_FAILURE, "some"), (FaultKind.MALFORMED_ROW, "one"), (FaultKind.TIMEOUT, "all")],
)
def test_faults_leave_the_affected_jobs_queued_with_back_off(
    queued: dict[str, list[int]],
    mocks: RunningMocks,
    verified_context: AppContext,
    fault: FaultKind,
    pending: str,
) -> None:
    engine, deps = verified_context.engine, verified_context.services.registry
    correct = queued["correct"]
    mocks.injectors["public_security"].set_plan(
        FaultPlan(seed=5, error_rate=1.0, error_kinds=[fault], timeout_seconds=0.5)
    )
    counts = verification.work_jobs(engine, deps, correct, deadline=2.0)
    assert counts.leased == len(correct) and counts.unapplied == 0
    now = datetime.now(UTC)
    waiting = [job for job in _jobs(verified_context, correct) if job.status == "queued"]
    expected = {"one": {1}, "all": {len(correct)}}.get(pending, set(range(1, len(correct))))
    assert len(waiting) in expected
    assert counts.recorded["pending"] == len(waiting)
    for job in waiting:
        assert job.attempts == 1 and job.lease_until is None
        assert job.next_attempt_at.replace(tzinfo=UTC) > now  # back-off before the worker asks again
    # The source recovers: the worker finishes exactly the jobs left (and those never asked about).
    reset_faults(mocks)
    _due_now(verified_context)
    never_asked = len(queued["wrong_name"]) + len(queued["child"])
    assert verification.work_queue_once(engine, deps) == len(waiting) + never_asked
    assert all(code.startswith("G") for code in _codes(verified_context, correct))


def test_a_verdict_that_cannot_be_applied_holds_up_no_other_job(
    queued: dict[str, list[int]],
    verified_context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, deps = verified_context.engine, verified_context.services.registry
    everyone = [job for ids in queued.values() for job in ids]
    broken = queued["correct"][3]
    apply = verification.apply_verdict

    def failing_for_one(session: Session, deps: Any, job_id: int, *args: Any) -> Any:
        if job_id == broken:
            raise RuntimeError("the database refused this one")
        return apply(session, deps, job_id, *args)

    monkeypatch.setattr(verification, "apply_verdict", failing_for_one)
    counts = verification.work_jobs(engine, deps, everyone, lease_seconds=300)
    assert counts.unapplied == 1 and sum(counts.recorded.values()) == len(everyone) - 1
    (stuck,) = _jobs(verified_context, [broken])
    assert stuck.status == "queued" and stuck.lease_until is not None  # leased until its lease runs out
    monkeypatch.setattr(verification, "apply_verdict", apply)
    assert verification.work_queue_once(engine, deps) == 0  # still leased: nobody asks again
    _lease_ran_out(verified_context, broken)
    assert verification.work_queue_once(engine, deps) == 1  # asked again and applied
    assert all(code.startswith("G") for code in _codes(verified_context, queued["correct"]))


def _lease_ran_out(context: AppContext, job_id: int) -> None:
    """As if the lease's time had passed (its holder died)."""
    with Session(context.engine) as s:
        job = s.get(VerificationJob, job_id)
        assert job is not None
        job.lease_until = datetime.now(UTC) - timedelta(seconds=1)
        s.add(job)
        s.commit()


class _Recording:
    """The real verifier, recording whom each bulk question asked about."""

    def __init__(self, real: Any) -> None:
        self.real, self.asked, self._lock = real, [], threading.Lock()

    def verify_identity(self, record: Any, **kwargs: Any) -> Any:
        return self.real.verify_identity(record, **kwargs)

    def verify_identities(self, items: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.asked += [record.record_id for record, _ in items]
        return self.real.verify_identities(items, **kwargs)


def test_a_worker_and_work_jobs_at_once_never_ask_about_a_job_twice(
    queued: dict[str, list[int]], verified_context: AppContext
) -> None:
    engine, deps = verified_context.engine, verified_context.services.registry
    recording = _Recording(deps.verifier)
    deps.verifier = recording
    _due_now(verified_context)
    everyone = [job for ids in queued.values() for job in ids]
    errors: list[BaseException] = []

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [
        threading.Thread(target=run, args=(lambda: verification.work_jobs(engine, deps, everyone),)),
        threading.Thread(target=run, args=(lambda: verification.work_queue_once(engine, deps, limit=10),)),
        threading.Thread(target=run, args=(lambda: verification.work_jobs(engine, deps, everyone[::-1]),)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert errors == []
    assert sorted(recording.asked) == sorted(set(recording.asked))
    assert len(recording.asked) == len(everyone)
    assert {job.status for job in _jobs(verified_context, everyone)} == {"done"}
