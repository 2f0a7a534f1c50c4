"""An httpx client for one REST contract, mapped onto the adapter error tree.

Requests are validated against the OpenAPI document's schemas before they leave (a failure is our bug)
and replies before they are used (a failure is the source's contract violation). HTTP failures are
sorted: timeouts, connection errors and 5xx are technical; 429 is rate limiting unless the problem
code says the quota is spent; other 4xx are rejections; a 404 is handed back as an answer. A bulk
operation's results are checked one by one (`post_many`), so a malformed result spoils only its row.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.adapters.base import (
    ContractViolation,
    QuotaExhausted,
    RequestRejected,
    Source,
    SourceRateLimited,
    TechnicalAdapterError,
)
from gateway.adapters.contracts import ContractError, json_contract
from gateway.adapters.settings import AdapterSettings
from gateway.adapters.soap import retry_after_seconds


class RestClient:
    """POSTs JSON to one service, validating both directions against its OpenAPI contract."""

    def __init__(self, source: Source, *, system: str, settings: AdapterSettings) -> None:
        self._source = source
        self._contract = json_contract(system)
        self._connect_timeout = settings.connect_timeout
        self._client = httpx.Client(
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=settings.max_concurrency),
            headers={"X-Licence": settings.licence.get_secret_value()},
        )

    def post(
        self, path: str, body: dict[str, Any], *, request_schema: str, reply_schema: str, timeout: float
    ) -> tuple[int, dict[str, Any]]:
        """POST `body`; returns (200 or 404, validated JSON body) or raises an `AdapterError`."""
        try:
            self._contract.validate(request_schema, body)
        except ContractError as exc:
            raise RequestRejected(self._source, f"request does not fit the contract: {exc}") from exc
        try:
            # The read timeout shrinks to what the deadline leaves; connecting never takes longer either.
            per_attempt = httpx.Timeout(timeout, connect=min(timeout, self._connect_timeout))
            response = self._client.post(path, json=body, timeout=per_attempt)
        except httpx.TimeoutException as exc:
            raise TechnicalAdapterError(self._source, f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TechnicalAdapterError(self._source, f"connection failed: {type(exc).__name__}") from exc
        status = response.status_code
        if status >= 500:
            raise TechnicalAdapterError(self._source, f"HTTP {status}")
        if status in (200, 404, 429):
            payload = self._json(response)
            schema = reply_schema if status == 200 else "Problem"
            try:
                self._contract.validate(schema, payload)
            except ContractError as exc:
                raise ContractViolation(self._source, str(exc)) from exc
            if status == 429:
                if payload.get("code") == "quota_exhausted":
                    raise QuotaExhausted(self._source, "daily quota exhausted (HTTP 429)")
                raise SourceRateLimited(
                    self._source, "HTTP 429", retry_after_seconds(response.headers.get("Retry-After"))
                )
            return status, payload
        raise RequestRejected(self._source, f"HTTP {status}")

    def post_many(
        self,
        path: str,
        key: str,
        items: list[dict[str, Any]],
        *,
        schemas: tuple[str, str, str],
        timeout: float,
    ) -> list[dict[str, Any] | ContractViolation]:
        """POST several queries in one call as ``{key: items}``; one result per query, in order, each
        checked on its own against its schema (a `ContractViolation` in its place when it breaks it).
        ``schemas`` names (request envelope, reply envelope, one result)."""
        request_schema, reply_schema, result_schema = schemas
        status, reply = self.post(
            path, {key: items}, request_schema=request_schema, reply_schema=reply_schema, timeout=timeout
        )
        if status != 200:
            raise RequestRejected(self._source, f"HTTP {status}")
        results: list[Any] = reply["results"]
        if len(results) != len(items):
            raise ContractViolation(self._source, f"{len(results)} results to {len(items)} queries")
        return [self._checked(result_schema, result) for result in results]

    def _checked(self, schema: str, result: Any) -> dict[str, Any] | ContractViolation:
        try:
            self._contract.validate(schema, result)
        except ContractError as exc:
            return ContractViolation(self._source, str(exc))
        return dict(result)

    def refusal(self, schema: str, body: dict[str, Any]) -> RequestRejected | None:
        """Why ``body`` may not go out (it breaks the contract's ``schema``), or None."""
        try:
            self._contract.validate(schema, body)
        except ContractError as exc:
            return RequestRejected(self._source, f"request does not fit the contract: {exc}")
        return None

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = json.loads(response.content)
        except ValueError as exc:
            raise ContractViolation(self._source, "malformed JSON reply") from exc
        if not isinstance(payload, dict):
            raise ContractViolation(self._source, "JSON reply is not an object")
        return payload

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
