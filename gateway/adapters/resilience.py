"""Resilience around every call to an external system: retries, breaker, concurrency limit, cache, quota.

`GuardedCaller` wraps one adapter's raw attempt function. Technical errors are retried with tenacity's
full-jitter exponential backoff (honouring Retry-After) while the overall deadline allows; logical
errors never are. A circuit breaker fails fast after a burst of technical failures and lets one trial
call through after its reset timeout. Calls in flight are bounded and the day's calls counted by the
limits the guard is given (`AdapterLimits`): in process by default (a semaphore and a counter), shared
by every gateway process when the limits live in the database (`gateway.limits`, PostgreSQL). Positive
answers are cached for a TTL under an HMAC of the query, so the cache never holds a raw ID number as a
key. A source's own quota-exhausted answer is honoured until the end of the day too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar

from cachetools import TTLCache
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, wait_random_exponential

from gateway.adapters.base import (
    AdapterError,
    CircuitOpen,
    ContractViolation,
    DeadlineExceeded,
    QuotaExhausted,
    RequestRejected,
    RetriesExhausted,
    Source,
    SourceAnswer,
    SourceRateLimited,
    TechnicalAdapterError,
    VerificationQuery,
)
from gateway.adapters.settings import AdapterSettings

logger = logging.getLogger(__name__)

# Quotas at the sources reset at midnight Beijing time.
CHINA_TZ = timezone(timedelta(hours=8))

Clock = Callable[[], float]


class BreakerState(StrEnum):
    """States of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker; thread safe.

    Closed: calls pass; `failure_threshold` technical failures in a row open it. Open: calls fail fast
    until `reset_timeout` has passed, then one trial call is let through (half open); its success
    closes the breaker, its failure opens it again for another `reset_timeout`.
    """

    def __init__(
        self, source: Source, failure_threshold: int, reset_timeout: float, clock: Clock = time.monotonic
    ) -> None:
        self._source = source
        self._threshold = failure_threshold
        self._reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """Current state, moving an expired open breaker to half open."""
        with self._lock:
            self._refresh()
            return self._state

    def _refresh(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._reset_timeout:
            self._state = BreakerState.HALF_OPEN
            self._trial_in_flight = False

    def before_call(self) -> None:
        """Raise `CircuitOpen` unless a call may go through now."""
        with self._lock:
            self._refresh()
            if self._state is BreakerState.OPEN:
                raise CircuitOpen(self._source, "circuit breaker open")
            if self._state is BreakerState.HALF_OPEN:
                if self._trial_in_flight:
                    raise CircuitOpen(self._source, "circuit breaker half open, trial call in flight")
                self._trial_in_flight = True

    def abandon_trial(self) -> None:
        """The call let through never reached the source (no free slot, quota spent): a half-open
        breaker lets the next call be its trial instead."""
        with self._lock:
            self._trial_in_flight = False

    def record_success(self) -> None:
        """The source answered (even with a logical error): it is up."""
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                logger.info("circuit breaker closed", extra={"adapter": self._source.value})
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        """A technical failure: count it, and open the breaker at the threshold or on a failed trial."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._failures >= self._threshold
            ):
                if self._state is BreakerState.CLOSED:
                    logger.warning("circuit breaker opened", extra={"adapter": self._source.value})
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._trial_in_flight = False


class QuotaStore(Protocol):
    """Where one source's calls of the day are counted (the day of the sources: Beijing time)."""

    @property
    def used(self) -> int:
        """Calls counted today."""
        ...

    def consume(self, rows: int = 1) -> int:
        """Count one call of ``rows`` rows (each row a query the source counts) and return the rows
        counted today, or raise `QuotaExhausted` when they do not all fit in the day's allowance
        (none is counted then)."""
        ...

    def mark_exhausted(self) -> None:
        """The source said the quota is spent: refuse further calls until the day rolls over."""
        ...


Release = Callable[[], None]


class SlotStore(Protocol):
    """The calls in flight to one source, bounded."""

    def acquire(self, timeout: float) -> Release | None:
        """Take a slot, waiting at most `timeout` seconds; the function that gives it back, or None
        when no slot freed up in time."""
        ...


