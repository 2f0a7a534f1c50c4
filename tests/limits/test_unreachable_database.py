"""When the database holding the shared limits does not answer, no call is made past them: the guard
gives up with `LimitsUnavailable` (a verification left pending), and never reaches the source."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from gateway.adapters.base import LimitsUnavailable, Source, SourceAnswer, VerificationQuery
from gateway.adapters.resilience import GuardedCaller
from gateway.adapters.settings import AdapterSettings, Implementation
from gateway.limits.service import SharedQuota, SharedSlots

SOURCE = Source.HOUSEHOLD


@pytest.fixture
def unreachable() -> Iterator[Engine]:
    # Nothing listens on port 1 of loopback: every connection is refused at once.
    engine = create_engine("postgresql+psycopg://gateway@127.0.0.1:1/gateway", isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


class UnreachableLimits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def quota(self, source: Source, limit: int | None) -> SharedQuota:
        return SharedQuota(self.engine, source, limit)

    def slots(self, source: Source, cap: int) -> SharedSlots:
        return SharedSlots(self.engine, "public", source, cap)

    def close(self) -> None:
        pass


def test_no_call_is_made_when_the_limits_cannot_be_checked(unreachable: Engine) -> None:
    settings = AdapterSettings(
        implementation=Implementation.HOUSEHOLD_REST, base_url="http://127.0.0.1:9", cache_ttl=0.0
    )
    caller = GuardedCaller(SOURCE, settings, hmac_key=b"secret", limits=UnreachableLimits(unreachable))
    reached = []

    def attempt(timeout: float) -> SourceAnswer:
        reached.append(timeout)
        return SourceAnswer(source=SOURCE, found=True)

    with pytest.raises(LimitsUnavailable):
        caller.call(VerificationQuery(id_type="none", id_number=None, name="学生"), attempt)
    assert reached == []


def test_an_unreachable_quota_refuses_rather_than_counts(unreachable: Engine) -> None:
    quota = SharedQuota(unreachable, SOURCE, 10)
    with pytest.raises(LimitsUnavailable):
        quota.consume()
    with pytest.raises(LimitsUnavailable):
        quota.mark_exhausted()
    with pytest.raises(LimitsUnavailable):
        SharedSlots(unreachable, "public", SOURCE, 2).acquire(0)
