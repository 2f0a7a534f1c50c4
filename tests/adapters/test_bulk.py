"""Bulk verification against the live mocks: a chunk's verdicts are the single verdicts, calls carry
up to 100 rows, the quota counts rows, and faults leave only the affected rows pending."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest

from gateway.adapters.base import Source, VerificationQuery
from gateway.adapters.contracts import declared_limit, json_contract
from gateway.adapters.household import HouseholdVerifier
from gateway.adapters.orchestrator import CombinedVerdict, VerificationOrchestrator, query_from_record
from gateway.adapters.public_security import PublicSecurityVerifier
from gateway.adapters.resilience import GuardedCaller
from gateway.adapters.social_security import SocialSecurityVerifier
from gateway.verdicts import VerdictOutcome, VerdictReason
from mocks.faults import FaultKind, FaultPlan
from mocks.population import Person, Population, derived_guardian_id_number, resident_id_number
from mocks.server import RunningMocks
from tests.fixtures.adapters import orchestrator
from tests.fixtures.mocks import TRAVELLERS, UNDOCUMENTED, reset_faults

Item = tuple[Person, str | None]


@pytest.fixture
def verify(mocks: RunningMocks) -> Iterator[VerificationOrchestrator]:
    # A read timeout no reply of the loaded test machine outlasts: calls are counted exactly below.
    built = orchestrator(mocks, read_timeout=2.0)
    yield built
    built.close()


def citizens(population: Population) -> list[Person]:
    return [p for p in population if p.id_type == "resident_id"]


def undocumented(population: Population) -> list[Person]:
    return [p for p in population if p.id_type == "none" and p.guardian_name]


def mixed_items(population: Population) -> list[Item]:
    """Citizens (some with a wrong name, birth date or ID number), travellers, children without a
    document vouched for by a guardian (some by the wrong one, one by none), an unverifiable document."""
    items: list[Item] = []
    for n, person in enumerate(citizens(population)[:130]):
        if n % 7 == 3:
            person = replace(person, name=person.name + "一")
        elif n % 11 == 5:
            person = replace(
                person, birth_date=person.birth_date.replace(day=1 if person.birth_date.day > 1 else 2)
            )
        elif n % 13 == 6:
            person = replace(person, id_number=resident_id_number("110105", date(2012, 5, 6), 900 + n))
        items.append((person, None))
    items += [(t, None) for t in TRAVELLERS] + [(replace(TRAVELLERS[0], name="KIM MINSU"), None)]
    children = undocumented(population)
    items += [(child, derived_guardian_id_number(child)) for child in children]
    items += [(UNDOCUMENTED, UNDOCUMENTED.guardian_id_number), (UNDOCUMENTED, "110105198001010013")]
    items += [(UNDOCUMENTED, None), (replace(TRAVELLERS[0], id_type="other"), None)]
    return items


def singles(verify: VerificationOrchestrator, items: list[Item]) -> list[CombinedVerdict]:
    return [verify.verify_identity(record, guardian_id_number=guardian) for record, guardian in items]


def requests(mocks: RunningMocks, system: str) -> int:
    return mocks.injectors[system].snapshot().get("requests", 0)


def test_the_adapters_state_the_contracts_limits() -> None:
    assert PublicSecurityVerifier.MAX_ROWS_PER_CALL == 100
    assert declared_limit("public_security", "conditions-request.xsd", "rowsPerCall") == 100
    for adapter, system, schema, key in (
        (HouseholdVerifier, "household", "HouseholdLookupBatch", "lookups"),
        (SocialSecurityVerifier, "social_security", "InsuredQueryBatch", "queries"),
    ):
        stated = json_contract(system).document["components"]["schemas"][schema]["properties"][key]
        assert adapter.MAX_ROWS_PER_CALL == stated["maxItems"] == 100


def test_a_chunks_verdicts_are_the_single_verdicts(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population
) -> None:
    items = mixed_items(population)
    alone = singles(verify, items)
    reset_faults(mocks)  # fresh counters: what follows is the bulk path's traffic only
    together = verify.verify_identities(items)
    assert together == alone
    seen = {(v.outcome, v.reason) for v in together}
    assert {
        (VerdictOutcome.VERIFIED, VerdictReason.CONSISTENT),
        (VerdictOutcome.FAILED, VerdictReason.NAME_MISMATCH),
        (VerdictOutcome.FAILED, VerdictReason.FIELD_MISMATCH),
        (VerdictOutcome.FAILED, VerdictReason.NO_SUCH_NUMBER),
        (VerdictOutcome.FAILED, VerdictReason.NOT_FOUND),
        (VerdictOutcome.NOT_APPLICABLE, VerdictReason.NO_GUARDIAN_ID),
        (VerdictOutcome.NOT_APPLICABLE, VerdictReason.NO_SOURCE),
    } <= seen
    # 130 citizens: two calls to the population register and two to social security; the children
    # in one call to the household register; exit-entry has no bulk operation: a call per document.
    assert requests(mocks, "public_security") == requests(mocks, "social_security") == 2
    assert requests(mocks, "household") == math.ceil((len(undocumented(population)) + 2) / 100)
    assert requests(mocks, "exit_entry") == 3


def test_the_quota_counts_rows_and_a_chunk_that_does_not_fit_is_refused(
    mocks: RunningMocks, population: Population
) -> None:
    built = orchestrator(mocks, daily_quota=150, read_timeout=2.0)
    try:
        guard: GuardedCaller = built.verifiers[Source.PUBLIC_SECURITY].guard  # type: ignore[attr-defined]
        first = [(p, None) for p in citizens(population)[:120]]
        assert {v.outcome for v in built.verify_identities(first)} == {VerdictOutcome.VERIFIED}
        assert guard.quota.used == 120 and requests(mocks, "public_security") == 2
        more = [(p, None) for p in citizens(population)[120:160]]  # 40 more rows do not fit in 30
        refused = built.verify_identities(more)
        assert {(v.outcome, v.reason) for v in refused} == {
            (VerdictOutcome.PENDING, VerdictReason.QUOTA_EXHAUSTED)
        }
        assert guard.quota.used == 120 and requests(mocks, "public_security") == 2
        assert built.verify_identity(citizens(population)[200]).outcome is VerdictOutcome.VERIFIED
        assert guard.quota.used == 121
    finally:
        built.close()


def test_a_timed_out_chunk_leaves_its_rows_pending_and_is_retried_per_call(
    mocks: RunningMocks, population: Population
) -> None:
    mocks.injectors["public_security"].set_plan(
        FaultPlan(error_rate=1.0, error_kinds=[FaultKind.TIMEOUT], timeout_seconds=0.8)
    )
    verify = orchestrator(mocks, read_timeout=0.3)
    items: list[Item] = [(p, None) for p in citizens(population)[:40]]
    try:
        verdicts = verify.verify_identities(items, deadline_seconds=2.0)
    finally:
        verify.close()
    assert {(v.outcome, v.reason, v.retry_sources) for v in verdicts} == {
        (VerdictOutcome.PENDING, VerdictReason.SOURCE_UNAVAILABLE, (Source.PUBLIC_SECURITY,))
    }
    assert all(v.sources == (Source.SOCIAL_SECURITY,) for v in verdicts)  # the other source answered
    guard: GuardedCaller = verify.verifiers[Source.PUBLIC_SECURITY].guard  # type: ignore[attr-defined]
    # Retries are per call: a handful of attempts for the chunk, not one per row.
    assert 1 <= guard.stats.attempts == requests(mocks, "public_security") < len(items)


@pytest.mark.parametrize("system", ["public_security", "household"])
def test_partial_failure_leaves_only_the_unanswered_rows_pending(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population, system: str
) -> None:
    if system == "public_security":
        items: list[Item] = [(p, None) for p in citizens(population)[:40]]
    else:
        items = [(c, derived_guardian_id_number(c)) for c in undocumented(population)]
    alone = singles(verify, items)
    mocks.injectors[system].set_plan(
        FaultPlan(seed=7, error_rate=1.0, error_kinds=[FaultKind.PARTIAL_FAILURE])
    )
    together = verify.verify_identities(items)
    pending = [n for n, v in enumerate(together) if v.outcome is VerdictOutcome.PENDING]
    assert 0 < len(pending) < len(items)
    for n, verdict in enumerate(together):
        if n in pending:
            assert (verdict.reason, verdict.retry_sources) == (
                VerdictReason.SOURCE_UNAVAILABLE,
                (Source(system),),
            )
        else:
            assert verdict == alone[n]


@pytest.mark.parametrize("system", ["public_security", "household"])
def test_a_malformed_row_in_a_reply_spoils_only_its_own_row(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population, system: str
) -> None:
    if system == "public_security":
        items: list[Item] = [(p, None) for p in citizens(population)[:40]]
    else:
        items = [(c, derived_guardian_id_number(c)) for c in undocumented(population)]
    alone = singles(verify, items)
    mocks.injectors[system].set_plan(FaultPlan(seed=3, error_rate=1.0, error_kinds=[FaultKind.MALFORMED_ROW]))
    together = verify.verify_identities(items)
    spoilt = [n for n, v in enumerate(together) if v != alone[n]]
    assert len(spoilt) == 1
    assert (together[spoilt[0]].outcome, together[spoilt[0]].reason) == (
        VerdictOutcome.PENDING,
        VerdictReason.SOURCE_ERROR,
    )


def test_a_corroborating_source_failing_rows_decides_nothing(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population
) -> None:
    items: list[Item] = [(p, None) for p in citizens(population)[:40]]
    mocks.injectors["social_security"].set_plan(
        FaultPlan(seed=7, error_rate=1.0, error_kinds=[FaultKind.PARTIAL_FAILURE])
    )
    together = verify.verify_identities(items)
    assert {v.outcome for v in together} == {VerdictOutcome.VERIFIED}
    errors = [v.source_errors for v in together if v.source_errors]
    assert 0 < len(errors) < len(items)
    assert all(e == {Source.SOCIAL_SECURITY: "TechnicalAdapterError"} for e in errors)


def test_a_row_that_would_break_the_request_contract_is_refused_alone(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population
) -> None:
    people = citizens(population)[:10]
    items: list[Item] = [(p, None) for p in people]
    items[4] = (replace(people[4], name="长" * 70), None)  # longer than any field of the conditions
    together = verify.verify_identities(items)
    assert (together[4].outcome, together[4].reason) == (VerdictOutcome.PENDING, VerdictReason.SOURCE_ERROR)
    assert {v.outcome for n, v in enumerate(together) if n != 4} == {VerdictOutcome.VERIFIED}
    assert requests(mocks, "public_security") == 1


def test_an_adapter_splits_more_rows_than_one_call_may_carry(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population
) -> None:
    adapter = verify.verifiers[Source.PUBLIC_SECURITY]
    queries: list[VerificationQuery] = [query_from_record(p) for p in citizens(population)[:230]]
    answers = adapter.verify_many(queries)
    assert len(answers) == 230 and all(getattr(a, "found", False) for a in answers)
    assert requests(mocks, "public_security") == 3


def test_an_adapter_that_sent_more_rows_than_agreed_would_be_refused_whole(
    mocks: RunningMocks, verify: VerificationOrchestrator, population: Population
) -> None:
    adapter = verify.verifiers[Source.PUBLIC_SECURITY]
    assert isinstance(adapter, PublicSecurityVerifier)
    adapter.MAX_ROWS_PER_CALL = 101  # type: ignore[misc]  # break the agreement, on this instance only
    answers = adapter.verify_many([query_from_record(p) for p in citizens(population)[:101]])
    assert {type(a).__name__ for a in answers} == {"RequestRejected"}
    assert requests(mocks, "public_security") == 1  # refused, not retried
