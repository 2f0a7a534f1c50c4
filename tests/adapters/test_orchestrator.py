"""Source choice and verdicts of the orchestrator, against the live mocks and on hand-made answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from gateway.adapters.base import (
    AdapterError,
    FieldVerdict,
    QuotaExhausted,
    RetriesExhausted,
    Source,
    SourceAnswer,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.orchestrator import (
    VerificationOrchestrator,
    combine,
    plan_sources,
    query_from_record,
)
from gateway.identity import CanonicalRecord
from gateway.matching.synthetic import generate_population
from gateway.verdicts import VerdictOutcome, VerdictReason
from mocks.faults import FaultKind, FaultPlan
from mocks.server import RunningMocks
from tests.fixtures.adapters import orchestrator
from tests.fixtures.mocks import TRAVELLERS, UNDOCUMENTED


@pytest.fixture
def verify(mocks: RunningMocks) -> Iterator[VerificationOrchestrator]:
    built = orchestrator(mocks)
    yield built
    built.close()


@pytest.fixture(scope="module")
def records() -> list[CanonicalRecord]:
    # The same generator and seed the mocks' population was drawn from (tests/mocks/live.py).
    return [r for r in generate_population(300, 11) if r.id_type == "resident_id"]


def test_citizen_verified_by_population_register_and_corroborated(
    verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    verdict = verify.verify_identity(records[0])
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.VERIFIED, VerdictReason.CONSISTENT)
    assert verdict.sources == (Source.PUBLIC_SECURITY, Source.SOCIAL_SECURITY)
    assert verdict.field_verdict(VerifiedField.NAME) is FieldVerdict.CONSISTENT
    assert {flag.source for flag in verdict.flags} == {Source.PUBLIC_SECURITY, Source.SOCIAL_SECURITY}
    assert verdict.retry_sources == ()


def test_unknown_number_fails(verify: VerificationOrchestrator, records: list[CanonicalRecord]) -> None:
    verdict = verify.verify_identity(replace(records[0], id_number="110105201001010011"))
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.FAILED, VerdictReason.NO_SUCH_NUMBER)
    assert verdict.field_verdict(VerifiedField.ID_NUMBER) is FieldVerdict.NO_RECORD


def test_name_disagreeing_fails(verify: VerificationOrchestrator, records: list[CanonicalRecord]) -> None:
    verdict = verify.verify_identity(replace(records[0], name=records[0].name + "一"))
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.FAILED, VerdictReason.NAME_MISMATCH)


def test_birth_date_disagreeing_fails(
    verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    record = records[1]
    verdict = verify.verify_identity(
        replace(record, birth_date=record.birth_date.replace(year=record.birth_date.year - 1))
    )
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.FAILED, VerdictReason.FIELD_MISMATCH)
    assert verdict.field_verdict(VerifiedField.BIRTH_DATE) is FieldVerdict.INCONSISTENT


def test_traveller_goes_to_exit_entry(verify: VerificationOrchestrator) -> None:
    verdict = verify.verify_identity(TRAVELLERS[1])
    assert (verdict.outcome, verdict.sources) == (VerdictOutcome.VERIFIED, (Source.EXIT_ENTRY,))


def test_child_without_document_goes_through_guardian(verify: VerificationOrchestrator) -> None:
    verdict = verify.verify_identity(UNDOCUMENTED, guardian_id_number=UNDOCUMENTED.guardian_id_number)
    assert (verdict.outcome, verdict.sources) == (VerdictOutcome.VERIFIED, (Source.HOUSEHOLD,))
    assert verdict.field_verdict(VerifiedField.GUARDIAN) is FieldVerdict.CONSISTENT
    unknown = verify.verify_identity(UNDOCUMENTED, guardian_id_number="110105198001010013")
    assert (unknown.outcome, unknown.reason) == (VerdictOutcome.FAILED, VerdictReason.NOT_FOUND)


def test_no_source_means_not_applicable(verify: VerificationOrchestrator) -> None:
    assert verify.verify_identity(UNDOCUMENTED).reason is VerdictReason.NO_GUARDIAN_ID
    other = replace(TRAVELLERS[0], id_type="other")
    assert verify.verify_identity(other).outcome is VerdictOutcome.NOT_APPLICABLE


def test_population_register_down_is_pending(
    mocks: RunningMocks, verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    mocks.injectors["public_security"].set_plan(FaultPlan(down=True))
    verdict = verify.verify_identity(records[2])
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.PENDING, VerdictReason.SOURCE_UNAVAILABLE)
    assert verdict.retry_sources == (Source.PUBLIC_SECURITY,)
    assert verdict.sources == (Source.SOCIAL_SECURITY,)


def test_quota_exhaustion_is_pending(
    mocks: RunningMocks, verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    mocks.injectors["public_security"].set_plan(FaultPlan(daily_quota=0))
    verdict = verify.verify_identity(records[3])
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.PENDING, VerdictReason.QUOTA_EXHAUSTED)
    assert verdict.retry_sources == (Source.PUBLIC_SECURITY,)
    assert verdict.source_errors == {Source.PUBLIC_SECURITY: "QuotaExhausted"}


def test_broken_reply_is_pending_not_failed(
    mocks: RunningMocks, verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    mocks.injectors["public_security"].set_plan(
        FaultPlan(error_rate=1.0, error_kinds=[FaultKind.SCHEMA_VIOLATION])
    )
    verdict = verify.verify_identity(records[4])
    assert (verdict.outcome, verdict.reason) == (VerdictOutcome.PENDING, VerdictReason.SOURCE_ERROR)


def test_corroborating_source_down_does_not_decide(
    mocks: RunningMocks, verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    mocks.injectors["social_security"].set_plan(FaultPlan(down=True))
    verdict = verify.verify_identity(records[5])
    assert verdict.outcome is VerdictOutcome.VERIFIED
    assert verdict.source_errors == {Source.SOCIAL_SECURITY: "RetriesExhausted"}


def test_thirty_percent_faults_every_verification_completes(
    mocks: RunningMocks, verify: VerificationOrchestrator, records: list[CanonicalRecord]
) -> None:
    plan = FaultPlan(
        seed=9,
        error_rate=0.3,
        error_kinds=[FaultKind.HTTP_503, FaultKind.HTTP_429, FaultKind.SERVER_FAULT, FaultKind.TIMEOUT],
        retry_after_seconds=0,
        timeout_seconds=0.6,
    )
    for name in ("public_security", "social_security"):
        mocks.injectors[name].set_plan(plan)
    for index, record in enumerate(records[:12]):
        wrong = index % 3 == 2
        verdict = verify.verify_identity(replace(record, name=record.name + "一") if wrong else record)
        expected = (
            (VerdictOutcome.FAILED, VerdictReason.NAME_MISMATCH)
            if wrong
            else (VerdictOutcome.VERIFIED, VerdictReason.CONSISTENT)
        )
        assert (verdict.outcome, verdict.reason) == expected
    for name in ("public_security", "social_security"):
        injected = sum(n for key, n in mocks.injectors[name].snapshot().items() if key.startswith("fault:"))
        assert injected > 0, f"the fault plan should have hit some requests to {name}"


# Pure combination, on hand-made answers.
def found(source: Source, **fields: FieldVerdict) -> SourceAnswer:
    return SourceAnswer(source=source, found=True, fields={VerifiedField(k): v for k, v in fields.items()})


@pytest.mark.parametrize(
    ("primary_answer", "outcome", "reason"),
    [
        (
            found(Source.PUBLIC_SECURITY, name=FieldVerdict.CONSISTENT),
            VerdictOutcome.VERIFIED,
            VerdictReason.CONSISTENT,
        ),
        (
            found(Source.PUBLIC_SECURITY, name=FieldVerdict.CONSISTENT, ethnicity=FieldVerdict.NO_RECORD),
            VerdictOutcome.VERIFIED,
            VerdictReason.CONSISTENT,
        ),
        (
            found(Source.PUBLIC_SECURITY, name=FieldVerdict.CONSISTENT, gender=FieldVerdict.INCONSISTENT),
            VerdictOutcome.FAILED,
            VerdictReason.FIELD_MISMATCH,
        ),
        (
            QuotaExhausted(Source.PUBLIC_SECURITY, "spent"),
            VerdictOutcome.PENDING,
            VerdictReason.QUOTA_EXHAUSTED,
        ),
        (
            RetriesExhausted(Source.PUBLIC_SECURITY, "x", 5),
            VerdictOutcome.PENDING,
            VerdictReason.SOURCE_UNAVAILABLE,
        ),
    ],
)
def test_combine(
    primary_answer: SourceAnswer | AdapterError, outcome: VerdictOutcome, reason: VerdictReason
) -> None:
    corroboration = found(Source.SOCIAL_SECURITY, name=FieldVerdict.INCONSISTENT)
    verdict = combine(
        Source.PUBLIC_SECURITY,
        {Source.PUBLIC_SECURITY: primary_answer, Source.SOCIAL_SECURITY: corroboration},
        (Source.PUBLIC_SECURITY, Source.SOCIAL_SECURITY),
    )
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert bool(verdict.retry_sources) == (outcome is VerdictOutcome.PENDING)


def test_primary_flags_take_precedence() -> None:
    verdict = combine(
        Source.PUBLIC_SECURITY,
        {
            Source.PUBLIC_SECURITY: found(Source.PUBLIC_SECURITY, name=FieldVerdict.CONSISTENT),
            Source.SOCIAL_SECURITY: found(
                Source.SOCIAL_SECURITY, name=FieldVerdict.INCONSISTENT, birth_date=FieldVerdict.CONSISTENT
            ),
        },
        (Source.PUBLIC_SECURITY, Source.SOCIAL_SECURITY),
    )
    assert verdict.field_verdict(VerifiedField.NAME) is FieldVerdict.CONSISTENT
    assert verdict.field_verdict(VerifiedField.BIRTH_DATE) is FieldVerdict.CONSISTENT  # only SS checked it


@pytest.mark.parametrize(
    ("id_type", "id_number", "guardian", "primary"),
    [
        ("resident_id", "110105201503070016", None, Source.PUBLIC_SECURITY),
        ("household_booklet", "110105201503070016", None, Source.PUBLIC_SECURITY),
        ("passport", "E12345678", None, Source.EXIT_ENTRY),
        ("foreign_permanent_residence", "KOR110105150307", None, Source.EXIT_ENTRY),
        ("none", None, "110105198001010013", Source.HOUSEHOLD),
        ("none", None, None, None),
        ("other", "X1", None, None),
    ],
)
def test_sources_by_document_type(
    id_type: str, id_number: str | None, guardian: str | None, primary: Source | None
) -> None:
    query = VerificationQuery(
        id_type=id_type, id_number=id_number, name="王子涵", guardian_id_number=guardian
    )
    assert plan_sources(query)[0] is primary


def test_query_from_canonical_record(records: list[CanonicalRecord]) -> None:
    query = query_from_record(records[0], guardian_id_number="110105198001010013")
    assert (query.id_number, query.name, query.birth_date) == (
        records[0].id_number,
        records[0].name,
        records[0].birth_date,
    )
    assert query.guardian_id_number == "110105198001010013"
