"""What the fuzzer found, kept as plain regression tests, and what the OpenAPI description promises.

Each 5xx that schemathesis found (tests/test_api_fuzz.py) is asked here directly: a path id beyond
what an id column holds, a survivor id as large, a cursor as large, a control character in a webhook
URL or a code, a webhook URL whose host no parser reads. Each is refused with a 422 that names the
field and changes nothing. The registration body's request model documents its fields and takes
what the normaliser took before it (messy dates, numbers, unknown fields).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.schemas import MAX_ROW_ID
from tests.fixtures.api import ApiCaller, MakeCaller, request_token
from tests.fixtures.registrations import citizen, post_registration

TOO_BIG = [2**64, MAX_ROW_ID + 1]
DISCLOSURE = {"X-Purpose": "enrolment", "X-Approval-Ref": "EDU-2026-118"}


def _fields(reply: Any) -> set[str]:
    assert reply.status_code == 422, (reply.status_code, reply.text)
    assert reply.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in reply.json()["errors"]}


@pytest.mark.parametrize("number", TOO_BIG)
@pytest.mark.parametrize(
    ("method", "template", "field", "body"),
    [
        ("GET", "/v1/reviews/{n}", "problem_id", None),
        ("POST", "/v1/reviews/{n}/decision", "problem_id", {"decision": "needs_evidence"}),
        ("POST", "/v1/merges/{n}/undo", "merge_id", None),
        ("GET", "/v1/transfers/{n}", "transfer_id", None),
        ("POST", "/v1/transfers/{n}/decisions", "transfer_id", {"decision": "reject"}),
        ("POST", "/v1/transfers/{n}/pull", "transfer_id", None),
    ],
)
def test_a_path_id_larger_than_any_row_is_refused_naming_it(
    api: TestClient,
    make_caller: MakeCaller,
    method: str,
    template: str,
    field: str,
    body: Any,
    number: int,
) -> None:
    central = make_caller("central", "CN")
    reply = api.request(
        method, template.format(n=number), json=body, headers={**central.headers, **DISCLOSURE}
    )
    assert _fields(reply) == {field}


@pytest.mark.parametrize("number", TOO_BIG)
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/reviews?after_id={n}", "after_id"),
        ("/v1/audit?after_id={n}", "after_id"),
        ("/v1/feed?since={n}", "since"),
    ],
)
def test_a_cursor_larger_than_any_row_is_refused_naming_it(
    api: TestClient, make_caller: MakeCaller, url: str, field: str, number: int
) -> None:
    central = make_caller("central", "CN")
    assert _fields(api.get(url.format(n=number), headers=central.headers)) == {field}


def test_a_survivor_id_larger_than_any_row_is_refused_naming_it(
    api: TestClient, make_caller: MakeCaller
) -> None:
    central = make_caller("central", "CN")
    reply = api.post(
        "/v1/reviews/1/decision",
        json={"decision": "same_person", "survivor_id": 2**64},
        headers=central.headers,
    )
    assert _fields(reply) == {"survivor_id"}


@pytest.mark.parametrize(
    "url",
    [
        "\u001b-",  # what the fuzzer sent
        "https://registry.example\u0000/hook",
        "https://registry.example/ho\nok",
        "https://\u3002/hook",  # a host name IDNA cannot encode
        "https://xn--a/hook",  # a punycode label that decodes to a forbidden code point
        "https://[::1/hook",  # an unterminated IPv6 literal
    ],
)
def test_a_webhook_url_that_is_no_url_is_refused_naming_it(
    api: TestClient, make_caller: MakeCaller, url: str
) -> None:
    province = make_caller("province", "41")
    assert _fields(api.post("/v1/webhooks", json={"url": url}, headers=province.headers)) == {"url"}
    assert api.get("/v1/webhooks", headers=province.headers).json()["webhooks"] == []


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("GET", "/v1/students/L%00410102", "code"),
        ("GET", "/v1/codes/G%01", "code"),
        ("GET", "/v1/batches/bt_%00", "batch_id"),
        ("GET", "/v1/audit?object_ref=a%00b", "object_ref"),
    ],
)
def test_a_control_character_in_a_path_or_query_is_refused_naming_it(
    api: TestClient, make_caller: MakeCaller, method: str, url: str, field: str
) -> None:
    central = make_caller("central", "CN")
    assert _fields(api.request(method, url, headers=central.headers)) == {field}


@pytest.mark.parametrize("month", ["0000-01", "9999-12", "2026-13"])
def test_a_month_no_calendar_holds_is_refused_naming_it(
    api: TestClient, make_caller: MakeCaller, month: str
) -> None:
    # Year 0 (or 10000, the month after 9999-12) is no date: it was a 500.
    central = make_caller("central", "CN")
    assert _fields(api.get(f"/v1/reports/progress?month={month}", headers=central.headers)) == {"month"}


def test_a_client_id_with_a_control_character_is_refused_naming_it(api: TestClient) -> None:
    # A NUL reached the client look-up, which PostgreSQL cannot run (a 500 there).
    reply = request_token(api, "cl_\u0000x", "s")
    assert _fields(reply) == {"client_id"}


def test_free_text_with_a_control_character_is_refused_naming_it(
    api: TestClient, make_caller: MakeCaller
) -> None:
    central = make_caller("central", "CN")
    reply = api.post(
        "/v1/reviews",
        json={"codes": ["L4101022016090100001", "L4101022016090100002"], "note": "same\u0000child"},
        headers=central.headers,
    )
    assert _fields(reply) == {"note"}


# --- the registration body ------------------------------------------------------------------------

CHILD = {
    "name": "王子涵",
    "gender": "男",
    "birth_date": "2016年9月1日",
    "id_type": "none",
    "household_region": "410102",
    "guardian_name": "王建国",
    "school_code": "4101020001",
    "school_region": "410102",
}


def test_the_readme_registration_is_issued_a_code(committed_api: TestClient, province: ApiCaller) -> None:
    reply = post_registration(committed_api, province, CHILD, "k-1")
    assert reply.status_code == 201, reply.text
    assert reply.json()["outcome"] == "issued"


def test_a_registration_takes_numbers_and_ignores_unknown_fields_as_before(
    committed_api: TestClient, province: ApiCaller
) -> None:
    body = {**CHILD, "birth_date": 20160901, "gender": 1, "household_region": 410102, "class_name": "一(2)班"}
    reply = post_registration(committed_api, province, body, "k-1")
    assert reply.status_code == 201, reply.text


def test_a_registration_names_every_field_it_refuses(committed_api: TestClient, province: ApiCaller) -> None:
    wrong_types = {**CHILD, "gender": ["男"], "school_code": 4101020001, "name": "王" * 600}
    reply = post_registration(committed_api, province, wrong_types, "k-1")
    assert _fields(reply) == {"gender", "school_code", "name"}
    for error in reply.json()["errors"]:
        assert set(error) == {"field", "code", "message"}
    wrong_values = {**CHILD, "birth_date": "2016-13-45", "school_region": "41"}
    assert _fields(post_registration(committed_api, province, wrong_values, "k-2")) == {
        "birth_date",
        "school_region",
    }


def test_a_registration_with_a_control_character_is_refused(
    committed_api: TestClient, province: ApiCaller
) -> None:
    reply = post_registration(committed_api, province, {**CHILD, "name": "王子\u0000涵"}, "k-1")
    assert _fields(reply) == {"name"}


@pytest.mark.parametrize("body", [[], "text", 42])
def test_a_registration_body_must_be_an_object(
    committed_api: TestClient, province: ApiCaller, body: Any
) -> None:
    assert _fields(post_registration(committed_api, province, body, "k-1")) == {"body"}


def test_a_search_takes_the_same_record_fields(api: TestClient, make_caller: MakeCaller) -> None:
    province = make_caller("province", "41")
    record = {k: v for k, v in CHILD.items() if k != "school_region"}
    reply = api.post(
        "/v1/search",
        json={**record, "id_type": "resident_id", "id_number": citizen("41010220160901001")},
        headers=province.headers,
    )
    assert reply.status_code == 200, reply.text
    assert _fields(api.post("/v1/search", json=[], headers=province.headers)) == {"body"}


# --- the description says what validation enforces -----------------------------------------------


def test_every_json_body_has_a_request_schema(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media, spec in content.items():
                assert spec.get("schema"), (method, path, media)
                if media == "application/json":
                    assert "$ref" in spec["schema"] or spec["schema"].get("properties"), (method, path)


# Writes that take no body: everything they need is in the path, the headers and the token.
NO_BODY = {
    ("post", "/v1/merges/{merge_id}/undo"): "the merge to undo is the path",
    ("post", "/v1/handoff/exports"): "exports the caller's whole cohort; the basis is in X-Purpose headers",
    ("post", "/v1/transfers/{transfer_id}/pull"): "the transfer is the path; the basis is in headers",
    ("delete", "/v1/webhooks/{subscription_id}"): "the subscription is the path",
}


def test_every_write_takes_a_documented_body_or_is_listed_as_taking_none(api: TestClient) -> None:
    # A handler reading ``await request.json()`` or taking ``Any``/``dict`` shows no request schema in
    # /docs: every write declares a model (or, for uploads, its media types), or is listed above.
    schema = api.get("/openapi.json").json()
    bodiless = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in {"post", "put", "patch", "delete"}:
                continue
            body = operation.get("requestBody")
            if body is None:
                bodiless.add((method, path))
                continue
            assert body["content"], (method, path)
            for media, spec in body["content"].items():
                assert spec.get("schema"), (method, path, media)
                if media in {"application/json", "application/x-www-form-urlencoded"}:
                    model = spec["schema"]
                    if "$ref" in model:
                        model = schema["components"]["schemas"][model["$ref"].rsplit("/", 1)[1]]
                    assert model.get("properties"), (method, path, media)
    assert bodiless == set(NO_BODY)


def test_numeric_path_ids_are_bounded_in_the_description(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    seen = 0
    for path, item in schema["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    seen += 1
                    assert parameter["schema"]["minimum"] == 1, path
                    assert parameter["schema"]["maximum"] == MAX_ROW_ID, path
    assert seen >= 6


def test_the_registration_schema_documents_its_fields_and_headers(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    operation = schema["paths"]["/v1/registrations"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"name", "gender", "birth_date", "school_code", "school_region", "guardian_id_number"} <= set(
        model["properties"]
    )
    assert [p["name"] for p in operation["parameters"] if p["required"]] == ["Idempotency-Key"]
    pull = schema["paths"]["/v1/transfers/{transfer_id}/pull"]["post"]
    assert {"X-Purpose", "X-Approval-Ref"} <= {p["name"] for p in pull["parameters"] if p["in"] == "header"}
