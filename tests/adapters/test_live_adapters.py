"""Each adapter against its live mock on loopback: answers, faults, retries, breaker, contract, quota."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from gateway.adapters.base import (
    CircuitOpen,
    ContractViolation,
    FieldVerdict,
    IdentityVerifier,
    QuotaExhausted,
    RetriesExhausted,
    Source,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.resilience import BreakerState, GuardedCaller
from mocks.faults import FaultKind, FaultPlan
from mocks.population import Person, Population
from mocks.server import RunningMocks
from tests.fixtures.adapters import verifiers
from tests.fixtures.mocks import TRAVELLERS, UNDOCUMENTED

UNKNOWN_NUMBER = "110105201001010011"


def citizen(population: Population, index: int = 0) -> Person:
    return [p for p in population if p.id_type == "resident_id" and p.guardian_name][index]


def query_for(person: Person, **changes: object) -> VerificationQuery:
    query = VerificationQuery(
        id_type=person.id_type,
        id_number=person.id_number,
        name=person.name,
        birth_date=person.birth_date,
        gender=person.gender,
        ethnicity=person.ethnicity,
        nationality=person.nationality,
        guardian_id_number=person.guardian_id_number,
        guardian_name=person.guardian_name,
    )
    return replace(query, **changes)  # type: ignore[arg-type]


def sample_query(source: Source, population: Population) -> VerificationQuery:
    if source is Source.EXIT_ENTRY:
        return query_for(TRAVELLERS[0])
    if source is Source.HOUSEHOLD:
        return query_for(UNDOCUMENTED)
    return query_for(citizen(population))


def guard_of(verifier: IdentityVerifier) -> GuardedCaller:
    guard = verifier.guard  # type: ignore[attr-defined]
    assert isinstance(guard, GuardedCaller)
    return guard


@pytest.fixture
def adapters(mocks: RunningMocks) -> Iterator[dict[Source, IdentityVerifier]]:
    built = verifiers(mocks)
    yield built
    for verifier in built.values():
        verifier.close()


def test_public_security_verdicts(adapters: dict[Source, IdentityVerifier], population: Population) -> None:
    ps = adapters[Source.PUBLIC_SECURITY]
    person = citizen(population)
    match = ps.verify(query_for(person))
    assert match.found
    assert {
        f: match.verdict(f) for f in (VerifiedField.ID_NUMBER, VerifiedField.NAME, VerifiedField.BIRTH_DATE)
    } == {
        VerifiedField.ID_NUMBER: FieldVerdict.CONSISTENT,
        VerifiedField.NAME: FieldVerdict.CONSISTENT,
        VerifiedField.BIRTH_DATE: FieldVerdict.CONSISTENT,
    }
    wrong_name = ps.verify(
        query_for(person, name=citizen(population, 1).name, birth_date=None, gender=None, ethnicity=None)
    )
    assert wrong_name.verdict(VerifiedField.NAME) is FieldVerdict.INCONSISTENT
    assert wrong_name.verdict(VerifiedField.BIRTH_DATE) is FieldVerdict.NOT_CHECKED
    missing = ps.verify(query_for(person, id_number=UNKNOWN_NUMBER))
    assert not missing.found and missing.verdict(VerifiedField.ID_NUMBER) is FieldVerdict.NO_RECORD


def test_exit_entry_verdicts(adapters: dict[Source, IdentityVerifier]) -> None:
    ee = adapters[Source.EXIT_ENTRY]
    traveller = TRAVELLERS[0]
    found = ee.verify(query_for(traveller))
    assert (found.found, found.verdict(VerifiedField.NAME), found.holder_nationality) == (
        True,
        FieldVerdict.CONSISTENT,
        "KOR",
    )
    assert found.document_valid_until is not None and found.document_valid_until > traveller.birth_date
    wrong_birth = ee.verify(query_for(traveller, birth_date=traveller.birth_date.replace(day=3)))
    assert wrong_birth.verdict(VerifiedField.BIRTH_DATE) is FieldVerdict.INCONSISTENT
    assert not ee.verify(query_for(traveller, id_number="M99999999")).found


def test_household_verdicts(adapters: dict[Source, IdentityVerifier], population: Population) -> None:
    hh = adapters[Source.HOUSEHOLD]
    child = hh.verify(query_for(UNDOCUMENTED))
    assert child.found and child.household_region == "410102"
    assert child.verdict(VerifiedField.GUARDIAN) is FieldVerdict.CONSISTENT
    other_guardian = hh.verify(query_for(UNDOCUMENTED, guardian_name="王伟"))
    assert other_guardian.verdict(VerifiedField.GUARDIAN) is FieldVerdict.INCONSISTENT
    assert not hh.verify(query_for(UNDOCUMENTED, name="李小语")).found
    member = hh.verify(query_for(citizen(population), guardian_name=None))
    assert member.found and member.verdict(VerifiedField.NAME) is FieldVerdict.CONSISTENT


def test_social_security_verdicts(adapters: dict[Source, IdentityVerifier], population: Population) -> None:
    ss = adapters[Source.SOCIAL_SECURITY]
    person = citizen(population)
    assert ss.verify(query_for(person)).verdict(VerifiedField.NAME) is FieldVerdict.CONSISTENT
    assert not ss.verify(query_for(person, id_number=UNKNOWN_NUMBER)).found


TRANSIENT = [
    FaultKind.HTTP_500,
    FaultKind.HTTP_503,
    FaultKind.HTTP_429,
    FaultKind.SERVER_FAULT,
    FaultKind.TIMEOUT,
    FaultKind.CONNECTION_DROP,
]


@pytest.mark.parametrize("source", list(Source))
def test_transient_faults_are_retried_to_the_right_answer_within_budget(
    mocks: RunningMocks, adapters: dict[Source, IdentityVerifier], population: Population, source: Source
) -> None:
    mocks.injectors[source.value].set_plan(
        FaultPlan(seed=3, error_rate=0.3, error_kinds=TRANSIENT, retry_after_seconds=0, timeout_seconds=0.6)
    )
    verifier = adapters[source]
    guard = guard_of(verifier)
    good = sample_query(source, population)
    cases = [(good, True), (replace(good, name="欧阳不存在"), False)] * 8
    for query, name_matches in cases:
        before = guard.stats.attempts
        result = verifier.verify(query)
        expected = FieldVerdict.CONSISTENT if name_matches else FieldVerdict.INCONSISTENT
        if source is Source.HOUSEHOLD and not name_matches:
            assert not result.found  # a child is looked up by name: another name finds no one
        else:
            assert result.verdict(VerifiedField.NAME) is expected
        assert guard.stats.attempts - before <= guard.settings.max_attempts
    stats = mocks.injectors[source.value].snapshot()
    assert guard.stats.gave_up == 0
    assert guard.stats.technical_failures > 0, "the fault plan should have hit some requests"
    assert stats["requests"] == guard.stats.attempts


@pytest.mark.parametrize("kind", TRANSIENT)
@pytest.mark.parametrize("source", list(Source))
def test_each_transient_fault_is_technical_and_retried(
    mocks: RunningMocks, population: Population, source: Source, kind: FaultKind
) -> None:
    built = verifiers(mocks, max_attempts=2)
    mocks.injectors[source.value].set_plan(
        FaultPlan(error_rate=1.0, error_kinds=[kind], retry_after_seconds=0, timeout_seconds=0.6)
    )
    with pytest.raises(RetriesExhausted) as raised:
        built[source].verify(sample_query(source, population))
    assert raised.value.attempts == 2
    assert mocks.injectors[source.value].snapshot()[f"fault:{kind.value}"] == 2
    for verifier in built.values():
        verifier.close()


def test_breaker_opens_under_failures_and_closes_after_recovery(
    mocks: RunningMocks, population: Population
) -> None:
    built = verifiers(mocks, breaker_failure_threshold=3, breaker_reset_timeout=0.3)
    ps = built[Source.PUBLIC_SECURITY]
    guard = guard_of(ps)
    injector = mocks.injectors["public_security"]
    injector.set_plan(FaultPlan(down=True))
    with pytest.raises(CircuitOpen):
        ps.verify(query_for(citizen(population)))
    assert guard.breaker.state is BreakerState.OPEN
    assert injector.snapshot()["requests"] == 3
    with pytest.raises(CircuitOpen):
        ps.verify(query_for(citizen(population)))
    assert injector.snapshot()["requests"] == 3, "an open breaker must not reach the source"

    injector.set_plan(FaultPlan())
    time.sleep(0.35)  # the breaker's reset timeout
    assert ps.verify(query_for(citizen(population))).found
    assert guard.breaker.state is BreakerState.CLOSED
    ps.close()


@pytest.mark.parametrize("kind", [FaultKind.MALFORMED_REPLY, FaultKind.SCHEMA_VIOLATION])
@pytest.mark.parametrize("source", list(Source))
def test_broken_replies_are_logical_errors_not_retried_and_alerted(
    mocks: RunningMocks,
    adapters: dict[Source, IdentityVerifier],
    population: Population,
    caplog: pytest.LogCaptureFixture,
    source: Source,
    kind: FaultKind,
) -> None:
    query = sample_query(source, population)
    for seed in (0, 1):  # the SOAP mocks break a reply in two ways, chosen by the seed
        mocks.injectors[source.value].set_plan(FaultPlan(seed=seed, error_rate=1.0, error_kinds=[kind]))
        caplog.clear()
        with caplog.at_level(logging.ERROR), pytest.raises(ContractViolation):
            adapters[source].verify(query)
        assert mocks.injectors[source.value].snapshot()["requests"] == 1
        alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert alerts and all(getattr(r, "adapter", None) == source.value for r in alerts)
        for number in (query.id_number, query.guardian_id_number):
            assert not number or all(number not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("source", list(Source))
def test_quota_exhausted_at_the_source_is_not_retried(
    mocks: RunningMocks, adapters: dict[Source, IdentityVerifier], population: Population, source: Source
) -> None:
    mocks.injectors[source.value].set_plan(FaultPlan(daily_quota=0))
    with pytest.raises(QuotaExhausted):
        adapters[source].verify(sample_query(source, population))
    with pytest.raises(QuotaExhausted):
        adapters[source].verify(sample_query(source, population))
    assert mocks.injectors[source.value].snapshot()["requests"] == 1


def test_local_daily_quota(mocks: RunningMocks, population: Population) -> None:
    built = verifiers(mocks, daily_quota=2)
    ss = built[Source.SOCIAL_SECURITY]
    for index in range(2):
        ss.verify(query_for(citizen(population, index)))
    with pytest.raises(QuotaExhausted):
        ss.verify(query_for(citizen(population, 2)))
    assert mocks.injectors["social_security"].snapshot()["requests"] == 2
    ss.close()


def test_positive_answers_are_served_from_cache(mocks: RunningMocks, population: Population) -> None:
    built = verifiers(mocks, cache_ttl=60.0)
    ps = built[Source.PUBLIC_SECURITY]
    query = query_for(citizen(population))
    assert not ps.verify(query).from_cache
    assert ps.verify(query).from_cache
    missing = query_for(citizen(population), id_number=UNKNOWN_NUMBER)
    ps.verify(missing)
    assert not ps.verify(missing).from_cache
    assert mocks.injectors["public_security"].snapshot()["requests"] == 3
    ps.close()
