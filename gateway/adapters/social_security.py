"""Adapter for the social security enrolment lookup (REST).

The social security number is the citizen ID number, and children are enrolled in resident medical
insurance, so an enrolment corroborates a citizen's existence, name and birth date. Up to
`MAX_ROWS_PER_CALL` (100, the contract's ``maxItems``) queries go in one call of the bulk operation,
each answered (or failed) on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
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

PATH = "/v1/insured/verify"
BATCH_PATH = "/v1/insured/verifications"
# Queries one call of the bulk operation may carry (maxItems of InsuredQueryBatch.queries).
MAX_ROWS_PER_CALL = 100
SUPPORTED_ID_TYPES = frozenset({"resident_id", "household_booklet"})
_VERDICTS = {
    "consistent": FieldVerdict.CONSISTENT,
    "inconsistent": FieldVerdict.INCONSISTENT,
    "not_checked": FieldVerdict.NOT_CHECKED,
}


class SocialSecurityVerifier(GuardedVerifier):
    """`IdentityVerifier` backed by the social security enrolment lookup."""

    SOURCE = Source.SOCIAL_SECURITY
    MAX_ROWS_PER_CALL = MAX_ROWS_PER_CALL

    def __init__(
        self, settings: AdapterSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
    ) -> None:
        super().__init__(settings, hmac_key=hmac_key, limits=limits)
        self._rest = RestClient(Source.SOCIAL_SECURITY, system="social_security", settings=settings)

    def supports(self, query: VerificationQuery) -> bool:
        return query.id_type in SUPPORTED_ID_TYPES and bool(query.id_number)

    def _body(self, query: VerificationQuery) -> dict[str, Any]:
        body = {"id_number": query.id_number, "name": query.name}
        if query.birth_date is not None:
            body["birth_date"] = query.birth_date.isoformat()
        return body

    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer:
        _, reply = self._rest.post(
            PATH,
            self._body(query),
            request_schema="InsuredQuery",
            reply_schema="InsuredAnswer",
            timeout=timeout,
        )
        return self._answer(reply)

    def _refused_rows(self, queries: Sequence[VerificationQuery]) -> dict[int, AdapterError]:
        refusals = {i: self._rest.refusal("InsuredQuery", self._body(q)) for i, q in enumerate(queries)}
        return {index: refusal for index, refusal in refusals.items() if refusal is not None}

    def _attempt_many(self, queries: Sequence[VerificationQuery], timeout: float) -> list[RowResult]:
        results = self._rest.post_many(
            BATCH_PATH,
            "queries",
            [self._body(query) for query in queries],
            schemas=("InsuredQueryBatch", "InsuredAnswerBatch", "InsuredOutcome"),
            timeout=timeout,
        )
        return [self._row(result) for result in results]

    def _row(self, result: dict[str, Any] | ContractViolation) -> RowResult:
        if isinstance(result, ContractViolation):
            return result
        if result["status"] == "error":
            if result["code"] == "unavailable":
                return TechnicalAdapterError(self.source, "query not answered this time")
            return RequestRejected(self.source, "query refused by the source")
        return self._answer(result["answer"])

    def _answer(self, reply: dict[str, Any]) -> SourceAnswer:
        if not reply["enrolled"]:
            return SourceAnswer(
                source=self.source, found=False, fields={VerifiedField.ID_NUMBER: FieldVerdict.NO_RECORD}
            )
        return SourceAnswer(
            source=self.source,
            found=True,
            fields={
                VerifiedField.ID_NUMBER: FieldVerdict.CONSISTENT,
                VerifiedField.NAME: _VERDICTS[reply["name_result"]],
                VerifiedField.BIRTH_DATE: _VERDICTS[reply["birth_date_result"]],
            },
            household_region=reply["enrolment_region"],
        )

    def close(self) -> None:
        self._rest.close()
