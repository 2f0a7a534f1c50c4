"""The school register over HTTP: a caller reads the schools of its jurisdiction, and nothing else."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.api import MakeCaller


def test_a_caller_sees_the_schools_of_its_jurisdiction(
    api: TestClient, make_caller: MakeCaller, school_register: object
) -> None:
    county = make_caller(role="county", jurisdiction="410105", scopes="schools:read")
    page = api.get("/v1/schools", headers=county.headers)
    assert page.status_code == 200, page.text
    schools = page.json()["schools"]
    assert [s["school_code"] for s in schools] == ["4101050001", "4101050002", "4101050003", "4101050004"]
    senior = schools[2]
    assert (senior["type"], senior["levels"], senior["grades"]) == ("senior", ["senior"], [10, 11, 12])
    assert page.json()["next_after"] is None
    assert api.get("/v1/schools/4101050003", headers=county.headers).json()["name"] == "郑州市第一中学"
    # Another county's school answers exactly as a school never registered.
    outside = api.get("/v1/schools/4101020001", headers=county.headers)
    never = api.get("/v1/schools/4101050099", headers=county.headers)
    assert outside.status_code == never.status_code == 404
    assert outside.json()["detail"] == never.json()["detail"]


def test_pages_and_a_school_sees_itself_only(
    api: TestClient, make_caller: MakeCaller, school_register: object
) -> None:
    province = make_caller(role="province", jurisdiction="41", scopes="schools:read")
    first = api.get("/v1/schools?limit=3", headers=province.headers).json()
    assert len(first["schools"]) == 3 and first["next_after"] == "4101020003"
    rest = api.get(f"/v1/schools?after={first['next_after']}&limit=100", headers=province.headers).json()
    codes = [s["school_code"] for s in first["schools"] + rest["schools"]]
    assert codes == sorted(codes) and all(c.startswith("41") for c in codes) and len(codes) == 11
    school = make_caller(role="school", jurisdiction="4101020002", scopes="schools:read")
    mine = api.get("/v1/schools", headers=school.headers).json()["schools"]
    assert [s["school_code"] for s in mine] == ["4101020002"]
    assert api.get("/v1/schools?after=abc", headers=school.headers).status_code == 422
    partner = make_caller(role="partner", jurisdiction="41", scopes="verifications:write")
    assert api.get("/v1/schools", headers=partner.headers).status_code == 403
    assert api.get("/v1/schools").status_code == 401
