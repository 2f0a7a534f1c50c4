"""A zeep client for one SOAP contract, hardened and mapped onto the adapter error tree.

The client is built once, at start-up, from the WSDL on disk with `strict=True, forbid_external=True`.
Its transport is a requests session with explicit connect and per-attempt read timeouts that also sorts
HTTP failures into technical (5xx without a SOAP fault, 429, timeouts, connection errors) and logical
ones before zeep sees them, and never logs message bodies. zeep does not validate replies against the
XSD, so a plugin validates every reply body against the contract before zeep deserialises it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
import zeep.plugins
from lxml import etree
from requests.adapters import HTTPAdapter

from gateway.adapters.base import (
    AdapterError,
    ContractViolation,
    QuotaExhausted,
    RequestRejected,
    Source,
    SourceRateLimited,
    TechnicalAdapterError,
)
from gateway.adapters.contracts import SOAP_ENV_NS, ContractError, XmlContract
from gateway.adapters.settings import AdapterSettings


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by these services)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class _ClassifyingTransport(zeep.Transport):
    """zeep transport: per-thread read timeout, HTTP failures sorted, message bodies never logged."""

    def __init__(self, source: Source, session: requests.Session, connect_timeout: float) -> None:
        super().__init__(session=session, timeout=connect_timeout)  # type: ignore[no-untyped-call]
        self._source = source
        self._connect_timeout = connect_timeout
        self._local = threading.local()

    def set_read_timeout(self, seconds: float) -> None:
        self._local.read_timeout = seconds

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        read_timeout = getattr(self._local, "read_timeout", 5.0)
        try:
            response = self.session.post(
                address,
                data=message,
                headers=headers,
                timeout=(min(self._connect_timeout, read_timeout), read_timeout),
            )
        except requests.Timeout as exc:
            raise TechnicalAdapterError(self._source, f"timed out: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise TechnicalAdapterError(self._source, f"connection failed: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 429:
            raise SourceRateLimited(
                self._source, "HTTP 429", retry_after_seconds(response.headers.get("Retry-After"))
            )
        media_type = response.headers.get("Content-Type", "")
        if status == 500 and "xml" in media_type:
            return response  # a SOAP fault: zeep parses it and raises Fault
        if status >= 500:
            raise TechnicalAdapterError(self._source, f"HTTP {status}")
        if status != 200:
            raise RequestRejected(self._source, f"HTTP {status}")
        return response


class _ReplyValidator(zeep.plugins.Plugin):
    """Validates the body of every non-fault reply against the contract's XSD."""

    def __init__(self, source: Source, contract: XmlContract) -> None:
        self._source = source
        self._contract = contract

    def ingress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: object
    ) -> tuple[etree._Element, dict[str, str]]:
        body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
        if body is None or len(body) != 1:
            raise ContractViolation(self._source, "reply is not a SOAP envelope with one body element")
        if body[0].tag != f"{{{SOAP_ENV_NS}}}Fault":
            try:
                self._contract.validate(body[0])
            except ContractError as exc:
                raise ContractViolation(self._source, str(exc)) from exc
        return envelope, http_headers


class SoapClient:
    """One zeep service proxy bound to the configured address."""

    def __init__(
        self,
        source: Source,
        *,
        wsdl: Path,
        binding: str,
        contract: XmlContract,
        settings: AdapterSettings,
    ) -> None:
        self._source = source
        session = requests.Session()
        pool = HTTPAdapter(pool_connections=1, pool_maxsize=settings.max_concurrency, max_retries=0)
        session.mount("http://", pool)
        session.mount("https://", pool)
        self._session = session
        self._transport = _ClassifyingTransport(source, session, settings.connect_timeout)
        client = zeep.Client(  # type: ignore[no-untyped-call]
            str(wsdl),
            transport=self._transport,
            settings=zeep.Settings(strict=True, forbid_external=True, forbid_dtd=True, forbid_entities=True),
            plugins=[_ReplyValidator(source, contract)],
        )
        self._client = client
        self._service = client.create_service(binding, settings.base_url)  # type: ignore[no-untyped-call]

    def call(self, operation: str, timeout: float, **parameters: Any) -> Any:
        """Call `operation`; raise only `AdapterError`s."""
        self._transport.set_read_timeout(timeout)
        try:
            return getattr(self._service, operation)(**parameters)
        except AdapterError:
            raise
        except zeep.exceptions.Fault as fault:
            raise self._fault_error(fault) from fault
        except zeep.exceptions.TransportError as exc:
            # zeep reports unparseable XML this way; its message quotes the body (ID numbers included),
            # so it is neither reused nor chained.
            if exc.status_code == 200:
                raise ContractViolation(self._source, "malformed reply: not well-formed XML") from None
            message = f"unparseable error reply, HTTP {exc.status_code}"
            raise TechnicalAdapterError(self._source, message) from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, etree.XMLSyntaxError) as exc:
            raise ContractViolation(self._source, f"malformed reply: {type(exc).__name__}") from exc
        except zeep.exceptions.ValidationError as exc:
            # zeep refused to serialise our own request: a bug on our side, not the source's.
            raise RequestRejected(
                self._source, f"request does not fit the contract: {type(exc).__name__}"
            ) from exc
        except zeep.exceptions.Error as exc:
            raise ContractViolation(self._source, f"unusable reply: {type(exc).__name__}") from exc

    def _fault_error(self, fault: zeep.exceptions.Fault) -> AdapterError:
        code = str(fault.code or "")
        detail_code = None
        if fault.detail is not None:
            found = fault.detail.find(".//{*}ServiceError/{*}code")
            detail_code = found.text if found is not None else None
        if detail_code == "quota_exhausted":
            return QuotaExhausted(self._source, "daily quota exhausted (SOAP fault)")
        if code.endswith("Server") or detail_code == "unavailable":
            return TechnicalAdapterError(self._source, "SOAP server fault")
        return RequestRejected(self._source, f"SOAP client fault ({detail_code or 'no detail'})")

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()
