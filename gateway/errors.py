"""The gateway's one error tree; ``gateway.problems`` renders it as RFC 9457 problem+json.

Every expected outcome that is not a success is one of these, raised by services and turned into a
4xx response by ``gateway.problems.install_error_handlers``. A 500 means a bug, never an expected outcome::

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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
