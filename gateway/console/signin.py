"""Console sign-in: a named person (a staff account) signs in with their login and password, and the
access token lives in an HttpOnly cookie.

The cookie carries a token of the person's client, naming them (``stf``) and holding the client's
scopes cut to their workflow role; every console page authenticates it with the API's own
``authenticate`` dependency (the token presented as a bearer header), so the console can never grant
more than the API would, and a disabled account is refused at its next page. State-changing forms
carry a CSRF token: an HMAC of the session's access token under the gateway's key, so it is bound to
the session and needs no server-side storage.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlmodel import Session

from gateway.auth.caller import Caller
from gateway.auth.dependencies import authenticate, client_address
from gateway.auth.scopes import Role, Scope
from gateway.auth.service import IssuedToken, issue_staff_token
from gateway.console.security import secure_transport
from gateway.context import AppContext
from gateway.errors import Forbidden, NotAuthenticated

TOKEN_COOKIE = "gw_console"  # noqa: S105 - a cookie name
COOKIE_PATH = "/console"
# Roles that review problem records: reviewers, and the education authorities above schools.
# A school's people sign in too: its checker works the collection queue (docs/adr/019).
CONSOLE_ROLES = frozenset({Role.REVIEWER, Role.SCHOOL, Role.COUNTY, Role.CITY, Role.PROVINCE, Role.CENTRAL})
# A person may sign in who reviews something: problem records, or schools' submissions.
_REVIEWING = (Scope.REVIEWS_READ, Scope.COLLECTION_REVIEW)


def _with_credentials(request: Request, token: str) -> Request:
    """The same request as if the token had come as a bearer header (and no other credential)."""
    replaced = {b"authorization", b"x-acting-user", b"x-staff-id", b"cookie"}
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() not in replaced]
    headers.append((b"authorization", f"Bearer {token}".encode()))
    # The scope's "state" dict is shared, so the request id set by the middleware carries over.
    return Request({**request.scope, "headers": headers}, request.receive)


def caller_from_cookie(request: Request, ctx: AppContext, needs: Scope = Scope.REVIEWS_READ) -> Caller:
    """Authenticate the console cookie exactly as the API authenticates a bearer token."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise NotAuthenticated("please sign in")
    caller = authenticate(_with_credentials(request, token), ctx)
    check_console_caller(caller, needs)
    return caller


def check_console_caller(caller: Caller, needs: Scope) -> None:
    if caller.role not in CONSOLE_ROLES:
        raise Forbidden("the console is for reviewers and education authorities")
    if not caller.has(needs):
        raise Forbidden(f"this page needs the scope {needs.value}")


def sign_in(
    request: Request,
    session: Session,
    ctx: AppContext,
    *,
    login: str,
    password: str,
) -> tuple[IssuedToken, Caller]:
    """Sign a named person in and check that they may use the console.

    The brute-force limit of ``POST /v1/token``: the same policy, counted per login and on the same
    per-address counters, so a guesser gains nothing by switching between the two.
    """
    issued, _ = issue_staff_token(
        session,
        ctx.settings,
        ctx.keyring,
        login=login,
        password=password,
        address=client_address(request, ctx),
    )
    # The sign-in was just recorded; commit it before the caller is read afresh.
    session.commit()
    caller = authenticate(_with_credentials(request, issued.access_token), ctx)
    if caller.role not in CONSOLE_ROLES or not any(caller.has(scope) for scope in _REVIEWING):
        raise Forbidden("the console is for reviewers and education authorities")
    return issued, caller


def landing(caller: Caller, asked: str) -> str:
    """Where a person lands after signing in: the page asked for, but a school's checker, who reviews
    no problem records, lands on the collection queue rather than a refusal."""
    if asked == "/console/queue" and not caller.has(Scope.REVIEWS_READ):
        return "/console/collection"
    return asked


def csrf_token(ctx: AppContext, request: Request) -> str:
    token = request.cookies.get(TOKEN_COOKIE, "")
    return hmac.new(ctx.keyring.hmac_key, b"console-csrf\x1f" + token.encode(), hashlib.sha256).hexdigest()


def check_origin(request: Request) -> None:
    """Refuse a form posted from another site (browsers send Origin with every POST).

    Only the host is compared: behind a TLS-terminating proxy the scheme seen here may differ.
    """
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden("this form was posted from another site")


def check_csrf(ctx: AppContext, request: Request, submitted: str) -> None:
    check_origin(request)
    if not submitted or not hmac.compare_digest(submitted, csrf_token(ctx, request)):
        raise Forbidden("the form has expired or did not come from this console; reload the page")


def _secure(request: Request, ctx: AppContext) -> bool:
    return secure_transport(ctx.settings, request.url.scheme)


def set_session_cookies(response: Response, request: Request, ctx: AppContext, issued: IssuedToken) -> None:
    secure = _secure(request, ctx)
    common = {"max_age": issued.expires_in, "path": COOKIE_PATH, "httponly": True, "samesite": "strict"}
    response.set_cookie(TOKEN_COOKIE, issued.access_token, secure=secure, **common)  # type: ignore[arg-type]


def clear_session_cookies(response: Response, request: Request, ctx: AppContext) -> None:
    response.delete_cookie(
        TOKEN_COOKIE, path=COOKIE_PATH, secure=_secure(request, ctx), httponly=True, samesite="strict"
    )
