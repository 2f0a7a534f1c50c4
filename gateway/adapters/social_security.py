"""Adapter for the social security enrolment lookup (REST).

The social security number is the citizen ID number, and children are enrolled in resident medical
insurance, so an enrolment corroborates a citizen's existence, name and birth date.
"""

from __future__ import annotations

from gateway.adapters.base import (
    FieldVerdict,
    Source,
    SourceAnswer,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.resilience import AdapterLimits, GuardedVerifier
from gateway.adapters.rest import RestClient
from gateway.adapters.settings import AdapterSettings

PATH = "/v1/insured/verify"
SUPPORTED_ID_TYPES = frozenset({"resident_id", "household_booklet"})
_VERDICTS = {
    "consistent": FieldVerdict.CONSISTENT,
    "inconsistent": FieldVerdict.INCONSISTENT,
    "not_checked": FieldVerdict.NOT_CHECKED,
}


class SocialSecurityVerifier(GuardedVerifier):
    """`IdentityVerifier` backed by the social security enrolment lookup."""

    SOURCE = Source.SOCIAL_SECURITY

    def __init__(
        self, settings: AdapterSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
    ) -> None:
        super().__init__(settings, hmac_key=hmac_key, limits=limits)
        self._rest = RestClient(Source.SOCIAL_SECURITY, system="social_security", settings=settings)

    def supports(self, query: VerificationQuery) -> bool:
        return query.id_type in SUPPORTED_ID_TYPES and bool(query.id_number)

    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer:
        body = {"id_number": query.id_number, "name": query.name}
        if query.birth_date is not None:
            body["birth_date"] = query.birth_date.isoformat()
        _, reply = self._rest.post(
            PATH, body, request_schema="InsuredQuery", reply_schema="InsuredAnswer", timeout=timeout
        )
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
