"""The code endpoints over HTTP, and the authorisation matrix every personal-data route follows."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.idgen import formats, service
from gateway.registry.service import new_person
from tests.fixtures.api import MakeCaller
from tests.fixtures.staff import add_staff


def _person_in(session: Session, region: str, school: str | None = None) -> str:
    person = new_person(
        session, region=region, school_code=school, birth_date=date(2016, 5, 4), actor="seed"
    )[0]
    session.commit()
    return person.current_code


def test_validate_reports_type_and_errors(api: TestClient, make_caller: MakeCaller) -> None:
    caller = make_caller(role="partner", jurisdiction="CN", scopes="codes:validate")
    good = formats.build_j_code("410102", date(2015, 3, 7), 12)
    reply = api.post("/v1/codes/validate", json={"code": good}, headers=caller.headers)
    assert reply.json() == {"valid": True, "type": "J", "errors": []}
    typo = good[:5] + good[6] + good[5] + good[7:]
    bad = api.post("/v1/codes/validate", json={"code": typo}, headers=caller.headers).json()
    assert bad["valid"] is False and bad["type"] == "J" and bad["errors"]


def test_validate_refuses_a_missing_or_oversized_field(api: TestClient, make_caller: MakeCaller) -> None:
    caller = make_caller(scopes="codes:validate")
    missing = api.post("/v1/codes/validate", json={}, headers=caller.headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "code"
    huge = api.post("/v1/codes/validate", json={"code": "L" * 10_000}, headers=caller.headers)
    assert huge.status_code == 422
    not_json = api.post(
        "/v1/codes/validate", content=b"{oops", headers={**caller.headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 422


def test_resolve_old_code_after_promotion(api: TestClient, session: Session, make_caller: MakeCaller) -> None:
    l_code = _person_in(session, "410102")
    promoted = service.promote_code(session, l_code, target="J", actor="verifier", reason="no_id_number")
    session.commit()
    caller = make_caller(role="county", jurisdiction="410102", scopes="codes:read")
    body = api.get(f"/v1/codes/{l_code.lower()}", headers=caller.headers).json()
    assert body["current_code"] == promoted.new_code and body["code_status"] == "superseded"
    assert body["lineage"][0]["old_code"] == l_code and body["lineage"][0]["reason"] == "no_id_number"


def test_authorisation_matrix(api: TestClient, session: Session, make_caller: MakeCaller) -> None:
    code = _person_in(session, "410102", "4101020001")
    url = f"/v1/codes/{code}"
    assert api.get(url).status_code == 401  # no token
    no_scope = make_caller(role="county", jurisdiction="410102", scopes="search:read")
    assert api.get(url, headers=no_scope.headers).status_code == 403  # scope not held
    expectations = {
        ("central", "CN"): 200,
        ("province", "41"): 200,
        ("city", "4101"): 200,
        ("county", "410102"): 200,
        ("school", "4101020001"): 200,
        ("province", "42"): 404,
        ("city", "4102"): 404,
        ("county", "410103"): 404,
        ("school", "4101020002"): 404,
    }
    for (role, jurisdiction), status in expectations.items():
        caller = make_caller(role=role, jurisdiction=jurisdiction, scopes="codes:read")
        assert api.get(url, headers=caller.headers).status_code == status, (role, jurisdiction)
    # Outside the jurisdiction looks exactly like a code that was never issued.
    outsider = make_caller(role="province", jurisdiction="42", scopes="codes:read")
    never = "L" + "410102" + "20160504" + "0000"
    if never == code:
        never = never[:-1] + "1"
    a = api.get(url, headers=outsider.headers).json()
    b = api.get(f"/v1/codes/{never}", headers=outsider.headers).json()
    assert (a["status"], a["detail"]) == (b["status"], b["detail"])


# Header bytes arrive decoded as Latin-1: "st_\u00aa" sent as UTF-8 reads "st_\u00c2\u00aa".
@pytest.mark.parametrize("named", ["st_\u00aa", "li.reviewer", "st_" + "a" * 13, "st_0123456789aB", "x<y"])
def test_a_staff_id_out_of_shape_is_refused(
    api: TestClient, session: Session, make_caller: MakeCaller, named: str
) -> None:
    code = _person_in(session, "410102")
    caller = make_caller(role="county", jurisdiction="410102", scopes="codes:read")
    headers = {**caller.headers, "X-Staff-Id": named.encode()}
    reply = api.get(f"/v1/codes/{code}", headers=headers)  # type: ignore[arg-type]
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["X-Staff-Id"]


def test_each_disclosure_is_audited_with_the_acting_person(
    api: TestClient, session: Session, make_caller: MakeCaller
) -> None:
    code = _person_in(session, "410102")
    caller = make_caller(role="county", jurisdiction="410102", scopes="codes:read")
    zhang = add_staff(session, caller.client_id, "county_reviewer")
    assert api.get(f"/v1/codes/{code}", headers=zhang.headers(caller)).status_code == 200
    outsider = make_caller(role="province", jurisdiction="42", scopes="codes:read")
    assert api.get(f"/v1/codes/{code}", headers=outsider.headers).status_code == 404
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.action == "code.resolve").order_by(col(AuditEvent.id))
    ).all()
    assert [(r.client_id, r.acting_user, r.object_ref, r.role) for r in rows] == [
        (caller.client_id, zhang.staff_id, code, "county")
    ]
