"""The adapters' daily quota and calls in flight hold for the whole deployment on PostgreSQL.

Each gateway process is stood in for by an engine and `SharedLimits` of its own (or by a real
subprocess, where a process must die); the calls go through the adapters' own guard, to a fake
attempt function that counts what reaches the "source".
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import pytest

from gateway.adapters.base import (
    DeadlineExceeded,
    FieldVerdict,
    QuotaExhausted,
    Source,
    SourceAnswer,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.resilience import GuardedCaller
from gateway.adapters.settings import AdapterSettings, Implementation
from gateway.db import build_engine
from gateway.limits.service import SharedLimits

pytestmark = pytest.mark.postgres

SOURCE = Source.PUBLIC_SECURITY
GOOD = SourceAnswer(source=SOURCE, found=True, fields={VerifiedField.NAME: FieldVerdict.CONSISTENT})
PROCESSES = 4


def query(n: int) -> VerificationQuery:
    # Distinct queries, so that no answer could come from a cache.
    return VerificationQuery(id_type="resident_id", id_number=None, name=f"学生{n}")


def settings(**overrides: object) -> AdapterSettings:
    values: dict[str, object] = {
        "implementation": Implementation.NCIIC_SOAP,
        "base_url": "http://127.0.0.1:9",
        "max_attempts": 1,
        "deadline": 60.0,
        "cache_ttl": 0.0,
    }
    values.update(overrides)
    return AdapterSettings.model_validate(values)


@pytest.fixture
def open_limits(fresh_db_url: str) -> Iterator[Callable[..., SharedLimits]]:
    """Limits of a new process stand-in (its own engine) on the test's database."""
    opened: list[SharedLimits] = []

    def open_one(**kwargs: object) -> SharedLimits:
        limits = SharedLimits(build_engine(fresh_db_url, pool_size=4), **kwargs)  # type: ignore[arg-type]
        opened.append(limits)
        return limits

    yield open_one
    for limits in opened:
        limits.close()


def guard(limits: SharedLimits, **overrides: object) -> GuardedCaller:
    return GuardedCaller(SOURCE, settings(**overrides), hmac_key=b"secret", limits=limits)


