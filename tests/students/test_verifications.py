"""Partner verification over HTTP: each outcome, jurisdiction, nothing of the record disclosed, the
per-client rate limit and the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.idgen import service as idgen
from gateway.students.ratelimit import TokenBucketLimiter
from tests.fixtures.api import ApiCaller, MakeCaller
from tests.fixtures.students import Seeded, SeedStudent, merge_into


@pytest.fixture
def partner(make_caller: MakeCaller) -> ApiCaller:
    return make_caller(role="partner", jurisdiction="CN", scopes="verifications:write")


@pytest.fixture
def student(seed_student: SeedStudent) -> Seeded:
    return seed_student(name="张晓明", gender="1", born=date(2014, 3, 7))


def _verify(api: TestClient, caller: ApiCaller, **body: Any) -> dict[str, Any]:
    reply = api.post("/v1/verifications", json=body, headers=caller.headers)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def test_match_with_every_field(api: TestClient, partner: ApiCaller, student: Seeded) -> None:
    body = _verify(
        api,
        partner,
        code=student.code,
        name="张晓明",
        birth_date="2014年3月7日",
        gender="男",
        id_number=student.id_number,
    )
    assert body == {
        "code": student.code,
        "outcome": "match",
        "flags": {
            "name": "consistent",
            "birth_date": "consistent",
            "gender": "consistent",
            "id_number": "consistent",
        },
    }


def test_match_with_only_the_required_fields(api: TestClient, partner: ApiCaller, student: Seeded) -> None:
    body = _verify(api, partner, code=student.code.lower(), name="张晓明", birth_date="2014-03-07")
    assert body["outcome"] == "match"
    assert body["flags"]["gender"] == body["flags"]["id_number"] == "not_provided"


def test_linked_match_for_the_old_code_after_promotion(
    api: TestClient, session: Session, partner: ApiCaller, student: Seeded
) -> None:
    promoted = idgen.promote_code(session, student.code, target="J", actor="test", reason="no_id_number")
    session.commit()
    old = _verify(api, partner, code=student.code, name="张晓明", birth_date="2014-03-07", gender="1")
    assert old["outcome"] == "linked_match"
    assert promoted.new_code not in str(old)  # the current code is not disclosed
    assert (
        _verify(api, partner, code=promoted.new_code, name="张晓明", birth_date="2014-03-07")["outcome"]
        == "match"
    )


def test_linked_match_for_a_merged_away_code(
    api: TestClient, session: Session, partner: ApiCaller, seed_student: SeedStudent, student: Seeded
) -> None:
    duplicate = seed_student(name="张晓明")
    merge_into(session, student.person, duplicate.person)
    body = _verify(api, partner, code=duplicate.code, name="张晓明", birth_date="2014-03-07")
    assert body["outcome"] == "linked_match" and student.code not in str(body)


@pytest.mark.parametrize(
    ("name", "birth_date", "flags"),
    [
        ("张小明", "2014-03-07", ("similar", "consistent")),  # homophone typing error
        ("张晓明", "2014-03-08", ("consistent", "similar")),  # one-day slip
        ("张晓明", "2014-07-03", ("consistent", "similar")),  # day and month swapped
    ],
)
def test_similar_match(
    api: TestClient, partner: ApiCaller, student: Seeded, name: str, birth_date: str, flags: tuple[str, str]
) -> None:
    body = _verify(api, partner, code=student.code, name=name, birth_date=birth_date, gender="1")
    assert body["outcome"] == "similar_match"
    assert (body["flags"]["name"], body["flags"]["birth_date"]) == flags


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "李晓明"}, "name"),
        ({"birth_date": "2015-03-07"}, "birth_date"),
        ({"gender": "女"}, "gender"),
        ({"id_number": "110101201403071234"}, "id_number"),
    ],
)
def test_no_match(
    api: TestClient, partner: ApiCaller, student: Seeded, changes: dict[str, str], field: str
) -> None:
    body = {"code": student.code, "name": "张小明", "birth_date": "2014-03-07", "gender": "1", **changes}
    result = _verify(api, partner, **body)
    assert result["outcome"] == "no_match"
    assert result["flags"][field] == "inconsistent"


def test_an_id_number_the_registry_does_not_hold_is_no_match(
    api: TestClient, partner: ApiCaller, seed_student: SeedStudent
) -> None:
    code = seed_student(id_number=None).code
    body = _verify(
        api, partner, code=code, name="张晓明", birth_date="2014-03-07", id_number="41010220140307123X"
    )
    assert body["outcome"] == "no_match" and body["flags"]["id_number"] == "inconsistent"


def test_code_not_found_for_an_unknown_code_or_outside_the_jurisdiction(
    api: TestClient, make_caller: MakeCaller, partner: ApiCaller, student: Seeded
) -> None:
    unknown = "L41010220140307" + ("0000" if not student.code.endswith("0000") else "0001")
    for code in (unknown, "not a code"):
        body = _verify(api, partner, code=code, name="张晓明", birth_date="2014-03-07")
        assert body == {"code": code, "outcome": "code_not_found", "flags": None}
    regional = make_caller(role="partner", jurisdiction="42", scopes="verifications:write")
    body = _verify(api, regional, code=student.code, name="张晓明", birth_date="2014-03-07")
    assert body["outcome"] == "code_not_found"
    inside = make_caller(role="partner", jurisdiction="41", scopes="verifications:write")
    assert (
        _verify(api, inside, code=student.code, name="张晓明", birth_date="2014-03-07")["outcome"] == "match"
    )


def test_nothing_of_the_record_is_disclosed(api: TestClient, partner: ApiCaller, student: Seeded) -> None:
    reply = api.post(
        "/v1/verifications",
        json={"code": student.code, "name": "李四", "birth_date": "2015-01-01"},
        headers=partner.headers,
    )
    assert set(reply.json()) == {"code", "outcome", "flags"}
    assert student.id_number is not None
    for secret in ("张晓明", "2014-03-07", student.id_number, student.id_number[-4:], "4101020001"):
        assert secret not in reply.text


def test_authorisation_and_input_validation(
    api: TestClient, make_caller: MakeCaller, partner: ApiCaller, student: Seeded
) -> None:
    body = {"code": student.code, "name": "张晓明", "birth_date": "2014-03-07"}
    assert api.post("/v1/verifications", json=body).status_code == 401
    reader = make_caller(role="county", jurisdiction="410102", scopes="students:read")
    assert api.post("/v1/verifications", json=body, headers=reader.headers).status_code == 403
    bad = api.post(
        "/v1/verifications",
        json={**body, "name": "12345", "birth_date": "2014-02-30", "gender": "x"},
        headers=partner.headers,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "birth_date", "gender"}
    missing = api.post("/v1/verifications", json={"code": student.code}, headers=partner.headers)
    assert missing.status_code == 422 and {e["field"] for e in missing.json()["errors"]} == {
        "name",
        "birth_date",
    }


def test_each_verification_is_audited_with_its_outcome(
    api: TestClient, session: Session, partner: ApiCaller, student: Seeded
) -> None:
    assert student.id_number is not None
    _verify(
        api, partner, code=student.code, name="张晓明", birth_date="2014-03-07", purpose="student aid 2026"
    )
    _verify(api, partner, code=student.code, name="李四", birth_date="2014-03-07")
    _verify(
        api, partner, code=student.id_number, name="张晓明", birth_date="2014-03-07"
    )  # an ID pasted as a code
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.action == "verification.partner").order_by(col(AuditEvent.id))
    ).all()
    assert [(r.client_id, r.outcome) for r in rows] == [
        (partner.client_id, "match"),
        (partner.client_id, "no_match"),
        (partner.client_id, "code_not_found"),
    ]
    assert rows[0].object_ref == student.code and rows[0].purpose == "student aid 2026"
    assert rows[2].object_ref is not None and student.id_number not in rows[2].object_ref


def test_rate_limit_per_client(
    api: TestClient, make_caller: MakeCaller, partner: ApiCaller, student: Seeded
) -> None:
    api.app.state.ctx.services.verification_limiter = TokenBucketLimiter(burst=2, rate_per_second=0.01)  # type: ignore[attr-defined]
    body = {"code": student.code, "name": "张晓明", "birth_date": "2014-03-07"}
    assert [
        api.post("/v1/verifications", json=body, headers=partner.headers).status_code for _ in range(2)
    ] == [
        200,
        200,
    ]
    refused = api.post("/v1/verifications", json=body, headers=partner.headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    other = make_caller(role="partner", jurisdiction="CN", scopes="verifications:write")
    assert api.post("/v1/verifications", json=body, headers=other.headers).status_code == 200
