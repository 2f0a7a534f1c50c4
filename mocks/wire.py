"""Wire helpers shared by the mock servers: SOAP envelopes, SOAP faults, problem+json, transport faults.

SOAP requests are parsed with the gateway's hardened lxml parser and their body element validated
against the contract's XSD before any business logic runs; replies are validated before they are sent,
so a mock can only break its contract on purpose (an injected `schema_violation` or `malformed_reply`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from lxml import etree
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.adapters.contracts import MAX_XML_BYTES, SOAP_ENV_NS, ContractError, XmlContract, parse_xml
from mocks.faults import Decision, FaultKind, FaultPlan

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"


class DroppedConnection(Exception):
    """Raised mid-reply to make the server close the connection (an injected fault)."""


def absorb_dropped_connections(app: ASGIApp) -> ASGIApp:
    """Let an injected drop close the connection without a traceback in the server log."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except DroppedConnection:
            pass  # the reply is incomplete; uvicorn closes the connection

    return wrapped


class SoapFaultError(Exception):
    """Raised inside a SOAP mock to answer with a fault."""

    def __init__(self, code: str, message: str, detail: etree._Element | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


async def read_soap_operation(request: Request, contract: XmlContract) -> etree._Element:
    """The operation element of the SOAP body, validated; `SoapFaultError` (Client) otherwise."""
    body = await request.body()
    if len(body) > MAX_XML_BYTES:
        raise SoapFaultError("Client", "request too large")
    try:
        envelope = parse_xml(body)
    except ContractError as exc:
        raise SoapFaultError("Client", str(exc)) from exc
    soap_body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
    if envelope.tag != f"{{{SOAP_ENV_NS}}}Envelope" or soap_body is None or len(soap_body) != 1:
        raise SoapFaultError("Client", "not a SOAP 1.1 envelope with one body element")
    operation = soap_body[0]
    try:
        contract.validate(operation)
    except ContractError as exc:
        raise SoapFaultError("Client", str(exc)) from exc
    return operation


def soap_envelope(payload: etree._Element) -> bytes:
    """Serialise `payload` inside a SOAP 1.1 envelope."""
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body").append(payload)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def soap_fault_response(code: str, message: str, detail: etree._Element | None = None) -> Response:
    """A SOAP 1.1 fault, HTTP 500 as the binding requires."""
    fault = etree.Element(f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    if detail is not None:
        etree.SubElement(fault, "detail").append(detail)
    return Response(soap_envelope(fault), status_code=500, media_type=SOAP_CONTENT_TYPE)


def problem_response(status: int, code: str, title: str, retry_after: int | None = None) -> Response:
    """A problem+json error body, as the REST contracts define it."""
    body = {"type": "about:blank", "title": title, "status": status, "code": code}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(
        json.dumps(body), status_code=status, media_type="application/problem+json", headers=headers
    )


async def transport_fault(decision: Decision, plan: FaultPlan, *, rest: bool) -> Response | None:
    """Apply latency, then answer for a down window or an HTTP-level fault; None to serve normally."""
    if decision.latency_seconds > 0:
        await asyncio.sleep(decision.latency_seconds)
    if decision.down:
        return _unavailable(rest, plan.retry_after_seconds)
    if decision.fault is FaultKind.TIMEOUT:
        # Stall past the client's read timeout, then answer normally (a late reply nobody reads).
        await asyncio.sleep(plan.timeout_seconds)
    elif decision.fault is FaultKind.CONNECTION_DROP:
        return _dropped_connection()
    elif decision.fault is FaultKind.HTTP_503:
        return _unavailable(rest, plan.retry_after_seconds)
    elif decision.fault is FaultKind.HTTP_500 or (rest and decision.fault is FaultKind.SERVER_FAULT):
        if rest:
            return problem_response(500, "unavailable", "internal error")
        return Response("<html><body>500 Internal Server Error</body></html>", 500, media_type="text/html")
    elif decision.fault is FaultKind.HTTP_429:
        if rest:
            return problem_response(429, "rate_limited", "too many requests", plan.retry_after_seconds)
        return Response("Too Many Requests", 429, {"Retry-After": str(plan.retry_after_seconds)})
    return None


def _dropped_connection() -> Response:
    """Promise a body, send half of it, then fail: the server closes the connection mid-reply."""

    async def half_then_fail() -> AsyncIterator[bytes]:
        yield b"<?xml version='1.0'?>"
        raise DroppedConnection

    return StreamingResponse(half_then_fail(), 200, {"Content-Length": "4096"}, media_type=SOAP_CONTENT_TYPE)


def _unavailable(rest: bool, retry_after: int) -> Response:
    if rest:
        return problem_response(503, "unavailable", "down for maintenance", retry_after)
    return Response("Service Unavailable", 503, {"Retry-After": str(retry_after)}, media_type="text/plain")


def malformed_xml(reply: bytes) -> Response:
    """A reply cut in the middle: not well-formed XML."""
    return Response(reply[: max(len(reply) // 2, 1)], 200, media_type=SOAP_CONTENT_TYPE)
