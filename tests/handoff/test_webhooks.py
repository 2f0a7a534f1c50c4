"""Thin webhooks: a subscriber is told the event type, version and its subject id, signed in the
Standard Webhooks style, retried with backoff, and never sent a record or a code."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.handoff import webhooks
from tests.handoff.conftest import MakeParty, cohort, hand_over, verified

RECEIVER = "https://registry.example/hooks/gateway"


def test_notifications_are_signed_thin_and_retried(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    preschool = party("registry", "41", "handoff:write feed:read", stage="preschool")
    created = handoff_api.post("/v1/webhooks", json={"url": RECEIVER}, headers=preschool.headers)
    assert created.status_code == 201, created.text
    subscription = verified(handoff_api, created)
    children = cohort(2)
    hand_over(handoff_api, preschool, children)

    received: list[httpx.Request] = []
    answers = iter([500, 200, 200, 200])

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(next(answers))

    engine, keyring = committed_context.engine, committed_context.keyring
    policy = committed_context.services["webhooks"]
    with httpx.Client(transport=httpx.MockTransport(receiver)) as client:
        assert webhooks.enqueue(engine, keyring) == 2
        assert webhooks.enqueue(engine, keyring) == 0  # the cursor moved on
        assert webhooks.deliver_due(engine, keyring, client, policy) == 1  # one refused with a 500
        assert webhooks.deliver_due(engine, keyring, client, policy) == 0  # the refused one waits its backoff
        later = utcnow() + timedelta(seconds=6)
        assert webhooks.deliver_due(engine, keyring, client, policy, now=later) == 1
    assert len(received) == 3
    assert received[0].headers["webhook-id"] == received[2].headers["webhook-id"]  # the same message again
    verifier = Webhook(subscription["secret"])
    for request in received:
        payload = verifier.verify(request.content, dict(request.headers))
        assert set(payload) == {"type", "timestamp", "data"}
        assert payload["type"] == "code.issued" and set(payload["data"]) == {"version", "subject_id"}
    tampered = received[1].content.replace(b"code.issued", b"code.promoted")
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, dict(received[1].headers))
    for child in children:
        assert all(child.id_number.encode() not in r.content for r in received)
    deliveries = handoff_api.get(
        f"/v1/webhooks/{subscription['id']}/deliveries", headers=preschool.headers
    ).json()
    assert sorted((d["status"], d["attempts"]) for d in deliveries["deliveries"]) == [
        ("delivered", 1),
        ("delivered", 2),
    ]


def test_subscriptions_belong_to_their_client(handoff_api: TestClient, party: MakeParty) -> None:
    registry = party("registry", "41", "feed:read", stage="vocational")
    insecure = handoff_api.post(
        "/v1/webhooks", json={"url": "http://registry.example/h"}, headers=registry.headers
    )
    assert insecure.status_code == 422
    created = handoff_api.post("/v1/webhooks", json={"url": RECEIVER}, headers=registry.headers).json()
    other = party("registry", "42", "feed:read", stage="vocational")
    assert (
        handoff_api.get(f"/v1/webhooks/{created['id']}/deliveries", headers=other.headers).status_code == 404
    )
    assert handoff_api.delete(f"/v1/webhooks/{created['id']}", headers=other.headers).status_code == 404
    assert [
        w["id"] for w in handoff_api.get("/v1/webhooks", headers=registry.headers).json()["webhooks"]
    ] == [created["id"]]
    assert handoff_api.delete(f"/v1/webhooks/{created['id']}", headers=registry.headers).status_code == 204
    assert handoff_api.get("/v1/webhooks", headers=registry.headers).json()["webhooks"] == []
    assert "secret" not in json.dumps(handoff_api.get("/v1/webhooks", headers=registry.headers).json())
