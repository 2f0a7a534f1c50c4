"""Thin webhooks: a subscriber is told the event type, version and its subject id, signed in the
Standard Webhooks style, retried with backoff, and never sent a record or a code."""

from __future__ import annotations

import ipaddress
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.handoff import webhooks
from gateway.handoff.egress import TargetPolicy
from tests.fixtures.handoff import MakeParty, cohort, hand_over, verified

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
    policy = committed_context.services.webhooks
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


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8701/_admin/faults",
        "https://127.0.0.1:8701/_admin/faults",
        "http://localhost:8000/v1/token",
        "https://localhost:8000/v1/token",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:10.0.0.1]/hook",
        "https://192.168.1.10/hook",
        "\u001b-",
        "https://unknown-host.nowhere/hook",
    ],
)
def test_inward_and_malformed_targets_are_refused_at_subscription(
    handoff_api: TestClient, party: MakeParty, url: str
) -> None:
    registry = party("registry", "41", "feed:read", stage="vocational")
    refused = handoff_api.post("/v1/webhooks", json={"url": url}, headers=registry.headers)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["url"]
    assert handoff_api.get("/v1/webhooks", headers=registry.headers).json()["webhooks"] == []


def _subscribe_and_hand_over(handoff_api: TestClient, party: MakeParty, url: str) -> tuple[str, object]:
    preschool = party("registry", "41", "handoff:write feed:read", stage="preschool")
    created = handoff_api.post("/v1/webhooks", json={"url": url}, headers=preschool.headers)
    assert created.status_code == 201, created.text
    hand_over(handoff_api, preschool, cohort(1))
    return verified(handoff_api, created)["id"], preschool


def _deliveries(handoff_api: TestClient, subscription_id: str, caller: object) -> list[dict[str, object]]:
    reply = handoff_api.get(f"/v1/webhooks/{subscription_id}/deliveries", headers=caller.headers)  # type: ignore[attr-defined]
    deliveries: list[dict[str, object]] = reply.json()["deliveries"]
    return deliveries


def test_a_name_that_turns_inward_after_subscription_is_refused_at_delivery(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    subscription_id, preschool = _subscribe_and_hand_over(handoff_api, party, RECEIVER)
    # The subscriber's DNS now answers with the mocks' loopback address (a rebind).
    rebound = TargetPolicy(resolve=lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    sent: list[httpx.Request] = []
    with httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    ) as client:
        webhooks.enqueue(committed_context.engine, committed_context.keyring)
        assert webhooks.deliver_due(committed_context.engine, committed_context.keyring, client, rebound) == 0
    assert sent == []
    [delivery] = _deliveries(handoff_api, subscription_id, preschool)
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["last_outcome"] == "refused_address"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (lambda request: httpx.Response(404), "rejected"),
        (lambda request: httpx.Response(302, headers={"location": "http://127.0.0.1:8701/"}), "rejected"),
        (lambda request: httpx.Response(503), "failed"),
        (lambda request: (_ for _ in ()).throw(httpx.ConnectError("connection refused")), "unreachable"),
        (lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("timed out")), "unreachable"),
    ],
)
def test_deliveries_report_an_outcome_class_not_the_answer(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty, answer: object, outcome: str
) -> None:
    subscription_id, preschool = _subscribe_and_hand_over(handoff_api, party, RECEIVER)
    policy = committed_context.services.webhooks
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:  # type: ignore[arg-type]
        webhooks.enqueue(committed_context.engine, committed_context.keyring)
        webhooks.deliver_due(committed_context.engine, committed_context.keyring, client, policy)
    [delivery] = _deliveries(handoff_api, subscription_id, preschool)
    assert delivery["last_outcome"] == outcome
    # Neither a status code nor an exception name of the subscriber's URL comes back.
    assert set(delivery) == {"id", "version", "status", "attempts", "last_outcome"}
    # (the message id is random hex: it may contain "503" by chance, so it is left out of the search)
    reported = json.dumps({k: v for k, v in delivery.items() if k != "id"})
    for leak in ("404", "302", "503", "ConnectError", "ReadTimeout", "refused", "timed out"):
        assert leak not in reported


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Receiver.received.append((self.path, self.headers["host"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_delivery_goes_to_the_checked_address_with_the_name_as_host(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    # A development gateway (loopback allowed) and a name only our resolver knows: the request can
    # only arrive if it was sent to the address that was checked, not resolved again by the client.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    committed_context.services.webhooks = TargetPolicy(
        allow_loopback=True, resolve=lambda host, port: [ipaddress.ip_address("127.0.0.1")]
    )
    port = server.server_address[1]
    try:
        subscription_id, preschool = _subscribe_and_hand_over(
            handoff_api, party, f"http://hooks.internal.test:{port}/in"
        )
        with httpx.Client() as client:
            webhooks.enqueue(committed_context.engine, committed_context.keyring)
            policy = committed_context.services.webhooks
            assert (
                webhooks.deliver_due(committed_context.engine, committed_context.keyring, client, policy) == 1
            )
    finally:
        server.shutdown()
        server.server_close()
    [(path, host, body)] = _Receiver.received
    assert (path, host) == ("/in", f"hooks.internal.test:{port}")
    assert json.loads(body)["type"] == "code.issued"
    [delivery] = _deliveries(handoff_api, subscription_id, preschool)
    assert (delivery["status"], delivery["last_outcome"]) == ("delivered", "delivered")
