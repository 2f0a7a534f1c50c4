"""Health, readiness, metrics, request ids and problem+json rendering."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from gateway.logs import JsonFormatter, MaskIdNumbersFilter
from gateway.privacy import mask_id_number, mask_id_numbers
from tests.fixtures.api import MakeCaller, request_token


def test_healthz_needs_no_token(api: TestClient) -> None:
    reply = api.get("/healthz")
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}


def test_readyz_checks_the_database(api: TestClient) -> None:
    assert api.get("/readyz").json() == {"status": "ready"}


def test_metrics_need_a_token_and_the_scope(api: TestClient, make_caller: MakeCaller) -> None:
    assert api.get("/metrics").status_code == 401
    no_scope = make_caller(role="county", jurisdiction="410102", scopes="codes:read")
    forbidden = api.get("/metrics", headers=no_scope.headers)
    assert forbidden.status_code == 403
    assert "metrics:read" in forbidden.json()["detail"]
    allowed = make_caller(scopes="metrics:read")
    api.get("/healthz")
    body = api.get("/metrics", headers=allowed.headers).text
    assert 'gateway_http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_request_id_is_echoed_or_made(api: TestClient) -> None:
    assert api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(api.get("/healthz").headers["x-request-id"]) == 16


@pytest.mark.parametrize(
    "incoming",
    ["has space", "<script>", "x" * 65, "caf\u00e9", "a\u00a0b", 'quote"d', "semi;colon"],
)
def test_a_request_id_out_of_shape_is_replaced(api: TestClient, incoming: str) -> None:
    reply = api.get("/healthz", headers={"X-Request-ID": incoming.encode("latin-1")})  # type: ignore[dict-item]
    assert reply.headers["x-request-id"] != incoming
    assert len(reply.headers["x-request-id"]) == 16


def test_an_id_number_as_request_id_is_masked(api: TestClient) -> None:
    sent = "110105201001010016"
    assert api.get("/healthz", headers={"X-Request-ID": sent}).headers["x-request-id"] == mask_id_number(sent)


@pytest.mark.parametrize("size", [2 * 1024 * 1024])
def test_an_oversized_body_is_413_problem_json_naming_the_limit(api: TestClient, size: int) -> None:
    limit = api.app.state.ctx.settings.max_body_bytes  # type: ignore[attr-defined]
    declared = api.post(
        "/v1/registrations", content=b"{" + b" " * size + b"}", headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"].startswith("application/problem+json")
    assert declared.json()["limit_bytes"] == limit and str(limit) in declared.json()["detail"]

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: streamed
        yield b'{"url": "'
        for _ in range(size // 65536):
            yield b"a" * 65536
        yield b'"}'

    streamed = api.post("/v1/webhooks", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["limit_bytes"] == limit
    small = api.post("/v1/token", data={"grant_type": "client_credentials", "client_id": "x"})
    assert small.status_code == 422  # under the limit, the endpoint answers as before


def test_unknown_route_and_bad_token_are_problem_json(api: TestClient) -> None:
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = api.get("/metrics", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.json()["status"] == 401 and bad.json()["type"].endswith("not-authenticated")


def test_form_validation_names_the_field(api: TestClient) -> None:
    reply = api.post("/v1/token", data={"grant_type": "client_credentials", "client_id": "x"})
    assert reply.status_code == 422
    body = reply.json()
    assert body["title"] == "Invalid input"
    assert [e["field"] for e in body["errors"]] == ["client_secret"]


def test_jwks_publishes_the_signing_key(api: TestClient) -> None:
    keys = api.get("/.well-known/jwks.json").json()["keys"]
    assert keys[0]["kty"] == "EC" and keys[0]["alg"] == "ES256" and keys[0]["kid"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id 11010519491231002X done", "id 110105********002X done"),
        ("legacy 110105491231002", "legacy 110105********1002"),
        ("phone 13800138000 is not an id", "phone 13800138000 is not an id"),
        ("code G11010519491231002X", "code G110105********002X"),
        ("code L410102201609011234", "code L410102201609011234"),
    ],
)
def test_mask_id_numbers(text: str, expected: str) -> None:
    assert mask_id_numbers(text) == expected


def test_mask_one_number() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_id_number(None) is None


def test_log_filter_masks_numbers_in_messages_and_args() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "checking %s for %s", ("11010519491231002X", "张三"), None
    )
    MaskIdNumbersFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert "11010519491231002X" not in line["message"]
    assert line["message"] == "checking 110105********002X for 张三"


def test_served_logs_never_carry_an_id_number(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    handler_filter = MaskIdNumbersFilter()
    request_token(api, "11010519491231002X", "s")
    for record in caplog.records:
        handler_filter.filter(record)
        assert "11010519491231002X" not in record.getMessage()
