"""FastAPI dependencies that every router uses: the database session and the authenticated caller.

``require_scope(scope)`` resolves the bearer token to a ``Caller`` (client, role, jurisdiction,
scopes, the named person acting: a signed-in staff member or ``X-Staff-Id``) or refuses: no or bad
token 401, scope not held 403, an unknown, foreign or disabled staff id 422 naming the header.
Jurisdiction is then enforced by the services, which answer records outside it as not found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from gateway.auth import repository, staff
from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Scope
from gateway.auth.service import check_usable, decode_token
from gateway.auth.throttle import source_address
from gateway.context import AppContext
from gateway.errors import FieldError, Forbidden, InvalidInput, NotAuthenticated


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_context(request: Request) -> AppContext:
    """The application context. The cheap dependencies are ``async``: run on the event loop, they
    cost no hop to the thread pool (each sync dependency costs one, per request)."""
    return context_of(request)


def open_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, rolled back if it raises.

    Used with ``scope="function"`` so the commit happens before the response is sent: an
    acknowledged write is a committed write.
    """
    session = _new_session(request)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(open_session, scope="function")]
ContextDep = Annotated[AppContext, Depends(get_context)]


def client_address(request: Request, ctx: ContextDep) -> str:
    """Where a sign-in comes from: the TCP peer, or what trusted proxies say in X-Forwarded-For."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    return source_address(peer, forwarded, ctx.settings.trusted_proxy_networks)


AddressDep = Annotated[str, Depends(client_address)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("a bearer token is required")
    return token.strip()


def _read_session(request: Request) -> Session:
    override = getattr(request.app.state, "session_factory", None)
    return override() if override else Session(context_of(request).reader, expire_on_commit=False)


def _new_session(request: Request) -> Session:
    override = getattr(request.app.state, "session_factory", None)
    return override() if override else Session(context_of(request).engine, expire_on_commit=False)


def authenticate(request: Request, ctx: ContextDep) -> Caller:
    claims = decode_token(_bearer(request), ctx.settings, ctx.keyring)
    if request.headers.get(staff.RETIRED_HEADER) is not None:
        # A self-asserted name held nobody responsible; refused rather than recorded (ADR 014).
        raise InvalidInput(
            errors=[
                FieldError(
                    staff.RETIRED_HEADER,
                    "retired",
                    f"{staff.RETIRED_HEADER} is no longer accepted: name the person acting with "
                    f"{staff.STAFF_HEADER} (a staff account of your client)",
                )
            ]
        )
    named = request.headers.get(staff.STAFF_HEADER)
    signed_in = claims.get("stf")
    if named is not None and signed_in is not None:
        raise InvalidInput(
            errors=[
                FieldError(
                    staff.STAFF_HEADER, "not_allowed", "a signed-in person's session already names them"
                )
            ]
        )
    # A single read of its own, in autocommit: the caller is known before the endpoint's unit of work
    # begins, no lock is held across the request on the embedded store, and no transaction is opened.
    with _read_session(request) as session:
        client = repository.get_client(session, str(claims["sub"]))
        if client is None:
            raise NotAuthenticated("the client of this token no longer exists")
        check_usable(client, ctx.settings)
        person = None
        if named is not None:
            person = staff.acting_staff(session, client, named)
        elif signed_in is not None:
            try:
                person = staff.usable_staff(repository.get_staff(session, str(signed_in)), client, "session")
            except InvalidInput:
                raise NotAuthenticated("your staff account is disabled or no longer exists") from None
        fields = ClientFields(client.id, client.name, client.role, client.jurisdiction, client.stage)
    caller = Caller.of_client(
        fields,
        scopes=str(claims["scope"]),
        staff=person,
        request_id=getattr(request.state, "request_id", None),
    )
    request.state.caller = caller
    return caller


def require_scope(scope: Scope | str) -> Callable[..., Awaitable[Caller]]:
    """A dependency that authenticates the caller and insists on one scope."""
    wanted = Scope(scope)

    async def dependency(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if not caller.has(wanted):
            raise Forbidden(f"this call needs the scope {wanted.value}")
        return caller

    dependency.required_scope = wanted  # type: ignore[attr-defined]  # read by the authority matrix test
    return dependency
