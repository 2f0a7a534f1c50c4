"""The typed boundary between the gateway and the government systems it verifies identities against.

Every adapter takes a `VerificationQuery` and returns a `SourceAnswer` in our own vocabulary
(per-field verdicts and the source that gave them), so no wire format, zeep object or vendor field name
leaves `gateway/adapters/`. Failures fall into the error tree below; the split decides what is retried:

    AdapterError
    ├── TechnicalAdapterError      timeouts, connection failures, 5xx, server faults: retried, trip breaker
    │   └── SourceRateLimited            429; carries Retry-After
    ├── SourceUnavailable          the call gave up: breaker open, deadline spent, retries exhausted
    │   ├── CircuitOpen
    │   ├── DeadlineExceeded
    │   └── LimitsUnavailable      the shared quota or slots could not be checked (our database)
    └── LogicalAdapterError        never retried
        ├── QuotaExhausted         the subscriber's daily quota is spent
        ├── ContractViolation      a malformed or schema-violating reply
        └── RequestRejected        the source refused our request (client fault, bad licence)

"No such person" is an answer, not an error: a result with `found=False`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol

from gateway.privacy import mask_id_number


class Source(StrEnum):
    """The external systems an identity can be verified against."""

    PUBLIC_SECURITY = "public_security"
    EXIT_ENTRY = "exit_entry"
    HOUSEHOLD = "household"
    SOCIAL_SECURITY = "social_security"


class VerifiedField(StrEnum):
    """Fields of an identity that a source can confirm or contradict."""

    ID_NUMBER = "id_number"
    NAME = "name"
    GENDER = "gender"
    BIRTH_DATE = "birth_date"
    ETHNICITY = "ethnicity"
    GUARDIAN = "guardian"


class FieldVerdict(StrEnum):
    """What one source said about one field."""

    CONSISTENT = "consistent"
    INCONSISTENT = "inconsistent"
    NO_RECORD = "no_record"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class VerificationQuery:
    """What we ask a source: the claimed identity, in canonical form (see the record schema)."""

    id_type: str
    id_number: str | None
    name: str
    birth_date: date | None = None
    gender: str | None = None
    ethnicity: str | None = None
    nationality: str | None = None
    guardian_id_number: str | None = None
    guardian_name: str | None = None

    def __repr__(self) -> str:
        # Keeps full ID numbers out of tracebacks and log lines that format the query.
        return (
            f"VerificationQuery(id_type={self.id_type!r}, id_number={mask_id_number(self.id_number)!r}, "
            f"guardian_id_number={mask_id_number(self.guardian_id_number)!r})"
        )


@dataclass(frozen=True)
class SourceAnswer:
    """One source's answer, mapped to our own types."""

    source: Source
    found: bool
    fields: Mapping[VerifiedField, FieldVerdict] = field(default_factory=dict, hash=False)
    document_valid_until: date | None = None
    holder_nationality: str | None = None
    holder_latin_name: str | None = None
    household_region: str | None = None
    from_cache: bool = False

    def verdict(self, name: VerifiedField) -> FieldVerdict:
        """The verdict on one field, `not_checked` when the source said nothing about it."""
        return self.fields.get(name, FieldVerdict.NOT_CHECKED)

    @property
    def positive(self) -> bool:
        """Found, and no field contradicted: the only answers worth caching."""
        return self.found and all(
            verdict in (FieldVerdict.CONSISTENT, FieldVerdict.NOT_CHECKED, FieldVerdict.NO_RECORD)
            for verdict in self.fields.values()
        )


class IdentityVerifier(Protocol):
    """One external system able to confirm or contradict a claimed identity."""

    @property
    def source(self) -> Source: ...

    def supports(self, query: VerificationQuery) -> bool:
        """Whether this source can say anything about the query (document type, fields present)."""
        ...

    def verify(self, query: VerificationQuery, *, deadline_seconds: float | None = None) -> SourceAnswer:
        """Ask the source, within the adapter's deadline (or a shorter one); raise an `AdapterError`."""
        ...

    @property
    def max_rows_per_call(self) -> int:
        """Queries one call to the source may carry (its contract's maximum; 1 without a bulk
        operation)."""
        ...

    def verify_many(
        self, queries: Sequence[VerificationQuery], *, deadline_seconds: float | None = None
    ) -> list[SourceAnswer | AdapterError]:
        """Ask about several queries, in calls of at most `max_rows_per_call` rows; one answer or
        error per query, in order (never raises an `AdapterError`: a failed call leaves each of its
        rows with the error, a row the source could not answer carries its own)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class AdapterError(Exception):
    """Base of every adapter failure; `source` names the system."""

    def __init__(self, source: Source, message: str) -> None:
        super().__init__(f"{source.value}: {message}")
        self.source = source


class TechnicalAdapterError(AdapterError):
    """Transient failure of the source or the network: worth another attempt."""


class SourceRateLimited(TechnicalAdapterError):
    """HTTP 429: try again, but not before `retry_after` seconds."""

    def __init__(self, source: Source, message: str, retry_after: float | None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after


class SourceUnavailable(AdapterError):
    """The adapter gave up on this call without a logical answer; verify again later."""


class CircuitOpen(SourceUnavailable):
    """The breaker is open after a burst of technical failures."""


class DeadlineExceeded(SourceUnavailable):
    """The overall deadline ran out before an answer."""


class LimitsUnavailable(SourceUnavailable):
    """The limits shared by the gateway's processes (quota, calls in flight) could not be checked, as
    our own database did not answer: the call is not made, rather than made past the agreed limits."""


class RetriesExhausted(SourceUnavailable):
    """Every attempt the retry budget allowed failed technically."""

    def __init__(self, source: Source, message: str, attempts: int) -> None:
        super().__init__(source, message)
        self.attempts = attempts


class LogicalAdapterError(AdapterError):
    """The source answered, but not with something we can use; another attempt would not help."""


class QuotaExhausted(LogicalAdapterError):
    """The subscriber's daily quota at the source is spent."""


class ContractViolation(LogicalAdapterError):
    """The reply is malformed or does not conform to the contract."""


class RequestRejected(LogicalAdapterError):
    """The source refused the request itself (client fault, bad licence, malformed conditions)."""
