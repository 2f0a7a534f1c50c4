"""Wire shapes of the token endpoint."""

from __future__ import annotations

from pydantic import BaseModel


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    scope: str
