"""The per-client token bucket, driven by a hand-set clock (no sleeping, no timing)."""

from __future__ import annotations

import pytest

from gateway.students.ratelimit import TokenBucketLimiter, retry_after_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_granted_then_refused_with_the_wait() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(burst=3, rate_per_second=0.5, clock=clock)
    assert [limiter.try_acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire("a") == pytest.approx(2.0)  # one token takes 1 / 0.5 s


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(burst=2, rate_per_second=1.0, clock=clock)
    limiter.try_acquire("a")
    limiter.try_acquire("a")
    clock.now += 1.0
    assert limiter.try_acquire("a") == 0.0
    assert limiter.try_acquire("a") > 0
    clock.now += 3600
    assert [limiter.try_acquire("a") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.try_acquire("a") > 0


def test_clients_have_separate_buckets() -> None:
    limiter = TokenBucketLimiter(burst=1, rate_per_second=0.01, clock=FakeClock())
    assert limiter.try_acquire("a") == 0.0
    assert limiter.try_acquire("a") > 0
    assert limiter.try_acquire("b") == 0.0


def test_idle_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(burst=1, rate_per_second=1.0, clock=clock)
    for n in range(2000):
        limiter.try_acquire(f"client-{n}")
        clock.now += 0.01
    # Buckets full again (idle for a second here) go at the next pruning; recent ones stay.
    assert "client-0" not in limiter._buckets and "client-1999" in limiter._buckets
    assert len(limiter._buckets) < 2000


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_seconds(0.2) == 1
    assert retry_after_seconds(2.0) == 2
    assert retry_after_seconds(2.1) == 3


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(burst=0)
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_second=0)
