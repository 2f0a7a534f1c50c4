"""Retry, breaker, quota and cache behaviour of the guard, on a fake clock, without a network."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.adapters.base import (
    CircuitOpen,
    ContractViolation,
    DeadlineExceeded,
    FieldVerdict,
    QuotaExhausted,
    RetriesExhausted,
    Source,
    SourceAnswer,
    SourceRateLimited,
    TechnicalAdapterError,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.resilience import (
    BreakerState,
    CircuitBreaker,
    DailyQuota,
    GuardedCaller,
    PositiveAnswerCache,
)
from gateway.adapters.settings import AdapterSettings, Implementation

SOURCE = Source.PUBLIC_SECURITY
QUERY = VerificationQuery(id_type="resident_id", id_number="110105201503070016", name="王子涵")
GOOD = SourceAnswer(
    source=SOURCE,
    found=True,
    fields={VerifiedField.NAME: FieldVerdict.CONSISTENT, VerifiedField.ID_NUMBER: FieldVerdict.CONSISTENT},
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def settings(**overrides: object) -> AdapterSettings:
    values: dict[str, object] = {
        "implementation": Implementation.NCIIC_SOAP,
        "base_url": "http://127.0.0.1:9",
        "max_attempts": 4,
        "deadline": 10.0,
        "backoff_base": 0.5,
        "backoff_max": 2.0,
        "breaker_failure_threshold": 3,
        "breaker_reset_timeout": 30.0,
        "cache_ttl": 60.0,
    }
    values.update(overrides)
    return AdapterSettings.model_validate(values)


def guard(clock: FakeClock, **overrides: object) -> GuardedCaller:
    return GuardedCaller(SOURCE, settings(**overrides), hmac_key=b"secret", clock=clock, sleep=clock.sleep)


class Script:
    """An attempt function that raises the scripted errors, then succeeds."""

    def __init__(self, *errors: Exception, clock: FakeClock | None = None, cost: float = 0.0) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.timeouts: list[float] = []
        self.clock = clock
        self.cost = cost

    def __call__(self, timeout: float) -> SourceAnswer:
        self.calls += 1
        self.timeouts.append(timeout)
        if self.clock is not None:
            # A slow source costs at most the attempt's read timeout, as a real socket would.
            self.clock.now += min(self.cost, timeout)
        if self.errors:
            raise self.errors.pop(0)
        return GOOD


def test_technical_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    script = Script(TechnicalAdapterError(SOURCE, "503"), TechnicalAdapterError(SOURCE, "timeout"))
    assert guard(clock).call(QUERY, script) == GOOD
    assert script.calls == 3
    assert len(clock.sleeps) == 2
    # Full jitter: each wait within [0, base * 2**n], capped.
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


def test_logical_errors_are_never_retried() -> None:
    clock = FakeClock()
    script = Script(ContractViolation(SOURCE, "bad reply"))
    with pytest.raises(ContractViolation):
        guard(clock).call(QUERY, script)
    assert script.calls == 1 and clock.sleeps == []


def test_retry_budget_is_bounded_by_attempts() -> None:
    clock = FakeClock()
    script = Script(*(TechnicalAdapterError(SOURCE, "503") for _ in range(10)))
    with pytest.raises(RetriesExhausted) as raised:
        guard(clock, breaker_failure_threshold=100).call(QUERY, script)
    assert script.calls == 4 == raised.value.attempts


def test_retry_budget_is_bounded_by_deadline() -> None:
    clock = FakeClock()
    script = Script(*(TechnicalAdapterError(SOURCE, "slow") for _ in range(10)), clock=clock, cost=4.0)
    with pytest.raises(RetriesExhausted):
        guard(clock, max_attempts=10, breaker_failure_threshold=100, read_timeout=5.0).call(QUERY, script)
    assert clock.now - 1000.0 <= 10.0 + 1e-9
    assert script.calls < 4
    # The last attempt gets only what is left of the deadline as its read timeout.
    assert script.timeouts[-1] < 5.0


def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    script = Script(SourceRateLimited(SOURCE, "429", retry_after=3.0))
    guard(clock).call(QUERY, script)
    assert clock.sleeps == [pytest.approx(3.0, abs=0.5)] and clock.sleeps[0] >= 3.0


def test_breaker_opens_fails_fast_and_closes_after_a_good_trial() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(SOURCE, failure_threshold=3, reset_timeout=30.0, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(CircuitOpen):  # only one trial at a time
        breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 30.0
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_open_breaker_stops_retrying() -> None:
    clock = FakeClock()
    script = Script(*(TechnicalAdapterError(SOURCE, "503") for _ in range(10)))
    caller = guard(clock, max_attempts=10, breaker_failure_threshold=2)
    with pytest.raises(CircuitOpen):
        caller.call(QUERY, script)
    assert script.calls == 2


def test_quota_counts_refuses_and_rolls_over() -> None:
    day = [date(2026, 9, 1)]
    quota = DailyQuota(SOURCE, limit=2, today=lambda: day[0])
    quota.consume()
    quota.consume()
    with pytest.raises(QuotaExhausted):
        quota.consume()
    day[0] = date(2026, 9, 2)
    quota.consume()
    quota.mark_exhausted()
    with pytest.raises(QuotaExhausted):
        quota.consume()
    assert quota.used == 1


def test_source_quota_answer_stops_further_calls() -> None:
    clock = FakeClock()
    caller = guard(clock)
    with pytest.raises(QuotaExhausted):
        caller.call(QUERY, Script(QuotaExhausted(SOURCE, "spent")))
    untouched = Script()
    with pytest.raises(QuotaExhausted):
        caller.call(QUERY, untouched)
    assert untouched.calls == 0


def test_cache_keys_are_hmacs_not_id_numbers() -> None:
    cache = PositiveAnswerCache(b"secret", ttl=60, maxsize=10)
    key = cache.key_for(SOURCE, QUERY)
    assert QUERY.id_number not in key and len(key) == 64
    assert key != PositiveAnswerCache(b"other", ttl=60, maxsize=10).key_for(SOURCE, QUERY)
    assert key != cache.key_for(
        SOURCE, VerificationQuery(id_type="resident_id", id_number=QUERY.id_number, name="王梓涵")
    )


def test_only_positive_answers_are_cached_and_they_expire() -> None:
    clock = FakeClock()
    caller = guard(clock, cache_ttl=60.0)
    first = Script()
    caller.call(QUERY, first)
    again = caller.call(QUERY, Script(TechnicalAdapterError(SOURCE, "unused")))
    assert again.from_cache and again.fields == GOOD.fields
    clock.now += 61
    expired = Script()
    caller.call(QUERY, expired)
    assert expired.calls == 1

    mismatch = SourceAnswer(source=SOURCE, found=True, fields={VerifiedField.NAME: FieldVerdict.INCONSISTENT})
    other = VerificationQuery(id_type="resident_id", id_number="110105201503070024", name="李浩宇")
    caller.call(other, lambda timeout: mismatch)
    calls = Script()
    caller.call(other, calls)
    assert calls.calls == 1


def test_query_repr_masks_id_numbers() -> None:
    text = repr(QUERY)
    assert QUERY.id_number not in text
    assert "110105********0016" in text


def test_concurrency_limit_makes_extra_callers_wait_then_give_up() -> None:
    import threading

    caller = GuardedCaller(
        SOURCE, settings(max_concurrency=1, cache_ttl=0.0, deadline=0.2), hmac_key=b"secret"
    )
    release = threading.Event()
    entered = threading.Event()

    def blocking(timeout: float) -> SourceAnswer:
        entered.set()
        release.wait(5)
        return GOOD

    holder = threading.Thread(target=lambda: caller.call(QUERY, blocking, deadline_seconds=10.0))
    holder.start()
    assert entered.wait(5)
    waiting = Script()
    with pytest.raises(DeadlineExceeded):
        caller.call(QUERY, waiting)
    assert waiting.calls == 0
    release.set()
    holder.join(5)
    assert caller.call(QUERY, Script()) == GOOD


def test_a_trial_call_that_never_reached_the_source_leaves_the_trial_to_the_next_call() -> None:
    clock = FakeClock()
    caller = guard(clock, breaker_failure_threshold=1, daily_quota=1, max_attempts=1)
    with pytest.raises(RetriesExhausted):
        caller.call(QUERY, Script(TechnicalAdapterError(SOURCE, "503")))
    assert caller.breaker.state is BreakerState.OPEN
    clock.now += 30.0
    # Half open: the trial is refused by the spent quota before it goes out ...
    with pytest.raises(QuotaExhausted):
        caller.call(QUERY, Script())
    # ... so the next call may be the trial (not "trial call in flight" for ever).
    with pytest.raises(QuotaExhausted):
        caller.call(QUERY, Script())
    assert caller.breaker.state is BreakerState.HALF_OPEN


def test_call_outcomes_are_named_without_the_query() -> None:
    from gateway.adapters.resilience import call_outcome

    assert call_outcome(GOOD) == "found"
    assert call_outcome(SourceAnswer(source=SOURCE, found=False)) == "not_found"
    assert call_outcome(SourceAnswer(source=SOURCE, found=True, from_cache=True)) == "cached"
    assert call_outcome(QuotaExhausted(SOURCE, "spent")) == "quota_exhausted"
    assert call_outcome(CircuitOpen(SOURCE, "open")) == "circuit_open"
    assert call_outcome(RuntimeError("bug")) == "error"
