"""A per-client token bucket for the partner verification endpoint.

Each client may make ``burst`` calls at once and then ``rate_per_second`` on average. The buckets
live in the memory of one gateway process: with N replicas a client can reach N times the limit,
and a restart refills every bucket. That is enough to stop a partner's runaway loop from
enumerating codes through one replica; a shared limit would need the database or a cache.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Defaults for the verification endpoint; candidates for settings fields.
VERIFICATION_BURST = 30
VERIFICATION_RATE_PER_SECOND = 5.0
# Buckets idle long enough to be full again are forgotten, so memory stays bounded by active clients.
_PRUNE_EVERY = 1024


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Thread-safe: FastAPI runs synchronous endpoints on a thread pool."""

    def __init__(
        self,
        burst: int = VERIFICATION_BURST,
        rate_per_second: float = VERIFICATION_RATE_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or rate_per_second <= 0:
            raise ValueError("a token bucket needs burst >= 1 and a positive rate")
        self.burst = burst
        self.rate = rate_per_second
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def try_acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            self._calls += 1
            if self._calls % _PRUNE_EVERY == 0:
                self._prune(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]


def retry_after_seconds(wait: float) -> int:
    """A Retry-After header value: whole seconds, never zero."""
    return max(1, math.ceil(wait))