class AdapterLimits(Protocol):
    """Builds each source's quota and slots; in process (`LocalLimits`) or shared by every process
    of a deployment (`gateway.limits`)."""

    def quota(self, source: Source, limit: int | None) -> QuotaStore: ...

    def slots(self, source: Source, cap: int) -> SlotStore: ...

    def close(self) -> None:
        """Release what the limits hold (connections)."""
        ...


def china_today() -> date:
    """Today at the sources, whose quotas reset at midnight Beijing time."""
    return datetime.now(CHINA_TZ).date()


class DailyQuota:
    """Calls left today at one source, in this process; thread safe. `limit=None` counts without
    refusing."""

    def __init__(self, source: Source, limit: int | None, today: Callable[[], date] | None = None) -> None:
        self._source = source
        self._limit = limit
        self._today = today or china_today
        self._lock = threading.Lock()
        self._day = self._today()
        self._used = 0
        self._exhausted_by_source = False

    def _roll(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self._used, self._exhausted_by_source = today, 0, False

    @property
    def used(self) -> int:
        """Calls counted today."""
        with self._lock:
            self._roll()
            return self._used

    def consume(self, rows: int = 1) -> int:
        """Count a call of ``rows`` rows, or raise `QuotaExhausted` when they do not all fit in the
        day's allowance (all or none: a chunk is one call)."""
        with self._lock:
            self._roll()
            if self._exhausted_by_source:
                raise QuotaExhausted(self._source, "daily quota exhausted (reported by the source)")
            if self._limit is not None and self._used + rows > self._limit:
                raise QuotaExhausted(self._source, f"daily quota of {self._limit} rows spent")
            self._used += rows
            return self._used

    def mark_exhausted(self) -> None:
        """The source said the quota is spent: refuse further calls until the day rolls over."""
        with self._lock:
            self._roll()
            self._exhausted_by_source = True


class LocalSlots:
    """Calls in flight to one source from this process, bounded by a semaphore."""

    def __init__(self, cap: int) -> None:
        self._semaphore = threading.BoundedSemaphore(cap)

    def acquire(self, timeout: float) -> Release | None:
        if not self._semaphore.acquire(timeout=max(timeout, 0.0)):
            return None
        return self._semaphore.release


class LocalLimits:
    """Limits of one process (SQLite, a single gateway, tests): what each guard counts is its own."""

    def quota(self, source: Source, limit: int | None) -> QuotaStore:
        return DailyQuota(source, limit)

    def slots(self, source: Source, cap: int) -> SlotStore:
        return LocalSlots(cap)

    def close(self) -> None:
        """Nothing to release."""


class GuardObserver(Protocol):
    """Told what the guard does, for metrics (`gateway.observability.AdapterMetrics`)."""

    def call_finished(self, source: Source, outcome: str, seconds: float) -> None: ...

    def breaker_state(self, source: Source, state: BreakerState) -> None: ...

    def quota_used(self, source: Source, used: int) -> None: ...


class _Unobserved:
    def call_finished(self, source: Source, outcome: str, seconds: float) -> None:
        pass

    def breaker_state(self, source: Source, state: BreakerState) -> None:
        pass

    def quota_used(self, source: Source, used: int) -> None:
        pass


def call_outcome(result: SourceAnswer | BaseException) -> str:
    """The outcome label of one guarded call: `found`, `not_found`, `cached`, or the error's kind
    (`quota_exhausted`, `circuit_open`, ...); never anything from the query."""
    if isinstance(result, SourceAnswer):
        if result.from_cache:
            return "cached"
        return "found" if result.found else "not_found"
    if isinstance(result, AdapterError):
        name = type(result).__name__
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return "error"


class PositiveAnswerCache:
    """TTL cache of positive answers, keyed by an HMAC of the query so no raw ID number is a key."""

    def __init__(self, hmac_key: bytes, ttl: float, maxsize: int, clock: Clock = time.monotonic) -> None:
        if not hmac_key:
            raise ValueError("the cache needs a non-empty HMAC key")
        self._key = hmac_key
        self._enabled = ttl > 0
        self._cache: TTLCache[str, SourceAnswer] = TTLCache(maxsize=maxsize, ttl=max(ttl, 1e-9), timer=clock)
        self._lock = threading.Lock()

    def key_for(self, source: Source, query: VerificationQuery) -> str:
        """HMAC-SHA256 over every field of the query that the answer depends on."""
        parts = (
            source.value,
            query.id_type,
            query.id_number or "",
            query.name,
            query.birth_date.isoformat() if query.birth_date else "",
            query.gender or "",
            query.ethnicity or "",
            query.nationality or "",
            query.guardian_id_number or "",
            query.guardian_name or "",
        )
        return hmac.new(self._key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()

    def get(self, key: str) -> SourceAnswer | None:
        """The cached answer, marked `from_cache`, or None."""
        if not self._enabled:
            return None
        with self._lock:
            hit = self._cache.get(key)
        return replace(hit, from_cache=True) if hit is not None else None

    def put(self, key: str, result: SourceAnswer) -> None:
        """Cache `result` if it is positive."""
        if self._enabled and result.positive:
            with self._lock:
                self._cache[key] = result


@dataclass
class CallStats:
    """Counters of one adapter, for tests, benchmarks and metrics."""

    calls: int = 0
    attempts: int = 0
    cache_hits: int = 0
    technical_failures: int = 0
    gave_up: int = 0


Attempt = Callable[[float], SourceAnswer]
RowResult = SourceAnswer | AdapterError
# One call carrying several rows: the queries in, one answer or error per query out, in order.
BulkAttempt = Callable[[Sequence[VerificationQuery], float], list[RowResult]]
T = TypeVar("T")


class GuardedCaller:
    """Runs one adapter's attempts under retry, deadline, breaker, concurrency limit, cache and quota."""

    def __init__(
        self,
        source: Source,
        settings: AdapterSettings,
        *,
        hmac_key: bytes,
        limits: AdapterLimits | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self.breaker = CircuitBreaker(
            source, settings.breaker_failure_threshold, settings.breaker_reset_timeout, clock
        )
        limits = limits or LocalLimits()
        self.quota = limits.quota(source, settings.daily_quota)
        self.cache = PositiveAnswerCache(hmac_key, settings.cache_ttl, settings.cache_size, clock)
        self.slots = limits.slots(source, settings.max_concurrency)
        self._stats_lock = threading.Lock()
        self.stats = CallStats()
        self.observer: GuardObserver = _Unobserved()

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                setattr(self.stats, name, getattr(self.stats, name) + value)

    def call(
        self, query: VerificationQuery, attempt: Attempt, *, deadline_seconds: float | None = None
    ) -> SourceAnswer:
        """Answer `query` from the cache or by calling `attempt(timeout)` until success or give-up."""
        started = self._clock()
        outcome: SourceAnswer | BaseException
        try:
            outcome = self._call(query, attempt, deadline_seconds)
        except BaseException as error:
            outcome = error
            raise
        finally:
            self.observer.call_finished(self.source, call_outcome(outcome), self._clock() - started)
            self.observer.breaker_state(self.source, self.breaker.state)
        return outcome

    def _call(
        self, query: VerificationQuery, attempt: Attempt, deadline_seconds: float | None
    ) -> SourceAnswer:
        self._count(calls=1)
        key = self.cache.key_for(self.source, query)
        cached = self.cache.get(key)
        if cached is not None:
            self._count(cache_hits=1)
            return cached
        result = self._attempts(attempt, deadline_seconds, rows=1)
        self.cache.put(key, result)
        return result

    def call_many(
        self,
        queries: Sequence[VerificationQuery],
        attempt: BulkAttempt,
        *,
        deadline_seconds: float | None = None,
    ) -> list[RowResult]:
        """Answer a chunk of queries in one call: rows with a cached answer are not sent, the others
        go out together as `attempt(queries, timeout)`, retried as one call (a retry is another
        call of every row, and the quota counts every row of every attempt). Never raises an
        `AdapterError`: a call that fails leaves each of its rows with that error, and a row the
        source could not answer (or answered out of contract) carries its own error."""
        started = self._clock()
        results: list[RowResult | None] = [None] * len(queries)
        keys = [self.cache.key_for(self.source, query) for query in queries]
        self._count(calls=len(queries))
        for index, key in enumerate(keys):
            results[index] = self.cache.get(key)
        todo = [index for index, result in enumerate(results) if result is None]
        self._count(cache_hits=len(queries) - len(todo))
        if todo:
            sent = [queries[index] for index in todo]
            answered: list[RowResult]
            try:
                answered = self._attempts(
                    lambda timeout: self._checked_rows(attempt(sent, timeout), len(sent)),
                    deadline_seconds,
                    rows=len(sent),
                )
                for row in answered:
                    if isinstance(row, ContractViolation):  # as a whole call's is, in `_attempts`
                        logger.error(
                            "contract violation by %s in one row: %s",
                            self.source.value,
                            row,
                            extra={"adapter": self.source.value},
                        )
            except AdapterError as error:
                answered = [error] * len(sent)
            for index, result in zip(todo, answered, strict=True):
                results[index] = result
                if isinstance(result, SourceAnswer):
                    self.cache.put(keys[index], result)
        elapsed = self._clock() - started
        final = [result for result in results if result is not None]
        for result in final:
            self.observer.call_finished(self.source, call_outcome(result), elapsed)
        self.observer.breaker_state(self.source, self.breaker.state)
        return final

    def _checked_rows(self, answered: list[RowResult], expected: int) -> list[RowResult]:
        if len(answered) != expected:
            raise ContractViolation(self.source, f"{len(answered)} answers to {expected} rows")
        return answered

    def _attempts(self, attempt: Callable[[float], T], deadline_seconds: float | None, *, rows: int) -> T:
        """Attempts of one call (of ``rows`` rows) until success, a logical error or give-up."""
        budget = (
            self.settings.deadline
            if deadline_seconds is None
            else min(deadline_seconds, self.settings.deadline)
        )
        deadline = self._clock() + budget
        retrying = self._retrying(deadline)
        try:
            return retrying(lambda: self._one_attempt(attempt, deadline, rows))
        except ContractViolation as exc:
            # An alert, not noise: the source broke its contract. The message never holds an ID number.
            logger.error(
                "contract violation by %s: %s", self.source.value, exc, extra={"adapter": self.source.value}
            )
            raise
        except RetryError as exc:
            self._count(gave_up=1)
            attempts = exc.last_attempt.attempt_number
            last = exc.last_attempt.exception()
            raise RetriesExhausted(
                self.source, f"gave up after {attempts} attempts, last: {last}", attempts
            ) from last

    def _one_attempt(self, attempt: Callable[[float], T], deadline: float, rows: int) -> T:
        """One attempt within the deadline: past the breaker, in a connection slot, within the quota
        (which counts every row the attempt carries)."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise DeadlineExceeded(self.source, "deadline spent before the attempt")
        self.breaker.before_call()
        try:
            release = self.slots.acquire(remaining)
        except BaseException:
            self.breaker.abandon_trial()
            raise
        if release is None:
            self.breaker.abandon_trial()
            raise DeadlineExceeded(self.source, "no free connection slot before the deadline")
        try:
            try:
                used = self.quota.consume(rows)
            except BaseException:
                self.breaker.abandon_trial()
                raise
            self.observer.quota_used(self.source, used)
            self._count(attempts=1)
            timeout = min(self.settings.read_timeout, max(deadline - self._clock(), 0.001))
            try:
                result = attempt(timeout)
            except TechnicalAdapterError:
                self._count(technical_failures=1)
                self.breaker.record_failure()
                raise
            except QuotaExhausted:
                self.breaker.record_success()
                self.quota.mark_exhausted()
                raise
            except Exception:
                # A logical answer still proves the source is up.
                self.breaker.record_success()
                raise
            self.breaker.record_success()
            return result
        finally:
            release()

    def _retrying(self, deadline: float) -> Retrying:
        """Retry technical failures with full-jitter backoff (at least a 429's Retry-After), while
        attempts are left and the next one could start before the deadline."""
        jitter = wait_random_exponential(multiplier=self.settings.backoff_base, max=self.settings.backoff_max)

        def wait(state: RetryCallState) -> float:
            pause = jitter(state)
            failure = state.outcome.exception() if state.outcome else None
            if isinstance(failure, SourceRateLimited) and failure.retry_after is not None:
                pause = max(pause, failure.retry_after)
            return pause

        def stop(state: RetryCallState) -> bool:
            out_of_attempts = state.attempt_number >= self.settings.max_attempts
            return out_of_attempts or self._clock() + state.upcoming_sleep >= deadline

        return Retrying(
            retry=retry_if_exception_type(TechnicalAdapterError),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            reraise=False,
        )


class GuardedVerifier(ABC):
    """What every adapter shares: refuse a query it cannot check (a logical error, never retried), and
    run its attempts under the source's guard (retries, deadline, breaker, limit, cache, quota).
    An adapter names its source, says what it supports and makes one attempt."""

    SOURCE: ClassVar[Source]
    REFUSAL: ClassVar[str] = "cannot verify a {id_type} document"
    # Queries one call may carry: the contract's maximum for a source with a bulk operation
    # (`_attempt_many`), 1 for one without.
    MAX_ROWS_PER_CALL: ClassVar[int] = 1

    def __init__(
        self, settings: AdapterSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
    ) -> None:
        self.guard = GuardedCaller(self.SOURCE, settings, hmac_key=hmac_key, limits=limits)

    @property
    def source(self) -> Source:
        return self.SOURCE

    @abstractmethod
    def supports(self, query: VerificationQuery) -> bool: ...

    @abstractmethod
    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer: ...

    def verify(self, query: VerificationQuery, *, deadline_seconds: float | None = None) -> SourceAnswer:
        if not self.supports(query):
            raise RequestRejected(self.source, self.REFUSAL.format(id_type=query.id_type))
        return self.guard.call(
            query, lambda timeout: self._attempt(query, timeout), deadline_seconds=deadline_seconds
        )

    @property
    def max_rows_per_call(self) -> int:
        return self.MAX_ROWS_PER_CALL

    def _attempt_many(self, queries: Sequence[VerificationQuery], timeout: float) -> list[RowResult]:
        """One call carrying every query (at most `MAX_ROWS_PER_CALL`, all of one `_call_kind`);
        one answer or row error per query. Adapters of a source with a bulk operation override it."""
        raise NotImplementedError(f"{self.source.value} has no bulk operation")

    def _call_kind(self, query: VerificationQuery) -> object:
        """Queries of different kinds never share a call (a source with two operations)."""
        return None

    def _refused_rows(self, queries: Sequence[VerificationQuery]) -> dict[int, AdapterError]:
        """Rows that must not go out (they would break the request's contract), by position: each is
        refused alone rather than spoiling the call for the others."""
        return {}

    def verify_many(
        self, queries: Sequence[VerificationQuery], *, deadline_seconds: float | None = None
    ) -> list[RowResult]:
        results: dict[int, RowResult] = {}
        kinds: dict[object, list[int]] = {}
        for index, query in enumerate(queries):
            if not self.supports(query):
                results[index] = RequestRejected(self.source, self.REFUSAL.format(id_type=query.id_type))
            else:
                kinds.setdefault(self._call_kind(query), []).append(index)
        for indices in kinds.values():
            refused = self._refused_rows([queries[index] for index in indices])
            results.update({indices[position]: error for position, error in refused.items()})
            sendable = [index for position, index in enumerate(indices) if position not in refused]
            for start in range(0, len(sendable), self.MAX_ROWS_PER_CALL):
                chunk = sendable[start : start + self.MAX_ROWS_PER_CALL]
                answers = self._ask_chunk([queries[i] for i in chunk], deadline_seconds)
                results.update(zip(chunk, answers, strict=True))
        return [results[index] for index in range(len(queries))]

    def _ask_chunk(
        self, chunk: Sequence[VerificationQuery], deadline_seconds: float | None
    ) -> list[RowResult]:
        if len(chunk) == 1:
            try:
                return [self.verify(chunk[0], deadline_seconds=deadline_seconds)]
            except AdapterError as error:
                return [error]
        return self.guard.call_many(chunk, self._attempt_many, deadline_seconds=deadline_seconds)
