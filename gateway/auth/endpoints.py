"""POST /v1/token: the OAuth2 client-credentials grant (429 with Retry-After while locked out)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from gateway.auth import service
from gateway.auth.dependencies import AddressDep, ContextDep, SessionDep
from gateway.auth.schemas import TokenResponse
from gateway.errors import FieldError, InvalidInput
from gateway.schemas import PlainText

router = APIRouter(tags=["auth"])


@router.post("/v1/token", response_model=TokenResponse)
def issue_token(
    session: SessionDep,
    ctx: ContextDep,
    address: AddressDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[PlainText, Form(max_length=100)],
    client_secret: Annotated[PlainText, Form(max_length=200)],
    scope: Annotated[PlainText | None, Form(max_length=2000)] = None,
) -> TokenResponse:
    if grant_type != "client_credentials":
        raise InvalidInput(
            errors=[
                FieldError("grant_type", "unsupported_grant_type", "only client_credentials is supported")
            ]
        )
    issued = service.issue_token(
        session,
        ctx.settings,
        ctx.keyring,
        client_id=client_id,
        client_secret=client_secret,
        address=address,
        scope=scope,
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope)
