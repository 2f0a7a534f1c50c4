"""GET /v1/audit: central callers read the trail; nobody can change it through the API."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.errors import InvalidInput
from gateway.registry.service import new_person
from tests.fixtures.api import MakeCaller
from tests.fixtures.staff import add_staff


def test_central_auditor_reads_the_trail_filtered(
    api: TestClient, session: Session, make_caller: MakeCaller
) -> None:
    person = new_person(
        session, region="410102", school_code=None, birth_date=date(2016, 5, 4), actor="seed"
    )[0]
    session.commit()
    county = make_caller(role="county", jurisdiction="410102", scopes="codes:read")
    li = add_staff(session, county.client_id, "county_reviewer")
    api.get(f"/v1/codes/{person.current_code}", headers=li.headers(county))
    auditor = make_caller(role="central", jurisdiction="CN", scopes="audit:read")
    page = api.get("/v1/audit", params={"object_ref": person.current_code}, headers=auditor.headers).json()
    assert [(r["action"], r["client_id"], r["acting_user"]) for r in page["items"]] == [
        ("code.resolve", county.client_id, li.staff_id)
    ]
    own = api.get("/v1/audit", params={"action": "audit.read"}, headers=auditor.headers).json()["items"]
    assert own and own[0]["client_id"] == auditor.client_id


def test_only_whole_country_callers_and_no_changes(api: TestClient, make_caller: MakeCaller) -> None:
    # A province may not even hold the scope (the role ceiling); with every scope it has, still 403.
    with pytest.raises(InvalidInput):
        make_caller(role="province", jurisdiction="41", scopes="audit:read")
    province = make_caller(role="province", jurisdiction="41", scopes="all")
    assert api.get("/v1/audit", headers=province.headers).status_code == 403
    auditor = make_caller(role="central", jurisdiction="CN", scopes="audit:read")
    for method in ("put", "patch", "delete", "post"):
        assert getattr(api, method)("/v1/audit", headers=auditor.headers).status_code == 405
