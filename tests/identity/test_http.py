"""POST /v1/identity/normalize through the whole app: auth, problem+json, nothing stored."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.api import MakeCaller


def test_normalize_through_the_app(api: TestClient, make_caller: MakeCaller) -> None:
    body = {"name": "張 小涵", "gender": "女", "birth_date": "2015年3月7日", "id_type": "none"}
    assert api.post("/v1/identity/normalize", json=body).status_code == 401
    school = make_caller(role="school", jurisdiction="4101020001", scopes="identity:normalize")
    reply = api.post("/v1/identity/normalize", json=body, headers=school.headers)
    assert reply.status_code == 200, reply.text
    record = reply.json()["record"]
    assert (record["name"], record["gender"], record["birth_date"]) == ("张小涵", "2", "2015-03-07")


def test_bad_record_is_problem_json_naming_the_fields(api: TestClient, make_caller: MakeCaller) -> None:
    school = make_caller(role="school", jurisdiction="4101020001", scopes="identity:normalize")
    reply = api.post(
        "/v1/identity/normalize",
        json={
            "name": "<script>",
            "gender": "x",
            "birth_date": "2015-02-30",
            "id_type": "resident_id",
            "id_number": "110105194912310021",
        },
        headers=school.headers,
    )
    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in reply.json()["errors"]}
    assert {"gender", "birth_date", "id_number"} <= fields
    assert "110105194912310021" not in reply.text
