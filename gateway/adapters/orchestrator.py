"""Verification of one person's identity across the external systems, combined into one verdict.

Sources are picked by document type: a citizen ID (or household booklet) goes to the population register
and is corroborated by social security; passports and permits go to exit-entry; a child with no
document goes to the household register through a guardian's ID number. The primary source decides:
`verified` when nothing it checked disagrees, `failed` when it has no such number or a field disagrees,
`pending` when it could not answer (down, out of quota, broken reply) — with the reason and the sources
to ask again, so the caller can queue a re-verification in its own transaction — and `not_applicable`
when no source can check the document. Corroborating answers add per-field flags but never decide.
Photos are never requested or stored.

`verify_identities` verifies many people at once: it sends each source its rows in chunks of at most
what one call may carry (100 for the population register, household and social security, whose
contracts have a bulk operation; 1 for exit-entry), the chunks in parallel, and combines each person's
answers exactly as `verify_identity` would, so every verdict means what it would for that person
alone. A chunk whose call fails, and a row the source could not answer, leave those people `pending`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from gateway.adapters.base import (
    AdapterError,
    DeadlineExceeded,
    FieldVerdict,
    IdentityVerifier,
    QuotaExhausted,
    Source,
    SourceAnswer,
    SourceUnavailable,
    TechnicalAdapterError,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.exit_entry import SUPPORTED_ID_TYPES as EXIT_ENTRY_ID_TYPES
from gateway.adapters.exit_entry import ExitEntryVerifier
from gateway.adapters.household import HouseholdVerifier
from gateway.adapters.public_security import PublicSecurityVerifier
from gateway.adapters.resilience import AdapterLimits, GuardedVerifier, GuardObserver, LocalLimits
from gateway.adapters.settings import AdapterSettings, AdaptersSettings, Implementation
from gateway.adapters.social_security import SocialSecurityVerifier
from gateway.identity import CITIZEN_ID_TYPES
from gateway.verdicts import VerdictOutcome, VerdictReason

logger = logging.getLogger(__name__)


class IdentitySubject(Protocol):
    """What the orchestrator reads from a record (`gateway.identity.CanonicalRecord` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def gender(self) -> str | None: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def ethnicity(self) -> str | None: ...
    @property
    def id_type(self) -> str: ...
    @property
    def id_number(self) -> str | None: ...
    @property
    def nationality(self) -> str | None: ...
    @property
    def guardian_name(self) -> str | None: ...


@dataclass(frozen=True)
class FieldFlag:
    """One source's verdict on one field."""

    field: VerifiedField
    verdict: FieldVerdict
    source: Source


@dataclass(frozen=True)
class CombinedVerdict:
    """The combined answer. `retry_sources` is non-empty exactly when the outcome is `pending`."""

    outcome: VerdictOutcome
    reason: VerdictReason
    flags: tuple[FieldFlag, ...] = ()
    sources: tuple[Source, ...] = ()
    retry_sources: tuple[Source, ...] = ()
    source_errors: Mapping[Source, str] = field(default_factory=dict, hash=False)

    def field_verdict(self, name: VerifiedField) -> FieldVerdict:
        """The deciding verdict on a field: the first source (primary first) that checked it."""
        for flag in self.flags:
            if flag.field is name and flag.verdict is not FieldVerdict.NOT_CHECKED:
                return flag.verdict
        return FieldVerdict.NOT_CHECKED


def query_from_record(record: IdentitySubject, *, guardian_id_number: str | None = None) -> VerificationQuery:
    """The adapter query for a canonical record."""
    return VerificationQuery(
        id_type=str(getattr(record.id_type, "value", record.id_type)),
        id_number=record.id_number,
        name=record.name,
        birth_date=record.birth_date,
        gender=str(getattr(record.gender, "value", record.gender)) if record.gender else None,
        ethnicity=record.ethnicity,
        nationality=record.nationality,
        guardian_id_number=guardian_id_number,
        guardian_name=record.guardian_name,
    )


def plan_sources(query: VerificationQuery) -> tuple[Source | None, tuple[Source, ...], VerdictReason]:
    """(primary, corroborating, reason when there is no primary) for a query."""
    if query.id_type in CITIZEN_ID_TYPES and query.id_number:
        return Source.PUBLIC_SECURITY, (Source.SOCIAL_SECURITY,), VerdictReason.CONSISTENT
    if query.id_type in EXIT_ENTRY_ID_TYPES and query.id_number:
        return Source.EXIT_ENTRY, (), VerdictReason.CONSISTENT
    if query.id_type == "none":
        if query.guardian_id_number:
            return Source.HOUSEHOLD, (), VerdictReason.CONSISTENT
        return None, (), VerdictReason.NO_GUARDIAN_ID
    return None, (), VerdictReason.NO_SOURCE


def _error_reason(error: AdapterError) -> VerdictReason:
    if isinstance(error, QuotaExhausted):
        return VerdictReason.QUOTA_EXHAUSTED
    if isinstance(error, SourceUnavailable | TechnicalAdapterError):
        return VerdictReason.SOURCE_UNAVAILABLE
    return VerdictReason.SOURCE_ERROR


def combine(
    primary: Source,
    answers: Mapping[Source, SourceAnswer | AdapterError],
    order: tuple[Source, ...],
) -> CombinedVerdict:
    """Combine the sources' answers (primary first in `order`) into one verdict."""
    flags = tuple(
        FieldFlag(name, verdict, source)
        for source in order
        if isinstance(answer := answers.get(source), SourceAnswer)
        for name, verdict in answer.fields.items()
    )
    answered = tuple(source for source in order if isinstance(answers.get(source), SourceAnswer))
    errors = {source: type(a).__name__ for source, a in answers.items() if isinstance(a, AdapterError)}
    decisive = answers[primary]
    if isinstance(decisive, AdapterError):
        return CombinedVerdict(
            VerdictOutcome.PENDING, _error_reason(decisive), flags, answered, (primary,), errors
        )
    if not decisive.found:
        reason = VerdictReason.NOT_FOUND if primary is Source.HOUSEHOLD else VerdictReason.NO_SUCH_NUMBER
        return CombinedVerdict(VerdictOutcome.FAILED, reason, flags, answered, (), errors)
    if decisive.verdict(VerifiedField.NAME) is FieldVerdict.INCONSISTENT:
        return CombinedVerdict(
            VerdictOutcome.FAILED, VerdictReason.NAME_MISMATCH, flags, answered, (), errors
        )
    if FieldVerdict.INCONSISTENT in decisive.fields.values():
        return CombinedVerdict(
            VerdictOutcome.FAILED, VerdictReason.FIELD_MISMATCH, flags, answered, (), errors
        )
    return CombinedVerdict(VerdictOutcome.VERIFIED, VerdictReason.CONSISTENT, flags, answered, (), errors)


class VerificationOrchestrator:
    """Asks the right sources about a record, in parallel, within one deadline, and combines them."""

    def __init__(
        self,
        verifiers: Mapping[Source, IdentityVerifier],
        *,
        deadline_seconds: float = 15.0,
        limits: AdapterLimits | None = None,
    ) -> None:
        self._verifiers = dict(verifiers)
        self._deadline = deadline_seconds
        self._limits = limits or LocalLimits()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="verify")

    @property
    def verifiers(self) -> Mapping[Source, IdentityVerifier]:
        """The configured adapters by source (disabled ones absent)."""
        return self._verifiers

    def verify_identity(
        self,
        record: IdentitySubject,
        *,
        guardian_id_number: str | None = None,
        deadline_seconds: float | None = None,
    ) -> CombinedVerdict:
        """Verify `record`; never raises an adapter error (an unanswered source makes it `pending`)."""
        return self.verify_query(
            query_from_record(record, guardian_id_number=guardian_id_number),
            deadline_seconds=deadline_seconds,
        )

    def verify_query(
        self, query: VerificationQuery, *, deadline_seconds: float | None = None
    ) -> CombinedVerdict:
        """As `verify_identity`, for a query already built."""
        primary, corroborating, no_source_reason = plan_sources(query)
        if primary is None or primary not in self._verifiers:
            reason = no_source_reason if primary is None else VerdictReason.NO_SOURCE
            return CombinedVerdict(VerdictOutcome.NOT_APPLICABLE, reason)
        order = (primary, *(s for s in corroborating if s in self._verifiers))
        deadline = self._deadline if deadline_seconds is None else min(deadline_seconds, self._deadline)
        futures: dict[Source, Future[SourceAnswer]] = {
            source: self._pool.submit(self._ask(source, query, deadline)) for source in order
        }
        answers: dict[Source, SourceAnswer | AdapterError] = {}
        for source, future in futures.items():
            try:
                answers[source] = future.result()
            except AdapterError as error:
                # Contract violations are already logged at ERROR by the adapter's guard.
                answers[source] = error
        verdict = combine(primary, answers, order)
        logger.info(
            "identity verification %s (%s) via %s",
            verdict.outcome.value,
            verdict.reason.value,
            ",".join(s.value for s in order),
        )
        return verdict

    def verify_identities(
        self,
        items: Sequence[tuple[IdentitySubject, str | None]],
        *,
        deadline_seconds: float | None = None,
    ) -> list[CombinedVerdict]:
        """Verify many people at once: ``items`` are (record, guardian's ID number or None); one
        verdict per item, in order, each what `verify_identity` would give for that item alone (or
        `pending` when its rows were not answered). ``deadline_seconds`` bounds the whole: a chunk
        that could not start before it leaves its rows pending. Never raises an adapter error."""
        return self.verify_queries(
            [query_from_record(record, guardian_id_number=guardian) for record, guardian in items],
            deadline_seconds=deadline_seconds,
        )

    def verify_queries(
        self, queries: Sequence[VerificationQuery], *, deadline_seconds: float | None = None
    ) -> list[CombinedVerdict]:
        """As `verify_identities`, for queries already built."""
        budget = self._deadline if deadline_seconds is None else min(deadline_seconds, self._deadline)
        ends = time.monotonic() + budget
        verdicts: dict[int, CombinedVerdict] = {}
        orders: dict[int, tuple[Source, ...]] = {}
        rows: dict[Source, list[int]] = {}
        for index, query in enumerate(queries):
            primary, corroborating, no_source_reason = plan_sources(query)
            if primary is None or primary not in self._verifiers:
                reason = no_source_reason if primary is None else VerdictReason.NO_SOURCE
                verdicts[index] = CombinedVerdict(VerdictOutcome.NOT_APPLICABLE, reason)
                continue
            orders[index] = (primary, *(s for s in corroborating if s in self._verifiers))
            for source in orders[index]:
                rows.setdefault(source, []).append(index)
        chunks: list[tuple[Source, list[int], Future[list[SourceAnswer | AdapterError]]]] = []
        for source, indices in rows.items():
            size = max(self._verifiers[source].max_rows_per_call, 1)
            for start in range(0, len(indices), size):
                chunk = indices[start : start + size]
                asked = [queries[index] for index in chunk]
                chunks.append((source, chunk, self._pool.submit(self._ask_many, source, asked, ends)))
        answers: dict[int, dict[Source, SourceAnswer | AdapterError]] = {index: {} for index in orders}
        for source, chunk, future in chunks:
            for index, answer in zip(chunk, future.result(), strict=True):
                answers[index][source] = answer
        for index, order in orders.items():
            verdicts[index] = combine(order[0], answers[index], order)
        tally = Counter(verdict.outcome.value for verdict in verdicts.values())
        logger.info(
            "bulk identity verification of %d in %d calls: %s",
            len(queries),
            len(chunks),
            ", ".join(f"{outcome} {count}" for outcome, count in sorted(tally.items())),
        )
        return [verdicts[index] for index in range(len(queries))]

    def _ask_many(
        self, source: Source, queries: list[VerificationQuery], ends: float
    ) -> list[SourceAnswer | AdapterError]:
        remaining = ends - time.monotonic()
        if remaining <= 0:
            return [DeadlineExceeded(source, "deadline spent before the chunk's call")] * len(queries)
        try:
            return self._verifiers[source].verify_many(queries, deadline_seconds=remaining)
        except AdapterError as error:  # an adapter that fails a whole chunk fails only that chunk
            return [error] * len(queries)

    def _ask(self, source: Source, query: VerificationQuery, deadline: float) -> Callable[[], SourceAnswer]:
        verifier = self._verifiers[source]
        return lambda: verifier.verify(query, deadline_seconds=deadline)

    def report_to(self, observer: GuardObserver) -> None:
        """Tell `observer` (the process's metrics) what every adapter's guard does from now on."""
        for verifier in self._verifiers.values():
            if isinstance(verifier, GuardedVerifier):
                verifier.guard.observer = observer

    def close(self) -> None:
        """Stop the worker threads and close every adapter's connections and the limits'."""
        self._pool.shutdown(wait=True)
        for verifier in self._verifiers.values():
            verifier.close()
        self._limits.close()


