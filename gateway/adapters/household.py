"""Adapter for the household registration (户籍) lookup (REST).

A person with a citizen ID number is looked up as a household member; a child with no ID document
is looked up through a guardian's ID number + the child's name and birth date, which is how such a
child's identity is vouched for. The answer is mapped to per-field verdicts (name, birth date, gender,
guardian) and the household's region code. Up to `MAX_ROWS_PER_CALL` (100, the contract's
``maxItems``) lookups go in one call of the bulk operation, each answered (or failed) on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from gateway.adapters.base import (
    AdapterError,
    ContractViolation,
    FieldVerdict,
    RequestRejected,
    Source,
    SourceAnswer,
    TechnicalAdapterError,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.resilience import AdapterLimits, GuardedVerifier, RowResult
from gateway.adapters.rest import RestClient
from gateway.adapters.settings import AdapterSettings

PATH = "/v1/households/lookup"
BATCH_PATH = "/v1/households/lookups"
# Lookups one call of the bulk operation may carry (maxItems of HouseholdLookupBatch.lookups).
MAX_ROWS_PER_CALL = 100
MEMBER_ID_TYPES = frozenset({"resident_id", "household_booklet"})
GUARDIAN_RELATIONS = frozenset({"head", "spouse", "parent"})


def _agreement(claimed: object, recorded: object) -> FieldVerdict:
    return FieldVerdict.CONSISTENT if claimed == recorded else FieldVerdict.INCONSISTENT


class HouseholdVerifier(GuardedVerifier):
    """`IdentityVerifier` backed by the household registration lookup."""

    SOURCE = Source.HOUSEHOLD
    REFUSAL = "needs a citizen ID number, or a guardian's and a birth date"
    MAX_ROWS_PER_CALL = MAX_ROWS_PER_CALL

    def __init__(
        self, settings: AdapterSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
    ) -> None:
        super().__init__(settings, hmac_key=hmac_key, limits=limits)
        self._rest = RestClient(Source.HOUSEHOLD, system="household", settings=settings)

    def supports(self, query: VerificationQuery) -> bool:
        if query.id_type in MEMBER_ID_TYPES and query.id_number:
            return True
        return bool(query.guardian_id_number and query.birth_date is not None)

    def _by_member(self, query: VerificationQuery) -> bool:
        return query.id_type in MEMBER_ID_TYPES and bool(query.id_number)

    def _body(self, query: VerificationQuery) -> dict[str, Any]:
        if self._by_member(query):
            return {"member_id_number": query.id_number}
        assert query.birth_date is not None  # guaranteed by supports()
        return {
            "guardian_id_number": query.guardian_id_number,
            "child_name": query.name,
            "child_birth_date": query.birth_date.isoformat(),
        }

    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer:
        status, reply = self._rest.post(
            PATH,
            self._body(query),
            request_schema="HouseholdLookup",
            reply_schema="HouseholdLookupResult",
            timeout=timeout,
        )
        return self._answer(query, reply if status == 200 else None)

    def _refused_rows(self, queries: Sequence[VerificationQuery]) -> dict[int, AdapterError]:
        refusals = {i: self._rest.refusal("HouseholdLookup", self._body(q)) for i, q in enumerate(queries)}
        return {index: refusal for index, refusal in refusals.items() if refusal is not None}

    def _attempt_many(self, queries: Sequence[VerificationQuery], timeout: float) -> list[RowResult]:
        results = self._rest.post_many(
            BATCH_PATH,
            "lookups",
            [self._body(query) for query in queries],
            schemas=("HouseholdLookupBatch", "HouseholdLookupBatchResult", "HouseholdLookupOutcome"),
            timeout=timeout,
        )
        return [self._row(query, result) for query, result in zip(queries, results, strict=True)]

    def _row(self, query: VerificationQuery, result: dict[str, Any] | ContractViolation) -> RowResult:
        if isinstance(result, ContractViolation):
            return result
        if result["status"] == "error":
            if result["code"] == "unavailable":
                return TechnicalAdapterError(self.source, "lookup not answered this time")
            return RequestRejected(self.source, "lookup refused by the source")
        try:
            return self._answer(query, result.get("household"))
        except AdapterError as error:
            return error

    def _answer(self, query: VerificationQuery, reply: dict[str, Any] | None) -> SourceAnswer:
        """The answer to one lookup: ``reply`` the household found, None when none matched."""
        by_member = self._by_member(query)
        if reply is None:
            missing = VerifiedField.ID_NUMBER if by_member else VerifiedField.GUARDIAN
            return SourceAnswer(source=self.source, found=False, fields={missing: FieldVerdict.NO_RECORD})
        members: list[dict[str, Any]] = reply["members"]
        index: int = reply["matched_member"]
        if index >= len(members):
            raise ContractViolation(self.source, "matched_member points past the member list")
        member = members[index]
        fields = {
            VerifiedField.NAME: _agreement(query.name, member["name"]),
            VerifiedField.BIRTH_DATE: (
                _agreement(query.birth_date, date.fromisoformat(member["birth_date"]))
                if query.birth_date
                else FieldVerdict.NOT_CHECKED
            ),
        }
        if by_member:
            fields[VerifiedField.ID_NUMBER] = FieldVerdict.CONSISTENT
        if query.gender in ("1", "2"):
            recorded = member["gender"]
            fields[VerifiedField.GENDER] = (
                _agreement(query.gender, recorded) if recorded in ("1", "2") else FieldVerdict.NO_RECORD
            )
        guardians = {m["name"] for m in members if m["relation"] in GUARDIAN_RELATIONS and m is not member}
        if query.guardian_name:
            fields[VerifiedField.GUARDIAN] = (
                FieldVerdict.CONSISTENT if query.guardian_name in guardians else FieldVerdict.INCONSISTENT
            )
        elif not by_member:
            # The guardian's number led to this household and the child is in it.
            fields[VerifiedField.GUARDIAN] = FieldVerdict.CONSISTENT
        return SourceAnswer(
            source=self.source, found=True, fields=fields, household_region=reply["region_code"]
        )

    def close(self) -> None:
        self._rest.close()
