"""Token issue and refusal: wrong secret, expiry, disabled and frozen clients."""

from __future__ import annotations

from datetime import timedelta

import jwt
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.auth import service
from gateway.auth.models import ApiClient
from gateway.clock import utcnow
from gateway.context import AppContext
from tests.fixtures.api import MakeCaller, request_token


def test_token_carries_role_jurisdiction_and_scopes(
    api: TestClient, session: Session, app_context: AppContext
) -> None:
    created = service.create_client(
        session, name="Zhengzhou", role="city", jurisdiction="4101", scopes="codes:read search:read"
    )
    session.commit()
    reply = request_token(api, created.client.id, created.secret)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer"
    claims = jwt.decode(
        body["access_token"],
        app_context.keyring.token_keys.current.public_key(),
        algorithms=["ES256"],
        audience=service.TOKEN_AUDIENCE,
    )
    assert claims["sub"] == created.client.id
    assert claims["role"] == "city" and claims["jur"] == "4101"
    assert set(claims["scope"].split()) == {"codes:read", "search:read"}
    assert claims["exp"] - claims["iat"] == app_context.settings.token_ttl_seconds


def test_narrower_scope_can_be_asked_for_but_not_wider(api: TestClient, session: Session) -> None:
    created = service.create_client(
        session, name="x", role="county", jurisdiction="410102", scopes="codes:read search:read"
    )
    session.commit()
    narrow = request_token(api, created.client.id, created.secret, scope="codes:read")
    assert narrow.json()["scope"] == "codes:read"
    wide = request_token(api, created.client.id, created.secret, scope="codes:read reviews:write")
    assert wide.status_code == 422
    assert wide.json()["errors"][0]["field"] == "scope"


def test_wrong_secret_and_unknown_client_are_refused_alike(api: TestClient, session: Session) -> None:
    created = service.create_client(session, name="x", role="province", jurisdiction="41", scopes="all")
    session.commit()
    wrong = request_token(api, created.client.id, created.secret + "x")
    unknown = request_token(api, "cl_nobody", created.secret)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"].startswith("application/problem+json")


def test_unsupported_grant_type(api: TestClient) -> None:
    reply = api.post("/v1/token", data={"grant_type": "password", "client_id": "a", "client_secret": "b"})
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "grant_type"


def test_expired_token_is_refused(api: TestClient, make_caller: MakeCaller, app_context: AppContext) -> None:
    caller = make_caller()
    claims = jwt.decode(caller.token, options={"verify_signature": False})
    claims["exp"] = int((utcnow() - timedelta(seconds=5)).timestamp())
    keys = app_context.keyring.token_keys
    expired = jwt.encode(claims, keys.current, algorithm="ES256", headers={"kid": keys.kid})
    reply = api.get("/metrics", headers={"Authorization": f"Bearer {expired}"})
    assert reply.status_code == 401
    assert "expired" in reply.json()["detail"]


def test_token_signed_by_another_key_is_refused(api: TestClient, make_caller: MakeCaller) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    caller = make_caller()
    claims = jwt.decode(caller.token, options={"verify_signature": False})
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    assert api.get("/metrics", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_disabled_client_loses_token_and_access_at_once(
    api: TestClient, session: Session, make_caller: MakeCaller
) -> None:
    caller = make_caller()
    assert api.get("/metrics", headers=caller.headers).status_code == 200
    service.disable_client(session, caller.client_id)
    session.commit()
    assert api.get("/metrics", headers=caller.headers).status_code == 403
    refused = request_token(api, caller.client_id, caller.secret)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("account-frozen")
    service.enable_client(session, caller.client_id)
    session.commit()
    assert request_token(api, caller.client_id, caller.secret).status_code == 200


def test_client_unused_for_180_days_is_frozen(
    api: TestClient, session: Session, app_context: AppContext
) -> None:
    created = service.create_client(session, name="idle", role="county", jurisdiction="410102", scopes="all")
    client = session.get(ApiClient, created.client.id)
    assert client is not None
    days = app_context.settings.client_freeze_days
    client.last_used_at = utcnow() - timedelta(days=days, hours=1)
    session.add(client)
    session.commit()
    reply = request_token(api, created.client.id, created.secret)
    assert reply.status_code == 403
    assert "frozen" in reply.json()["detail"]
    # used just inside the window: still fine
    client.last_used_at = utcnow() - timedelta(days=days - 1)
    session.add(client)
    session.commit()
    assert request_token(api, created.client.id, created.secret).status_code == 200


def test_secret_is_stored_hashed(session: Session) -> None:
    created = service.create_client(
        session, name="x", role="partner", jurisdiction="CN", scopes="verifications:write"
    )
    stored = session.get(ApiClient, created.client.id)
    assert stored is not None
    assert created.secret not in stored.secret_hash
    assert service.verify_secret(created.secret, stored.secret_hash)
    assert not service.verify_secret(created.secret[:-1], stored.secret_hash)


def test_a_client_stored_before_the_ceiling_gets_only_its_roles_scopes(
    api: TestClient, session: Session
) -> None:
    """A partner created when ``all`` meant every scope still lists them; its tokens never carry
    what a partner may not hold, and asking for such a scope is refused naming it."""
    created = service.create_client(
        session, name="old partner", role="partner", jurisdiction="CN", scopes="verifications:write"
    )
    created.client.scopes = "audit:read search:read students:read verifications:write"
    session.add(created.client)
    session.commit()
    token = request_token(api, created.client.id, created.secret)
    assert token.status_code == 200 and token.json()["scope"] == "verifications:write"
    asked = request_token(api, created.client.id, created.secret, scope="students:read")
    assert asked.status_code == 422
    [error] = asked.json()["errors"]
    assert error["field"] == "scope" and "students:read" in error["message"]
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert api.get("/v1/audit", headers=headers).status_code == 403
    assert api.post("/v1/search", headers=headers, json={"name": "王子涵"}).status_code == 403
