"""Fixtures for the registry tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from gateway.auth import service as auth_service
from gateway.context import AppContext
from gateway.db import session_scope


@pytest.fixture
def tokens_by_province(committed_context: AppContext) -> Callable[[str, list[str]], dict[str, str]]:
    """A province client per prefix, with a token fetched from the running server."""

    def make(base_url: str, provinces: list[str]) -> dict[str, str]:
        tokens = {}
        for province in sorted(set(provinces)):
            with session_scope(committed_context.engine) as s:
                created = auth_service.create_client(
                    s, name=f"province {province}", role="province", jurisdiction=province, scopes="all"
                )
                client_id, secret = created.client.id, created.secret
            reply = httpx.post(
                f"{base_url}/v1/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            )
            tokens[province] = reply.json()["access_token"]
        return tokens

    return make
