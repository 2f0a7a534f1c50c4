"""The quota and the calls-in-flight slots of each source, shared by every gateway process through
PostgreSQL: the `AdapterLimits` the adapters' guards take (``gateway.adapters.resilience``).

The quota is a row per source and day counted by one atomic upsert; a slot is a session-level
advisory lock held on a connection of this module's own pool for as long as the call is in flight,
so a process that dies mid-call frees its slots with its connections. Every statement runs in
autocommit, never in a caller's transaction. When the database does not answer, the call is not
made (`LimitsUnavailable`): the agreed limits are not knowingly overrun.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.adapters.base import LimitsUnavailable, QuotaExhausted, Source
from gateway.adapters.resilience import QuotaStore, Release, SlotStore, china_today
from gateway.db import lock_key
from gateway.limits import repository

logger = logging.getLogger(__name__)

# Waiting for a slot: polls with full-jitter backoff between these bounds, seconds.
_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.2


class SharedQuota:
    """One source's daily quota, counted in the database by every process together."""

    def __init__(
        self,
        engine: Engine,
        source: Source,
        limit: int | None,
        today: Callable[[], date] = china_today,
    ) -> None:
        self._engine = engine
        self._source = source
        self._limit = limit
        self._today = today

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise LimitsUnavailable(self._source, "the shared daily quota could not be read") from exc

    @property
    def used(self) -> int:
        with self._connection() as conn:
            return repository.quota_of(conn, self._source.value, self._today())[0]

    def consume(self, rows: int = 1) -> int:
        if self._limit is not None and rows > self._limit:
            raise QuotaExhausted(self._source, f"{rows} rows exceed the daily quota of {self._limit}")
        day = self._today()
        with self._connection() as conn:
            used = repository.count_call(conn, self._source.value, day, self._limit, rows)
            if used is not None:
                return used
            _, by_source = repository.quota_of(conn, self._source.value, day)
        if by_source:
            raise QuotaExhausted(self._source, "daily quota exhausted (reported by the source)")
        raise QuotaExhausted(self._source, f"daily quota of {self._limit} rows spent")

    def mark_exhausted(self) -> None:
        with self._connection() as conn:
            repository.mark_exhausted(conn, self._source.value, self._today())


class SharedSlots:
    """At most ``cap`` calls in flight to one source across every process: slot ``n`` is an advisory
    lock keyed by the schema, the source and ``n``, held on a pooled connection during the call."""

    def __init__(self, engine: Engine, schema: str, source: Source, cap: int) -> None:
        self._engine = engine
        self._source = source
        self._keys = [lock_key("adapter slot", schema, source.value, str(n)) for n in range(cap)]

    def acquire(self, timeout: float) -> Release | None:
        deadline = time.monotonic() + timeout
        pause = _FIRST_PAUSE
        while True:
            taken = self._try_once()
            if taken is not None:
                return taken
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(random.uniform(0, pause), remaining))  # noqa: S311  (jitter, no secret)
            pause = min(pause * 2, _LONGEST_PAUSE)

    def _try_once(self) -> Release | None:
        """One pass over the slots, from a random one so that waiters spread; the release function of
        the slot taken (its connection stays checked out until then), or None when all are held."""
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise LimitsUnavailable(self._source, "the shared call slots could not be reached") from exc
        try:
            start = random.randrange(len(self._keys))  # noqa: S311  (spreads waiters, no secret)
            for key in self._keys[start:] + self._keys[:start]:
                if repository.try_slot(conn, key):
                    return _releaser(conn, key, self._source)
        except SQLAlchemyError as exc:
            conn.invalidate()  # whatever it took dies with its session
            conn.close()
            raise LimitsUnavailable(self._source, "the shared call slots could not be taken") from exc
        conn.close()
        return None


def _releaser(conn: Connection, key: int, source: Source) -> Release:
    released = threading.Event()

    def release() -> None:
        if released.is_set():
            return
        released.set()
        try:
            held = repository.release_slot(conn, key)
        except SQLAlchemyError:
            held = False
        if not held:
            # The session lost the lock (its connection broke): end the session for sure, so that
            # nothing it might still hold outlives it in the pool.
            logger.warning("call slot was no longer held", extra={"adapter": source.value})
            conn.invalidate()
        conn.close()

    return release


class SharedLimits:
    """`AdapterLimits` in PostgreSQL: every process of the deployment counts against the same quota
    and slots. Owns ``engine`` (an engine of its own, so that held slots never starve the pool of
    the registry's transactions) and disposes of it on ``close``."""

    def __init__(self, engine: Engine, today: Callable[[], date] = china_today) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._owned = engine
        self._today = today
        with self._engine.connect() as conn:
            self._schema = repository.current_schema(conn)

    def quota(self, source: Source, limit: int | None) -> QuotaStore:
        return SharedQuota(self._engine, source, limit, self._today)

    def slots(self, source: Source, cap: int) -> SlotStore:
        return SharedSlots(self._engine, self._schema, source, cap)

    def close(self) -> None:
        self._owned.dispose()