def build_verifiers(
    settings: AdaptersSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
) -> dict[Source, IdentityVerifier]:
    """One adapter per enabled source, as the settings choose; built once at start-up. `limits` holds
    each source's quota and calls in flight (in this process when not given)."""
    builders: dict[tuple[Source, Implementation], Callable[[AdapterSettings], IdentityVerifier]] = {
        (Source.PUBLIC_SECURITY, Implementation.NCIIC_SOAP): lambda s: PublicSecurityVerifier(
            s,
            hmac_key=hmac_key,
            place_code=settings.place_code,
            business_type=settings.business_type,
            limits=limits,
        ),
        (Source.EXIT_ENTRY, Implementation.EXIT_ENTRY_SOAP): lambda s: ExitEntryVerifier(
            s, hmac_key=hmac_key, limits=limits
        ),
        (Source.HOUSEHOLD, Implementation.HOUSEHOLD_REST): lambda s: HouseholdVerifier(
            s, hmac_key=hmac_key, limits=limits
        ),
        (Source.SOCIAL_SECURITY, Implementation.SOCIAL_SECURITY_REST): lambda s: SocialSecurityVerifier(
            s, hmac_key=hmac_key, limits=limits
        ),
    }
    slots = {
        Source.PUBLIC_SECURITY: settings.public_security,
        Source.EXIT_ENTRY: settings.exit_entry,
        Source.HOUSEHOLD: settings.household,
        Source.SOCIAL_SECURITY: settings.social_security,
    }
    verifiers: dict[Source, IdentityVerifier] = {}
    for source, slot in slots.items():
        if slot.implementation is Implementation.DISABLED:
            continue
        builder = builders.get((source, slot.implementation))
        if builder is None:
            raise ValueError(f"{slot.implementation.value} cannot serve as the {source.value} adapter")
        verifiers[source] = builder(slot)
    return verifiers


def build_orchestrator(
    settings: AdaptersSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
) -> VerificationOrchestrator:
    """The orchestrator over every enabled adapter (the app's lifespan builds one and closes it, and
    the limits with it)."""
    return VerificationOrchestrator(
        build_verifiers(settings, hmac_key=hmac_key, limits=limits),
        deadline_seconds=settings.verification_deadline,
        limits=limits,
    )
