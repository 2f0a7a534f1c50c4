"""The gateway's one error tree and its rendering as RFC 9457 problem+json.

Every expected outcome that is not a success is one of these, raised by services and turned into a
4xx response by ``install_error_handlers``. A 500 means a bug, never an expected outcome::

    GatewayError                      (500, base; never raised directly)
    ├── InvalidInput                  422  input that cannot be accepted; ``errors`` name each field
    ├── NotAuthenticated              401  no, expired or bad credentials
    ├── Forbidden                     403  authenticated, but the scope or role does not allow it
    │   └── AccountFrozen             403  client unused for too long, or disabled
    ├── NotFound                      404  absent, or outside the caller's jurisdiction
    │   └── ClaimNoMatch              404  a handoff claim that matches nobody (gateway.handoff)
    ├── Gone                          410  existed, but was removed on purpose (an expired export)
    ├── Conflict                      409  the request contradicts the stored state
    │   ├── IdempotencyConflict       409  an Idempotency-Key reused with a different body
    │   ├── IdentifierConflict        409  a national document number held by another person
    │   │                                  (gateway.persons.identifiers)
    │   ├── CodeSpaceExhausted        409  every code of a (region, birth date) is issued (gateway.idgen)
    │   ├── IllegalStatusChange       409  a status event the state machine forbids (gateway.students)
    │   └── ClaimAmbiguous            409  a handoff claim that matches several people (gateway.handoff)
    ├── RateLimited                   429  too many requests; ``retry_after`` seconds
    └── ServiceUnavailable            503  a dependency we cannot work without is down
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    """One reason a field of the input was refused."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class GatewayError(Exception):
    status = 500
    title = "Internal error"
    type_slug = "internal"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def extra(self) -> dict[str, Any]:
        return {}

    def headers(self) -> dict[str, str]:
        return {}


class InvalidInput(GatewayError):
    status = 422
    title = "Invalid input"
    type_slug = "invalid-input"

    def __init__(
        self,
        detail: str | None = None,
        errors: Sequence[FieldError | dict[str, str]] = (),
    ) -> None:
        super().__init__(detail or "The request has fields that cannot be accepted.")
        self.errors = [e if isinstance(e, FieldError) else FieldError(**e) for e in errors]

    def extra(self) -> dict[str, Any]:
        return {"errors": [e.as_dict() for e in self.errors]}


class NotAuthenticated(GatewayError):
    status = 401
    title = "Not authenticated"
    type_slug = "not-authenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(GatewayError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class AccountFrozen(Forbidden):
    title = "Account frozen"
    type_slug = "account-frozen"


class NotFound(GatewayError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Gone(GatewayError):
    status = 410
    title = "Gone"
    type_slug = "gone"


class Conflict(GatewayError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class IdempotencyConflict(Conflict):
    title = "Idempotency key reused with a different request"
    type_slug = "idempotency-conflict"


class RateLimited(GatewayError):
    status = 429
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, detail: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(GatewayError):
    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_slug: str,
    request: Request,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:gateway:problem:{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    # FastAPI locations start with where the value came from (body, query, header, path).
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "header", "path", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        errors.append(
            FieldError(
                field=_field_name(err.get("loc", ())),
                code=str(err.get("type", "invalid")),
                message=str(err.get("msg", "invalid value")),
            )
        )
    return errors


def install_error_handlers(app: FastAPI) -> None:
    """Render the error tree, request validation errors and stray HTTP errors as problem+json."""

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        if exc.status >= 500:
            logger.error("request failed: %s", exc.detail)
        return problem_response(
            exc.status, exc.title, exc.detail, exc.type_slug, request, exc.extra(), exc.headers()
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        return problem_response(
            422,
            InvalidInput.title,
            "The request has fields that cannot be accepted.",
            InvalidInput.type_slug,
            request,
            {"errors": [e.as_dict() for e in errors]},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "not-authenticated"}.get(
            exc.status_code, "http-error"
        )
        return problem_response(
            exc.status_code, str(exc.detail), str(exc.detail), slug, request, headers=dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return problem_response(500, "Internal error", "An unexpected error occurred.", "internal", request)
