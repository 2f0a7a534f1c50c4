"""The register checked where a school is named: registrations, status changes that put a student
in a school or a grade, a school's claim at enrolment and a transfer application. Each refusal is a
422 naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.context import AppContext
from gateway.persons.models import Person
from tests.fixtures.api import MakeCaller
from tests.fixtures.handoff import BASIS, MakeParty, cohort, hand_over
from tests.fixtures.registrations import CHILD, post_registration
from tests.fixtures.schools import load_register, register_text
from tests.fixtures.students import SeedStudent

CLOSED = "4101020009,已撤并小学,410102,primary,,,false"


def _refused(reply: Any) -> list[tuple[str, str]]:
    assert reply.status_code == 422, reply.text
    return [(e["field"], e["code"]) for e in reply.json()["errors"]]


def test_a_registration_names_a_school_the_register_knows_teaching_its_grade(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    api = handoff_api  # over the tests' register
    load_register(committed_context.engine, register_text(CLOSED))
    province = party("province", "41", "registrations:write students:read")
    unknown = {**CHILD, "school_code": "4101020077"}
    assert _refused(post_registration(api, province, unknown, "r1")) == [("school_code", "unknown_school")]
    closed = {**CHILD, "school_code": "4101020009"}
    assert _refused(post_registration(api, province, closed, "r2")) == [("school_code", "inactive_school")]
    too_old = {**CHILD, "grade": 7}  # 4101020001 is a primary school
    reply = post_registration(api, province, too_old, "r3")
    assert _refused(reply) == [("grade", "grade_not_offered")]
    assert "grades 1-6" in reply.text
    assert _refused(post_registration(api, province, {**CHILD, "grade": "13"}, "r4")) == [
        ("grade", "invalid")
    ]
    with Session(committed_context.engine) as session:  # nothing of the refused ones was written
        assert session.exec(select(Person)).first() is None
    issued = post_registration(api, province, {**CHILD, "grade": "3"}, "r5")
    assert issued.status_code == 201, issued.text
    student = api.get(f"/v1/students/{issued.json()['code']}", headers=province.headers).json()
    assert (student["school_code"], student["grade"]) == ("4101020001", 3)


def test_status_changes_put_students_only_where_the_register_allows(
    api: TestClient,
    session: Session,
    make_caller: MakeCaller,
    seed_student: SeedStudent,
) -> None:
    code = seed_student().code  # registered at 4101020001 (primary), region 410102
    county = make_caller(role="county", jurisdiction="410102", scopes="students:read students:write")

    def event(body: dict[str, Any]) -> Any:
        return api.post(f"/v1/students/{code}/events", json=body, headers=county.headers)

    enrol = {"event": "enrolled", "effective_date": "2020-09-01"}
    elsewhere = {**enrol, "school_code": "4101020077", "school_region": "410102"}
    assert _refused(event(elsewhere)) == [("school_code", "unknown_school")]
    assert _refused(event({**enrol, "grade": 8})) == [("grade", "grade_not_offered")]
    assert _refused(event({"event": "suspended", "effective_date": "2020-09-01", "grade": 2})) == [
        ("grade", "not_allowed")
    ]
    # At the nine-year school of the same county, in grade 5: allowed; then promoted to 6.
    moved = event({**enrol, "school_code": "4101020002", "school_region": "410102", "grade": 5})
    assert moved.status_code == 201, moved.text
    assert moved.json()["grade"] == 5
    promoted = event({"event": "promoted", "effective_date": "2021-08-31"})
    assert promoted.status_code == 201 and promoted.json()["grade"] == 6
    student = api.get(f"/v1/students/{code}", headers=county.headers).json()
    assert (student["school_code"], student["grade"]) == ("4101020002", 6)


def test_a_school_claims_only_when_the_register_knows_it(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    children = cohort(2)
    preschool = party("registry", "41", "handoff:write handoff:read", stage="preschool")
    # Kindergartens are not in the school register: a preschool's handover is not checked against it.
    assert hand_over(handoff_api, preschool, children)["handed_over"] == 2
    scopes = "handoff:write handoff:read students:write students:read"
    claim = {"identity": children[0].identity(), "school_region": "410102"}
    unknown = party("school", "4101020077", scopes)
    reply = handoff_api.post("/v1/handoff/claims", json=claim, headers={**unknown.headers, **BASIS})
    assert _refused(reply) == [("school_code", "unknown_school")]
    wrong_region = party("school", "4101050001", scopes)
    reply = handoff_api.post("/v1/handoff/claims", json=claim, headers={**wrong_region.headers, **BASIS})
    assert _refused(reply) == [("school_region", "school_region_mismatch")]


def test_a_transfer_goes_only_to_a_school_teaching_the_students_grade(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    load_register(
        committed_context.engine,
        register_text(
            "4101020001,建设路小学,410102,primary,,,",
            "4201020003,江岸初级中学,420102,junior,,,",
            "4201020004,江岸小学,420102,primary,,,",
        ),
    )
    province = party("province", "41", "registrations:write students:write")
    child = cohort(1)[0]
    body = {**child.identity(), "school_code": "4101020001", "school_region": "410102", "grade": 3}
    registered = post_registration(handoff_api, province, body, "t1")
    assert registered.status_code == 201, registered.text
    code = registered.json()["code"]
    enrolled = handoff_api.post(
        f"/v1/students/{code}/events",
        json={"event": "enrolled", "effective_date": "2020-09-01"},
        headers=province.headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    application = {"code": code, "name": child.name, "birth_date": child.birth_date.isoformat()}

    def apply(school: str, region: str) -> Any:
        applicant = party("school", school, "transfers:write")
        return handoff_api.post(
            "/v1/transfers", json={**application, "school_region": region}, headers=applicant.headers
        )

    assert _refused(apply("4201020003", "420102")) == [("grade", "grade_not_offered")]
    assert _refused(apply("4201020004", "420103")) == [("school_region", "school_region_mismatch")]
    assert _refused(apply("4201020077", "420102")) == [("school_code", "unknown_school")]
    applied = apply("4201020004", "420102")
    assert applied.status_code == 201, applied.text