def run_together(workers: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # reported below, with the test's failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []


def test_processes_together_never_exceed_the_daily_quota(open_limits: Callable[..., SharedLimits]) -> None:
    quota, calls_each = 15, 10
    reached = []
    refused = []
    lock = threading.Lock()

    def attempt(timeout: float) -> SourceAnswer:
        with lock:
            reached.append(1)
        return GOOD

    def process(caller: GuardedCaller, first: int) -> Callable[[], None]:
        def work() -> None:
            for n in range(first, first + calls_each):
                try:
                    caller.call(query(n), attempt)
                except QuotaExhausted:
                    with lock:
                        refused.append(n)

        return work

    guards = [guard(open_limits(), daily_quota=quota) for _ in range(PROCESSES)]
    run_together([process(g, i * calls_each) for i, g in enumerate(guards)])

    assert len(reached) == quota
    assert len(refused) == PROCESSES * calls_each - quota
    assert {g.quota.used for g in guards} == {quota}  # each process reads the deployment's count


def test_processes_together_count_rows_and_refuse_a_chunk_that_does_not_fit(
    open_limits: Callable[..., SharedLimits],
) -> None:
    quota, chunks_each, rows = 250, 3, 40
    reached: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def attempt_many(queries: Sequence[VerificationQuery], timeout: float) -> list[SourceAnswer]:
        with lock:
            reached.append(len(queries))
        return [GOOD] * len(queries)

    def process(caller: GuardedCaller, first: int) -> Callable[[], None]:
        def work() -> None:
            for chunk in range(chunks_each):
                start = first + chunk * rows
                answers = caller.call_many([query(n) for n in range(start, start + rows)], attempt_many)
                with lock:
                    refused.extend(1 for a in answers if isinstance(a, QuotaExhausted))

        return work

    guards = [guard(open_limits(), daily_quota=quota) for _ in range(PROCESSES)]
    run_together([process(g, i * chunks_each * rows) for i, g in enumerate(guards)])

    # 6 chunks of 40 fit in 250 rows; every further chunk is refused whole, none of its rows counted.
    assert reached == [rows] * 6
    assert len(refused) == PROCESSES * chunks_each * rows - 6 * rows
    assert {g.quota.used for g in guards} == {6 * rows}


def test_calls_in_flight_never_exceed_the_cap_across_processes(
    open_limits: Callable[..., SharedLimits],
) -> None:
    cap = 2
    in_flight = 0
    most = 0
    answered = []
    lock = threading.Lock()
    hold = threading.Event()

    def attempt(timeout: float) -> SourceAnswer:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        hold.wait(0.05)  # stay in flight a moment, so that others try to join
        with lock:
            in_flight -= 1
        return GOOD

    def process(caller: GuardedCaller, first: int) -> Callable[[], None]:
        def work() -> None:
            for n in range(first, first + 3):
                answered.append(caller.call(query(n), attempt))

        return work

    # Two threads per process stand-in, each process allowed `cap` calls in flight on its own.
    guards = [guard(open_limits(), max_concurrency=cap) for _ in range(PROCESSES)]
    run_together([process(g, (2 * i + t) * 3) for i, g in enumerate(guards) for t in range(2)])

    assert len(answered) == PROCESSES * 2 * 3
    assert 1 <= most <= cap


def test_waiting_for_a_slot_respects_the_deadline(open_limits: Callable[..., SharedLimits]) -> None:
    holder = open_limits().slots(SOURCE, 1).acquire(5)
    assert holder is not None
    caller = guard(open_limits(), max_concurrency=1, deadline=0.3)
    reached = []
    with pytest.raises(DeadlineExceeded):
        caller.call(query(1), lambda timeout: reached.append(1) or GOOD)
    assert reached == []
    holder()
    assert caller.call(query(1), lambda timeout: GOOD) == GOOD


_HOLD_A_SLOT = """
import sys, time
from gateway.adapters.base import Source
from gateway.db import build_engine
from gateway.limits.service import SharedLimits

limits = SharedLimits(build_engine(sys.argv[1], pool_size=2))
release = limits.slots(Source.PUBLIC_SECURITY, 1).acquire(30)
print("held" if release is not None else "none", flush=True)
time.sleep(600)
"""


def test_a_slot_held_by_a_killed_process_is_freed(
    fresh_db_url: str, open_limits: Callable[..., SharedLimits]
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_SLOT, fresh_db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        slots = open_limits().slots(SOURCE, 1)
        assert slots.acquire(0.2) is None  # the other process holds the only slot
        holder.kill()  # mid-call: no release, no goodbye
        holder.wait(30)
        release = slots.acquire(30)
        assert release is not None
        release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
        if holder.stderr is not None:
            holder.stderr.close()


def test_a_released_slot_is_free_for_another_process(open_limits: Callable[..., SharedLimits]) -> None:
    mine, theirs = open_limits().slots(SOURCE, 1), open_limits().slots(SOURCE, 1)
    release = mine.acquire(1)
    assert release is not None
    assert theirs.acquire(0) is None
    release()
    release()  # twice is harmless
    again = theirs.acquire(1)
    assert again is not None
    assert mine.acquire(0) is None
    again()


def test_the_source_saying_the_quota_is_spent_stops_every_process(
    open_limits: Callable[..., SharedLimits],
) -> None:
    first, second = guard(open_limits()), guard(open_limits())
    with pytest.raises(QuotaExhausted):
        first.call(query(1), lambda timeout: (_ for _ in ()).throw(QuotaExhausted(SOURCE, "spent")))
    reached = []
    with pytest.raises(QuotaExhausted, match="reported by the source"):
        second.call(query(2), lambda timeout: reached.append(1) or GOOD)
    assert reached == []


def test_the_quota_starts_again_on_the_next_day(open_limits: Callable[..., SharedLimits]) -> None:
    day = [date(2026, 9, 1)]
    limits = open_limits(today=lambda: day[0])
    quota = limits.quota(SOURCE, 1)
    assert quota.consume() == 1
    with pytest.raises(QuotaExhausted):
        quota.consume()
    quota.mark_exhausted()
    day[0] = date(2026, 9, 2)
    assert quota.used == 0
    assert quota.consume() == 1
    other = limits.quota(Source.HOUSEHOLD, 1)
    assert other.consume() == 1  # each source has its own allowance
