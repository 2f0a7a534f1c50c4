"""Console sign-in: a client-credentials login whose access token lives in an HttpOnly cookie.

The cookie carries the very token ``POST /v1/token`` would hand out, and every console page
authenticates it with the API's own ``authenticate`` dependency (the token presented as a bearer
header, the signed-in person's name as ``X-Acting-User``), so the console can never grant more than
the API would. State-changing forms carry a CSRF token: an HMAC of the session's access token under
the gateway's key, so it is bound to the session and needs no server-side storage.
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
from gateway.auth.service import IssuedToken, issue_token
from gateway.console.security import secure_transport
from gateway.context import AppContext
from gateway.errors import Forbidden, NotAuthenticated

TOKEN_COOKIE = "gw_console"  # noqa: S105 - a cookie name
USER_COOKIE = "gw_console_user"
COOKIE_PATH = "/console"
# Roles that review problem records: reviewers, and the education authorities above schools.
CONSOLE_ROLES = frozenset({Role.REVIEWER, Role.COUNTY, Role.CITY, Role.PROVINCE, Role.CENTRAL})


def _with_credentials(request: Request, token: str, acting_user: str | None) -> Request:
    """The same request as if the token had come as a bearer header (and the name as X-Acting-User)."""
    replaced = {b"authorization", b"x-acting-user", b"cookie"}
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() not in replaced]
    headers.append((b"authorization", f"Bearer {token}".encode()))
    if acting_user:
        headers.append((b"x-acting-user", acting_user.encode()))
    # The scope's "state" dict is shared, so the request id set by the middleware carries over.
    return Request({**request.scope, "headers": headers}, request.receive)


def caller_from_cookie(request: Request, ctx: AppContext, needs: Scope = Scope.REVIEWS_READ) -> Caller:
    """Authenticate the console cookie exactly as the API authenticates a bearer token."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise NotAuthenticated("please sign in")
    caller = authenticate(_with_credentials(request, token, request.cookies.get(USER_COOKIE)), ctx)
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
    client_id: str,
    client_secret: str,
    acting_user: str | None,
) -> tuple[IssuedToken, Caller]:
    """Grant a token by client credentials and check that its holder may use the console.

    The same brute-force limit as ``POST /v1/token``, on the same counters: a guesser gains nothing
    by switching between the two.
    """
    issued = issue_token(
        session,
        ctx.settings,
        ctx.keyring,
        client_id=client_id,
        client_secret=client_secret,
        address=client_address(request, ctx),
    )
    # The client's last use was just recorded; commit it before the caller is read afresh.
    session.commit()
    caller = authenticate(_with_credentials(request, issued.access_token, acting_user), ctx)
    check_console_caller(caller, Scope.REVIEWS_READ)
    return issued, caller


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


def set_session_cookies(
    response: Response, request: Request, ctx: AppContext, issued: IssuedToken, acting_user: str | None
) -> None:
    secure = _secure(request, ctx)
    common = {"max_age": issued.expires_in, "path": COOKIE_PATH, "httponly": True, "samesite": "strict"}
    response.set_cookie(TOKEN_COOKIE, issued.access_token, secure=secure, **common)  # type: ignore[arg-type]
    if acting_user:
        response.set_cookie(USER_COOKIE, acting_user, secure=secure, **common)  # type: ignore[arg-type]
    else:
        response.delete_cookie(USER_COOKIE, path=COOKIE_PATH)


def clear_session_cookies(response: Response, request: Request, ctx: AppContext) -> None:
    for name in (TOKEN_COOKIE, USER_COOKIE):
        response.delete_cookie(
            name, path=COOKIE_PATH, secure=_secure(request, ctx), httponly=True, samesite="strict"
        )
