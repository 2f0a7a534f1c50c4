"""Mock of the exit-entry administration's document verification (gateway/contracts/exit_entry).

Speaks SOAP 1.1: `verifyDocument` answers found / not found with per-field verdicts, the document's
validity dates and the holder's nationality and Latin-script name. Whole-request failures are SOAP
faults carrying a `ServiceError` detail, quota exhaustion included.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from fastapi import FastAPI, Request, Response
from lxml import etree
from pypinyin import lazy_pinyin

from gateway.adapters.contracts import EXIT_ENTRY_NS, xml_contract
from mocks.faults import FaultInjector, FaultKind, FaultPlan, new_mock_app
from mocks.population import Person, Population
from mocks.wire import (
    SOAP_CONTENT_TYPE,
    SoapFaultError,
    malformed_xml,
    read_soap_operation,
    soap_envelope,
    soap_fault_response,
    transport_fault,
)

PATH = "/exit-entry/verification"


def _q(name: str) -> str:
    return f"{{{EXIT_ENTRY_NS}}}{name}"


def service_error(code: str, message: str) -> etree._Element:
    """The fault detail the contract defines."""
    detail = etree.Element(_q("ServiceError"), nsmap={"tns": EXIT_ENTRY_NS})
    etree.SubElement(detail, _q("code")).text = code
    etree.SubElement(detail, _q("message")).text = message
    return detail


def latin_name(person: Person) -> str:
    """The Latin-script name printed in the document: as given, or the pinyin of a Chinese name."""
    if person.name.isascii():
        return person.name.upper()
    syllables = [syllable.upper() for syllable in lazy_pinyin(person.name)]
    return " ".join([syllables[0], "".join(syllables[1:])]) if len(syllables) > 1 else syllables[0]


def validity(person: Person) -> tuple[date, date]:
    """Deterministic issue and expiry dates: children's documents run five years."""
    digest = hashlib.sha256(f"{person.id_type}|{person.id_number}".encode()).digest()
    issued = date(2022, 1, 1) + timedelta(days=int.from_bytes(digest[:2], "big") % 1000)
    return issued, issued.replace(year=issued.year + 5) - timedelta(days=1)


def create_app(
    population: Population,
    faults: FaultPlan | FaultInjector | None = None,
    *,
    licences: frozenset[str] | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The mock service: `POST /exit-entry/verification`, plus the `/_admin` fault endpoints."""
    mock = new_mock_app("Mock exit-entry document verification", faults, licences, admin_token)
    app, injector, accepted = mock.app, mock.injector, mock.licences
    contract = xml_contract("exit_entry", "exit_entry.xsd")

    def answer(operation: etree._Element) -> etree._Element:
        if (operation.findtext(_q("licence")) or "") not in accepted:
            raise SoapFaultError(
                "Client", "licence rejected", service_error("unauthorised", "licence rejected")
            )
        person = population.by_document(
            operation.findtext(_q("documentType")) or "", operation.findtext(_q("documentNumber")) or ""
        )
        response = etree.Element(_q("verifyDocumentResponse"), nsmap={"tns": EXIT_ENTRY_NS})
        etree.SubElement(response, _q("found")).text = "false" if person is None else "true"
        if person is None:
            return response
        claimed_name = (operation.findtext(_q("name")) or "").strip()
        names = {person.name, latin_name(person)}
        claimed_birth = date.fromisoformat(operation.findtext(_q("birthDate")) or "")
        issued, expires = validity(person)
        for tag, text in (
            (
                "nameResult",
                "consistent" if claimed_name.upper() in names or claimed_name in names else "inconsistent",
            ),
            ("birthDateResult", "consistent" if claimed_birth == person.birth_date else "inconsistent"),
            ("validFrom", issued.isoformat()),
            ("validUntil", expires.isoformat()),
            ("nationality", person.nationality),
            ("latinName", latin_name(person)),
        ):
            etree.SubElement(response, _q(tag)).text = text
        return response

    @app.post(PATH)
    async def soap_endpoint(request: Request) -> Response:
        decision = injector.decide()
        early = await transport_fault(decision, injector.plan, rest=False)
        if early is not None:
            return early
        try:
            operation = await read_soap_operation(request, contract)
            if decision.fault is FaultKind.SERVER_FAULT:
                raise SoapFaultError(
                    "Server", "internal error", service_error("unavailable", "internal error")
                )
            if decision.quota_exhausted or decision.fault is FaultKind.QUOTA_EXHAUSTED:
                raise SoapFaultError(
                    "Client",
                    "daily quota exhausted",
                    service_error("quota_exhausted", "daily quota exhausted"),
                )
            response = answer(operation)
        except SoapFaultError as exc:
            if exc.detail is not None:
                contract.validate(exc.detail)
            return soap_fault_response(exc.code, exc.message, exc.detail)
        contract.validate(response)
        if decision.fault is FaultKind.SCHEMA_VIOLATION:
            found = response.find(_q("found"))
            if found is not None:
                found.text = "perhaps"
        reply = soap_envelope(response)
        if decision.fault is FaultKind.MALFORMED_REPLY:
            return malformed_xml(reply)
        return Response(reply, 200, media_type=SOAP_CONTENT_TYPE)

    return app
