"""Two jurisdictions, one child: registration, corrections and reviews never hand one province's child
to another (workflows.md, "Two jurisdictions, one child").

Each test is a case that worked on the code before the role ceiling and the held-elsewhere outcome:
a registration that answered another province's child with their G code (an ID-number oracle), a
correction that told whether a number was held, a review page that showed the other child in full
and a merge that took them, a partner that read records with ``--scopes all``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.context import AppContext
from gateway.persons.models import Person
from gateway.registry.models import ProblemRecord
from gateway.reports.service import current_month
from mocks.population import Population
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.registrations import citizen, register
from tests.registry.people import citizens, registration_body

EVIDENCE = {"reason": "number mistyped at enrolment", "evidence_ref": "booklet scan 2026-7"}


def _two_provinces(population: Population) -> tuple[Any, Any, Any]:
    """A child of one province, and two children of another (their province's own students)."""
    people = citizens(population)
    home = people[0].household_region[:2]
    away = [p for p in people if p.household_region[:2] != home]
    same = [p for p in away[1:] if p.household_region[:2] == away[0].household_region[:2]]
    return people[0], away[0], same[0]


def _province(api: TestClient, context: AppContext, prefix: str) -> ApiCaller:
    return register_caller(api, context.engine, role="province", jurisdiction=prefix)


def assert_discloses_nothing_of(
    body: Any, person: Any, code: str | None = None, *, names: bool = True
) -> None:
    """Neither the ID number (in clear or inside a G code), the school, nor (``names``) the name and
    guardian (a registrant may see back the name it typed itself)."""
    text = json.dumps(body, ensure_ascii=False)
    assert person.id_number not in text, text
    if names:
        assert person.name not in text and (person.guardian_name or "\x00") not in text, text
    assert f"{person.household_region}0001" not in text, text
    if code is not None:
        assert code not in text, text


def _registered(api: TestClient, caller: ApiCaller, person: Any, key: str) -> str:
    answer = register(api, caller, registration_body(person), key)
    assert answer["outcome"] == "issued" and answer["code"] == "G" + person.id_number, answer
    return str(answer["code"])


def test_registering_another_provinces_child_answers_held_elsewhere_never_their_code(
    verified_api: TestClient, verified_context: AppContext, population: Population
) -> None:
    child, _, _ = _two_provinces(population)
    home = _province(verified_api, verified_context, child.household_region[:2])
    code = _registered(verified_api, home, child, "home-1")
    other_prefix = "45" if child.household_region[:2] != "45" else "41"
    other = _province(verified_api, verified_context, other_prefix)
    school = {"school_code": f"{other_prefix}01020001", "school_region": f"{other_prefix}0102"}
    by_demographics = {**registration_body(child), **school, "id_type": "none"}
    by_demographics.pop("id_number")
    with_number = {**registration_body(child), **school}
    for key, body in (("away-1", by_demographics), ("away-2", with_number)):
        reply = verified_api.post(
            "/v1/registrations", json=body, headers={**other.headers, "Idempotency-Key": key}
        )
        assert reply.status_code == 409, reply.text
        answer = reply.json()
        assert answer["outcome"] == "held_elsewhere" and answer["problem_type"] == "duplicate_enrolment"
        assert answer["held_in_provinces"] == [child.household_region[:2]]
        assert_discloses_nothing_of(answer, child, code)
        # The answer is replayed, never a second problem record.
        again = verified_api.post(
            "/v1/registrations", json=body, headers={**other.headers, "Idempotency-Key": key}
        )
        assert again.status_code == 409 and again.json() == answer
    with Session(verified_context.engine) as s:
        persons = s.exec(select(Person)).all()
        problems = s.exec(select(ProblemRecord)).all()
    assert len(persons) == 1  # nothing registered in the other province
    assert [p.type for p in problems] == ["duplicate_enrolment", "duplicate_enrolment"]

    # Both sides see the case: the holder its child in full (numbers masked) and the other school
    # only as a province; the registrant the child only as province, code type and match grade.
    problem_id = problems[0].id
    mine = verified_api.get(f"/v1/reviews/{problem_id}", headers=home.headers).json()
    assert mine["submitted"] is None and mine["school_code"] is None and mine["region"] == other_prefix
    [held] = mine["candidates"]
    assert held["masked"] is False and held["name"] == child.name and held["code"] != code
    theirs = verified_api.get(f"/v1/reviews/{problem_id}", headers=other.headers).json()
    [hidden] = theirs["candidates"]
    assert hidden["masked"] is True and hidden["region"] == child.household_region[:2]
    assert hidden["code_type"] == "G" and hidden["match_grade"] in ("certain", "probable")
    assert hidden["name"] is None and hidden["guardian_name"] is None and hidden["person_id"] is None
    assert_discloses_nothing_of(theirs, child, code, names=False)
    queue = verified_api.get("/v1/reviews?type=duplicate_enrolment", headers=home.headers).json()
    assert {item["id"] for item in queue["items"]} == {p.id for p in problems}
    # The monthly return names both sides: the province that registered the child again (twice,
    # two records) and the province holding them.
    ministry_reports = register_caller(
        verified_api, verified_context.engine, role="central", jurisdiction="CN", scopes="reports:read"
    )
    report = verified_api.get(
        f"/v1/reports/progress?month={current_month()}&region=CN", headers=ministry_reports.headers
    ).json()
    by_region = {row["region"]: row for row in report["regions"]}
    assert by_region[other_prefix]["duplicate_enrolments_filed"] == 2
    assert by_region[child.household_region[:2]]["duplicate_enrolments_held"] == 2
    assert report["total"]["duplicate_enrolments_held"] == 2
    # Neither side alone may decide a case that spans two provinces; the ministry's reviewer may.
    for side in (home, other):
        refused = verified_api.post(
            f"/v1/reviews/{problem_id}/decision", json={"decision": "same_person"}, headers=side.headers
        )
        assert refused.status_code == 403, refused.text
    ministry = register_caller(verified_api, verified_context.engine, role="reviewer", jurisdiction="CN")
    decided = verified_api.post(
        f"/v1/reviews/{problem_id}/decision",
        json={"decision": "same_person", "note": "one child: the family applies for a transfer"},
        headers=ministry.headers,
    )
    assert decided.status_code == 200 and decided.json()["status"] == "resolved", decided.text


def _correct(api: TestClient, caller: ApiCaller, code: str, number: str, key: str) -> Any:
    return api.post(
        f"/v1/students/{code}/corrections",
        json={"changes": {"id_number": number}, **EVIDENCE},
        headers={**caller.headers, "Idempotency-Key": key},
    )


def _shape(reply: Any) -> tuple[int, str, str | None, list[str], bool]:
    body = reply.json()
    return (
        reply.status_code,
        body["outcome"],
        body.get("verification"),
        body["changed_fields"],
        "problem_id" in body,
    )


def test_a_correction_to_a_number_held_elsewhere_answers_as_one_held_by_nobody(
    verified_api: TestClient, verified_context: AppContext, population: Population
) -> None:
    child, mine_a, mine_b = _two_provinces(population)
    home = _province(verified_api, verified_context, child.household_region[:2])
    held_code = _registered(verified_api, home, child, "home-1")
    assert mine_a.household_region[:2] == mine_b.household_region[:2]
    other = _province(verified_api, verified_context, mine_a.household_region[:2])
    code_a = _registered(verified_api, other, mine_a, "away-a")
    code_b = _registered(verified_api, other, mine_b, "away-b")
    # A valid number that nobody holds, of the same birth date and gender as the held one.
    base = child.id_number[:14] + ("1" if child.id_number[14] != "1" else "2") + child.id_number[15:17]
    free = citizen(base)
    held_reply = _correct(verified_api, other, code_a, child.id_number, "c-held")
    free_reply = _correct(verified_api, other, code_b, free, "c-free")
    assert _shape(held_reply) == _shape(free_reply), (held_reply.text, free_reply.text)
    assert_discloses_nothing_of(held_reply.json(), child, held_code)

    # The conflict is kept in view, decided neither by the corrector nor taking the child away.
    with Session(verified_context.engine) as s:
        problem = s.exec(select(ProblemRecord).where(ProblemRecord.type == "duplicate_id")).one()
    detail = verified_api.get(f"/v1/reviews/{problem.id}", headers=other.headers)
    assert detail.status_code == 200
    assert_discloses_nothing_of(detail.json(), child, held_code)
    assert [c["masked"] for c in detail.json()["candidates"]] == [True]
    people = {
        p["masked"]: p for p in [detail.json()["subject"], *detail.json()["candidates"]] if p is not None
    }
    assert people[False]["name"] == mine_a.name
    merge = verified_api.post(
        f"/v1/reviews/{problem.id}/decision",
        json={"decision": "same_person", "survivor_id": people[False]["person_id"]},
        headers=other.headers,
    )
    assert merge.status_code == 403, merge.text
    still = verified_api.get(f"/v1/students/{held_code}", headers=home.headers)
    assert still.status_code == 200 and still.json()["school_code"] == f"{child.household_region}0001"


def test_a_partner_with_all_scopes_can_check_but_never_read(
    verified_api: TestClient, verified_context: AppContext, population: Population
) -> None:
    child = citizens(population)[0]
    home = _province(verified_api, verified_context, child.household_region[:2])
    code = _registered(verified_api, home, child, "home-1")
    partner = register_caller(verified_api, verified_context.engine, role="partner", jurisdiction="CN")
    headers = partner.headers
    assert verified_api.get(f"/v1/students/{code}", headers=headers).status_code == 403
    assert verified_api.get(f"/v1/codes/{code}", headers=headers).status_code == 403
    search = verified_api.post("/v1/search", json=registration_body(child), headers=headers)
    assert search.status_code == 403
    assert verified_api.get("/v1/audit", headers=headers).status_code == 403
    checked = verified_api.post(
        "/v1/verifications",
        json={"code": code, "name": child.name, "birth_date": child.birth_date.isoformat()},
        headers=headers,
    )
    assert checked.status_code == 200, checked.text
    # Only the code the partner sent comes back; no other number.
    assert not re.search(r"\d{17}[\dX]", checked.text.replace(code, "")), checked.text
    assert verified_api.post("/v1/codes/validate", json={"code": code}, headers=headers).status_code == 200
