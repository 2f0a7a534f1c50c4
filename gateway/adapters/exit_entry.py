"""Adapter for the exit-entry administration's document verification (passports and permits, SOAP).

Sends document type + number + name + birth date through the hardened zeep client and maps the reply
onto our per-field verdicts, with the document's expiry date and the holder's nationality and
Latin-script name. Quota exhaustion arrives as a SOAP fault with a `ServiceError` detail.
"""

from __future__ import annotations

from datetime import date

from gateway.adapters.base import (
    ContractViolation,
    FieldVerdict,
    Source,
    SourceAnswer,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.contracts import EXIT_ENTRY_NS, wsdl_path, xml_contract
from gateway.adapters.resilience import AdapterLimits, GuardedVerifier
from gateway.adapters.settings import AdapterSettings
from gateway.adapters.soap import SoapClient

SUPPORTED_ID_TYPES = frozenset(
    {
        "passport",
        "hk_macau_id",
        "hk_macau_permit",
        "taiwan_permit",
        "hmt_residence_permit",
        "foreign_permanent_residence",
    }
)
_VERDICTS = {"consistent": FieldVerdict.CONSISTENT, "inconsistent": FieldVerdict.INCONSISTENT}


class ExitEntryVerifier(GuardedVerifier):
    """`IdentityVerifier` backed by the exit-entry document verification service."""

    SOURCE = Source.EXIT_ENTRY
    REFUSAL = "cannot verify a {id_type} document without a birth date"

    def __init__(
        self, settings: AdapterSettings, *, hmac_key: bytes, limits: AdapterLimits | None = None
    ) -> None:
        self._settings = settings
        super().__init__(settings, hmac_key=hmac_key, limits=limits)
        self._soap = SoapClient(
            Source.EXIT_ENTRY,
            wsdl=wsdl_path("exit_entry", "exit_entry.wsdl"),
            binding=f"{{{EXIT_ENTRY_NS}}}ExitEntryBinding",
            contract=xml_contract("exit_entry", "exit_entry.xsd"),
            settings=settings,
        )

    def supports(self, query: VerificationQuery) -> bool:
        return query.id_type in SUPPORTED_ID_TYPES and bool(query.id_number) and query.birth_date is not None

    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer:
        reply = self._soap.call(
            "verifyDocument",
            timeout,
            subscriber=self._settings.subscriber,
            licence=self._settings.licence.get_secret_value(),
            documentType=query.id_type,
            documentNumber=query.id_number,
            name=query.name,
            birthDate=query.birth_date,
        )
        if not reply.found:
            return SourceAnswer(
                source=self.source, found=False, fields={VerifiedField.ID_NUMBER: FieldVerdict.NO_RECORD}
            )
        try:
            fields = {
                VerifiedField.ID_NUMBER: FieldVerdict.CONSISTENT,
                VerifiedField.NAME: _VERDICTS[reply.nameResult],
                VerifiedField.BIRTH_DATE: _VERDICTS[reply.birthDateResult],
            }
        except KeyError as exc:
            raise ContractViolation(self.source, "found without field verdicts") from exc
        valid_until = reply.validUntil if isinstance(reply.validUntil, date) else None
        return SourceAnswer(
            source=self.source,
            found=True,
            fields=fields,
            document_valid_until=valid_until,
            holder_nationality=reply.nationality,
            holder_latin_name=reply.latinName,
        )

    def close(self) -> None:
        self._soap.close()
