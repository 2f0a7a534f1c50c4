"""Problem records over HTTP: listing by jurisdiction, the three decisions, merge and undo."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from gateway.idgen import formats
from gateway.persons.models import Person
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.registrations import CHILD, SCHOOL, citizen, held_registration, register
from tests.fixtures.staff import add_staff
from tests.registry.people import lapse_transfer_lock, set_transfer_lock


@pytest.fixture
def reviewer(committed_api: TestClient, committed_context: AppContext) -> ApiCaller:
    return register_caller(
        committed_api,
        committed_context.engine,
        role="reviewer",
        jurisdiction="410102",
        scopes="reviews:read reviews:write codes:read",
    )


def test_queue_is_limited_to_the_reviewers_jurisdiction(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller, reviewer: ApiCaller
) -> None:
    _code, problem_id = held_registration(committed_api, province)
    mine = committed_api.get("/v1/reviews?status=open", headers=reviewer.headers).json()
    assert [p["id"] for p in mine["items"]] == [problem_id]
    assert mine["counts"] == {"open": 1}
    elsewhere = register_caller(
        committed_api,
        committed_context.engine,
        role="reviewer",
        jurisdiction="410103",
        scopes="reviews:read reviews:write",
    )
    assert committed_api.get("/v1/reviews", headers=elsewhere.headers).json()["items"] == []
    assert committed_api.get(f"/v1/reviews/{problem_id}", headers=elsewhere.headers).status_code == 404
    detail = committed_api.get(f"/v1/reviews/{problem_id}", headers=reviewer.headers).json()
    assert detail["candidates"][0]["id_number_masked"].startswith("410102********")
    assert CHILD["id_number"] not in str(detail)
    assert detail["explanation"][0]["fields"]


def test_same_person_links_the_held_record_to_the_existing_code(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller, reviewer: ApiCaller
) -> None:
    code, problem_id = held_registration(committed_api, province)
    li = add_staff(committed_context.engine, reviewer.client_id, "county_reviewer")
    reply = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "same_person"}, headers=li.headers(reviewer)
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["code"] == code and reply.json()["status"] == "resolved"
    again = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "same_person"}, headers=reviewer.headers
    )
    assert again.status_code == 409
    with Session(committed_context.engine) as s:
        assert len(s.exec(select(Person)).all()) == 1
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "review.same_person")).one()
        assert audit.acting_user == li.staff_id and audit.object_ref == str(problem_id)


def test_different_persons_issues_a_new_code(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller, reviewer: ApiCaller
) -> None:
    code, problem_id = held_registration(committed_api, province)
    reply = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "different_persons"}, headers=reviewer.headers
    )
    assert reply.status_code == 200, reply.text
    new_code = reply.json()["code"]
    assert new_code != code and formats.validate_code(new_code).type is formats.CodeType.L


def test_needs_evidence_sends_it_back_and_keeps_it_open(
    committed_api: TestClient, province: ApiCaller, reviewer: ApiCaller
) -> None:
    _code, problem_id = held_registration(committed_api, province)
    reply = committed_api.post(
        f"/v1/reviews/{problem_id}/decision",
        json={"decision": "needs_evidence", "note": "bring the household booklet"},
        headers=reviewer.headers,
    )
    assert reply.json()["status"] == "needs_evidence"
    listed = committed_api.get("/v1/reviews?status=needs_evidence", headers=reviewer.headers).json()["items"]
    assert [p["id"] for p in listed] == [problem_id]


def test_bad_decision_is_a_field_error(
    committed_api: TestClient, province: ApiCaller, reviewer: ApiCaller
) -> None:
    _code, problem_id = held_registration(committed_api, province)
    reply = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "delete"}, headers=reviewer.headers
    )
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "decision"


def test_merge_and_undo_keep_both_codes_resolvable(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller, reviewer: ApiCaller
) -> None:
    a = register(committed_api, province, CHILD, "m1")["code"]
    other = {
        **CHILD,
        "name": "陈思远",
        "id_number": citizen("41010220150101002"),
        "birth_date": "2015-01-01",
        "guardian_name": "陈刚",
    }
    b = register(committed_api, province, other, "m2")["code"]
    opened = committed_api.post(
        "/v1/reviews", json={"codes": [b, a], "note": "school says same child"}, headers=reviewer.headers
    )
    assert opened.status_code == 201, opened.text
    problem_id = opened.json()["id"]
    decided = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "same_person"}, headers=reviewer.headers
    ).json()
    assert decided["code"] == a and decided["merge_id"]
    resolved = committed_api.get(f"/v1/codes/{b}", headers=reviewer.headers).json()
    assert resolved["current_code"] == a and resolved["code_status"] == "alias"
    assert resolved["lineage"][-1]["reason"] == "merge"
    undone = committed_api.post(f"/v1/merges/{decided['merge_id']}/undo", headers=reviewer.headers)
    assert undone.status_code == 200, undone.text
    assert undone.json()["restored_code"] == b
    back = committed_api.get(f"/v1/codes/{b}", headers=reviewer.headers).json()
    assert back["current_code"] == b and back["code_status"] == "current"
    assert [e["reason"] for e in back["lineage"]] == ["merge", "unmerge"]
    assert (
        committed_api.post(f"/v1/merges/{decided['merge_id']}/undo", headers=reviewer.headers).status_code
        == 409
    )
    with Session(committed_context.engine) as s:
        actions = s.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
    assert {"review.report", "review.same_person", "merge.undo"} <= set(actions)


def test_no_merge_while_a_transfer_holds_either_student(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller, reviewer: ApiCaller
) -> None:
    a = register(committed_api, province, CHILD, "t1")["code"]
    other = {**CHILD, "name": "陈思远", "id_number": citizen("41010220150101002"), "guardian_name": "陈刚"}
    b = register(committed_api, province, other, "t2")["code"]
    problem_id = committed_api.post(
        "/v1/reviews", json={"codes": [b, a], "note": "same child?"}, headers=reviewer.headers
    ).json()["id"]
    set_transfer_lock(committed_context, b, True)
    refused = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "same_person"}, headers=reviewer.headers
    )
    assert refused.status_code == 409 and "transfer" in refused.json()["detail"]
    assert committed_api.get(f"/v1/codes/{b}", headers=reviewer.headers).json()["current_code"] == b
    with Session(committed_context.engine) as s:
        assert s.exec(select(Person).where(Person.current_code == b)).one().status == "active"
    # An application past its deadline has expired and holds nobody, recorded or not.
    lapse_transfer_lock(committed_context, b)
    decided = committed_api.post(
        f"/v1/reviews/{problem_id}/decision", json={"decision": "same_person"}, headers=reviewer.headers
    )
    assert decided.status_code == 200 and decided.json()["merge_id"]
    # Undoing it waits for a transfer of the survivor in the same way.
    set_transfer_lock(committed_context, a, True)
    undo = committed_api.post(f"/v1/merges/{decided.json()['merge_id']}/undo", headers=reviewer.headers)
    assert undo.status_code == 409 and "transfer" in undo.json()["detail"]
    assert committed_api.get(f"/v1/codes/{b}", headers=reviewer.headers).json()["current_code"] == a
    set_transfer_lock(committed_context, a, False)
    undo = committed_api.post(f"/v1/merges/{decided.json()['merge_id']}/undo", headers=reviewer.headers)
    assert undo.status_code == 200, undo.text


def test_report_needs_two_distinct_known_codes(
    committed_api: TestClient, province: ApiCaller, reviewer: ApiCaller
) -> None:
    a = register(committed_api, province, CHILD, "r1")["code"]
    assert (
        committed_api.post("/v1/reviews", json={"codes": [a, a]}, headers=reviewer.headers).status_code == 422
    )
    unknown = "L" + SCHOOL["school_region"] + "201609019999"
    reply = committed_api.post("/v1/reviews", json={"codes": [a, unknown]}, headers=reviewer.headers)
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "codes"
