"""POST /v1/registrations end to end on a committed database: every outcome, idempotency, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from gateway.context import AppContext
from gateway.idgen import formats
from gateway.persons.models import Person
from gateway.registry.models import ProblemRecord
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.registrations import CHILD, SCHOOL, citizen, post_registration


def _count(ctx: AppContext, model: type) -> int:
    with Session(ctx.engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_new_child_is_issued_an_l_code(committed_api: TestClient, province: ApiCaller) -> None:
    reply = post_registration(committed_api, province, CHILD, "k1")
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["outcome"] == "issued" and body["code_type"] == "L"
    check = formats.validate_code(body["code"])
    assert check.valid and check.region == "410102" and str(check.birth_date) == "2016-09-01"
    assert body["verification"] == "pending"


def test_same_key_same_body_replays_and_different_body_conflicts(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    first = post_registration(committed_api, province, CHILD, "k-replay")
    again = post_registration(committed_api, province, CHILD, "k-replay")
    assert again.status_code == first.status_code and again.json() == first.json()
    other = post_registration(committed_api, province, {**CHILD, "name": "王子轩"}, "k-replay")
    assert other.status_code == 409
    assert _count(committed_context, Person) == 1


def test_same_child_again_with_a_homophone_typo_gets_the_existing_code(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    code = post_registration(committed_api, province, CHILD, "a").json()["code"]
    typo = {**CHILD, "name": "王子晗", "guardian_name": "王建國"}
    reply = post_registration(committed_api, province, typo, "b")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"outcome": "existing", "code": code, "code_type": "L"}
    assert _count(committed_context, Person) == 1


def test_twin_is_not_linked_to_their_sibling(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    first = post_registration(committed_api, province, CHILD, "t1").json()
    twin = {**CHILD, "name": "王子轩", "id_number": citizen("41010220160901035")}
    reply = post_registration(committed_api, province, twin, "t2")
    assert reply.status_code in (201, 202), reply.text
    assert reply.json().get("code") != first["code"]


def test_same_id_number_on_a_different_person_goes_to_review(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    post_registration(committed_api, province, CHILD, "d1")
    stranger = {
        **CHILD,
        "name": "刘欣怡",
        "gender": "1",
        "guardian_name": "刘强",
        "household_region": "410105",
    }
    reply = post_registration(committed_api, province, stranger, "d2")
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["outcome"] == "review_required" and body["problem_type"] == "duplicate_id"
    assert _count(committed_context, Person) == 1
    with Session(committed_context.engine) as s:
        problem = s.get(ProblemRecord, body["problem_id"])
        assert problem is not None and problem.status == "open" and problem.region == "410102"


def test_invalid_record_is_rejected_with_field_errors_and_nothing_stored(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    bad = {**CHILD, "birth_date": "2016-02-30", "id_number": "410102201609010011", "school_region": "41"}
    reply = post_registration(committed_api, province, bad, "bad")
    assert reply.status_code == 422
    fields = {e["field"] for e in reply.json()["errors"]}
    assert {"birth_date", "id_number", "school_region"} <= fields
    assert _count(committed_context, Person) == 0
    assert post_registration(committed_api, province, CHILD, "ok").status_code == 201


def test_a_school_code_outside_its_region_is_refused_and_nothing_stored(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    elsewhere = {**CHILD, "school_code": "4101050001", "school_region": "410102"}
    reply = post_registration(committed_api, province, elsewhere, "mismatch")
    assert reply.status_code == 422
    assert [(e["field"], e["code"]) for e in reply.json()["errors"]] == [("school_code", "region_mismatch")]
    assert _count(committed_context, Person) == 0


@pytest.mark.parametrize("body", [[], "text", 42, None])
def test_non_object_bodies_are_refused(committed_api: TestClient, province: ApiCaller, body: Any) -> None:
    reply = committed_api.post(
        "/v1/registrations", json=body, headers={**province.headers, "Idempotency-Key": "x"}
    )
    assert reply.status_code == 422


def test_idempotency_key_is_required(committed_api: TestClient, province: ApiCaller) -> None:
    reply = committed_api.post("/v1/registrations", json=CHILD, headers=province.headers)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "Idempotency-Key"


def test_school_outside_jurisdiction_is_forbidden(
    committed_api: TestClient, committed_context: AppContext
) -> None:
    hubei = register_caller(committed_api, committed_context.engine, role="province", jurisdiction="42")
    assert post_registration(committed_api, hubei, CHILD, "x").status_code == 403
    assert _count(committed_context, Person) == 0


def test_child_without_documents_is_issued_and_found_again(
    committed_api: TestClient, province: ApiCaller
) -> None:
    child = {
        "name": "李小宝",
        "gender": "男",
        "birth_date": "2017年3月7日",
        "id_type": "none",
        "household_region": "410102",
        "guardian_name": "李大山",
        **SCHOOL,
    }
    issued = post_registration(committed_api, province, child, "n1").json()
    assert issued["outcome"] == "issued"
    again = post_registration(
        committed_api, province, {**child, "name": "李晓宝", "birth_date": "20170307"}, "n2"
    )
    assert again.json().get("code") == issued["code"] or again.json()["outcome"] == "review_required"
    assert again.json()["outcome"] != "issued"


def test_search_returns_ranked_candidates_in_jurisdiction(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    code = post_registration(committed_api, province, CHILD, "s1").json()["code"]
    query = {k: v for k, v in CHILD.items() if k not in SCHOOL}
    reply = committed_api.post("/v1/search", json={**query, "name": "王子晗"}, headers=province.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["outcome"] == "exact_match"
    assert body["candidates"][0]["code"] == code and body["candidates"][0]["band"] == "match"
    assert {e["field"] for e in body["candidates"][0]["explanation"]} >= {"name", "birth_date"}
    hubei = register_caller(committed_api, committed_context.engine, role="province", jurisdiction="42")
    hidden = committed_api.post("/v1/search", json=query, headers=hubei.headers).json()
    assert hidden["candidates"] == [] and hidden["outcome"] == "no_match"


def test_a_latin_name_is_stored_as_written_and_found_in_either_order(
    committed_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    foreign = {
        **CHILD,
        "name": "smith  john",
        "id_type": "passport",
        "id_number": "E12345678",
        "nationality": "GBR",
    }
    first = post_registration(committed_api, province, foreign, "as-written")
    assert first.status_code == 201, first.text
    with Session(committed_context.engine) as s:
        (person,) = s.execute(select(Person)).scalars().all()
        assert person.name == "SMITH JOHN"  # upper case, single spaces, the family's order
    again = post_registration(committed_api, province, {**foreign, "name": "John Smith"}, "reordered")
    assert again.status_code == 200, again.text
    assert again.json()["code"] == first.json()["code"]
