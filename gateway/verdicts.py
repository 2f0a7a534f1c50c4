"""Verification verdicts, one name each for the adapters that reach them and the registry that records them.

``Judgement`` is what the registry needs of any verdict (the orchestrator's ``CombinedVerdict`` carries more:
per-field flags, the sources asked); ``Verifier`` is what it needs of the verification orchestrator.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from gateway.identity import CanonicalRecord


class VerdictOutcome(StrEnum):
    """Overall outcome of an identity verification."""

    VERIFIED = "verified"
    FAILED = "failed"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"


class VerdictReason(StrEnum):
    """Why the outcome is what it is."""

    CONSISTENT = "consistent"
    NO_SUCH_NUMBER = "no_such_number"
    NOT_FOUND = "not_found"
    NAME_MISMATCH = "name_mismatch"
    FIELD_MISMATCH = "field_mismatch"
    SOURCE_UNAVAILABLE = "source_unavailable"
    QUOTA_EXHAUSTED = "quota_exhausted"
    SOURCE_ERROR = "source_error"
    NO_SOURCE = "no_source"
    NO_GUARDIAN_ID = "no_guardian_id"


class Judgement(Protocol):
    """A verdict as the registry records it."""

    @property
    def outcome(self) -> VerdictOutcome: ...
    @property
    def reason(self) -> VerdictReason: ...


class Verifier(Protocol):
    """What the registry needs of the verification orchestrator (gateway.adapters)."""

    def verify_identity(
        self,
        record: CanonicalRecord,
        *,
        guardian_id_number: str | None = None,
        deadline_seconds: float | None = None,
    ) -> Judgement: ...

    def verify_identities(
        self,
        items: Sequence[tuple[CanonicalRecord, str | None]],
        *,
        deadline_seconds: float | None = None,
    ) -> Sequence[Judgement]:
        """Many at once: ``items`` are (record, guardian's ID number or None); one verdict per item,
        in order, each meaning what ``verify_identity`` would for that item alone (``pending`` when
        the systems did not answer about it). ``deadline_seconds`` bounds the whole call."""
        ...
