"""The error tree rendered as RFC 9457 problem+json: the app's exception handlers.

The HTTP half of ``gateway.errors``: services raise those errors and know nothing of responses;
``install_error_handlers`` turns them, request validation errors and stray HTTP errors into
problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import FieldError, GatewayError, InvalidInput

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


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
