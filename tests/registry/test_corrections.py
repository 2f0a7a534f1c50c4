"""Correcting a registered student's identity, against the live mock registers and a real database.

The story a school lives: a child registered with a mistyped ID number fails verification and keeps
a temporary code; the school corrects the number on evidence, the child is verified and promoted,
the wrong-ID problem record closes, the old number stops being theirs, and the change reaches the
feed, the audit trail and the correction history (which never shows the values).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.idgen.models import IssuedCode
from gateway.persons import identifiers
from gateway.persons.models import Person
from gateway.privacy import mask_code
from gateway.registry.models import ProblemRecord, RecordCorrection, VerificationJob
from mocks.population import Population
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.registrations import register
from tests.registry.people import (
    citizens,
    mistyped_id_number,
    registration_body,
    set_transfer_lock,
)

EVIDENCE = {
    "reason": "ID number mistyped at enrolment",
    "evidence_ref": "household booklet p.3, scan 2026-114",
}


def _correct(
    api: TestClient, caller: ApiCaller, code: str, changes: dict[str, Any], key: str, **extra: Any
) -> Any:
    return api.post(
        f"/v1/students/{code}/corrections",
        json={"changes": changes, **EVIDENCE, **extra},
        headers={**caller.headers, "Idempotency-Key": key},
    )


def test_correcting_a_mistyped_id_number_verifies_and_promotes_the_child(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, caller = verified_api, verified_registry
    child = citizens(population)[0]
    wrong = mistyped_id_number(child.id_number)
    registered = register(api, caller, {**registration_body(child), "id_number": wrong}, "r1")
    assert registered["verification"] == "failed" and registered["code"].startswith("L")
    temporary, wrong_id_problem = registered["code"], registered["problem_id"]

    reply = _correct(api, caller, temporary, {"id_number": child.id_number}, "c1")
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["outcome"] == "corrected" and answer["changed_fields"] == ["id_number"]
    assert answer["verification"] == "verified"
    assert answer["code"] == "G" + child.id_number and answer["promoted_from"] == temporary
    assert answer["closed_problem_ids"] == [wrong_id_problem]
    assert child.id_number not in reply.text.replace(answer["code"], "")  # the number itself is not echoed

    # The same key and body replay the answer; the same key with another body is refused.
    assert _correct(api, caller, temporary, {"id_number": child.id_number}, "c1").json() == answer
    assert _correct(api, caller, temporary, {"name": "某某"}, "c1").status_code == 409

    resolved = api.get(f"/v1/codes/{temporary}", headers=caller.headers).json()
    # Asked by the old code, the new G code is shown as its ID number is: masked.
    assert resolved["current_code"] == mask_code(answer["code"])
    with Session(verified_context.engine) as s:
        problem = s.get(ProblemRecord, wrong_id_problem)
        assert problem is not None and (problem.status, problem.decision) == ("resolved", "data_corrected")
        person = s.exec(select(Person)).one()
        assert person.verification_status == "verified" and person.id_number_masked == (
            child.id_number[:6] + "********" + child.id_number[-4:]
        )
        held = identifiers.identifiers_of(
            s, verified_context.keyring, int(person.id or 0), include_ended=True
        )
        assert [(i.value, i.valid_to is None) for i in held] == [(wrong, False), (child.id_number, True)]
        assert identifiers.find_holders(s, verified_context.keyring, "resident_id", wrong) == []
        actions = s.exec(select(AuditEvent.action).where(AuditEvent.action == "student.correct")).all()
        assert len(actions) == 1  # the replay wrote nothing more

    history = api.get(f"/v1/students/{temporary}/corrections", headers=caller.headers)
    assert history.status_code == 200
    (entry,) = history.json()["corrections"]
    assert entry["changed_fields"] == ["id_number"] and entry["reason"] == EVIDENCE["reason"]
    assert entry["code"] == temporary and entry["corrected_by"] == caller.client_id
    # Stored as UTC and said so, on SQLite too (a time without offset would be read as Beijing time).
    assert datetime.fromisoformat(entry["corrected_at"]).utcoffset() == timedelta(0)
    shown = history.text.replace(answer["code"], "")  # a G code carries the number by design
    assert wrong not in shown and child.id_number not in shown

    feed = api.get("/v1/feed", params={"since": 0}, headers=caller.headers).json()
    corrected = [e for e in feed["events"] if e["type"] == "record.corrected"]
    assert len(corrected) == 1 and corrected[0]["code"] == temporary


def test_a_misspelt_name_of_a_g_student_is_verified_again_and_the_code_stays(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, caller = verified_api, verified_registry
    child = citizens(population)[1]
    misspelt = child.name[:-1] + ("明" if child.name[-1] != "明" else "亮")
    registered = register(api, caller, {**registration_body(child), "name": misspelt}, "r2")
    # The register disagrees with the name: a wrong-ID problem, the code stays temporary.
    assert registered["verification"] == "failed"
    fixed = _correct(api, caller, registered["code"], {"name": child.name}, "c2").json()
    assert fixed["verification"] == "verified" and fixed["code"] == "G" + child.id_number
    # Corrected again later (a guardian's name, say): a G code is never recomputed or re-issued.
    later = _correct(api, caller, fixed["code"], {"guardian_name": "王建国"}, "c3").json()
    assert later["outcome"] == "corrected" and later["code"] == fixed["code"]
    assert "verification" not in later  # the systems do not vouch for a guardian's name
    unchanged = _correct(api, caller, fixed["code"], {"guardian_name": "王建国"}, "c4").json()
    assert unchanged == {"outcome": "unchanged", "code": fixed["code"], "changed_fields": []}
    # The search now finds the child under the corrected name.
    found = api.post("/v1/search", json=registration_body(child), headers=caller.headers).json()
    assert found["candidates"][0]["code"] == fixed["code"]
    with Session(verified_context.engine) as s:
        assert len(s.exec(select(RecordCorrection)).all()) == 2


def test_a_corrected_number_another_person_holds_changes_nothing_and_opens_a_review(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, caller = verified_api, verified_registry
    first, second = citizens(population)[2:4]
    holder = register(api, caller, registration_body(first), "r3")
    other = register(api, caller, registration_body(second), "r4")
    reply = _correct(api, caller, other["code"], {"id_number": first.id_number}, "c5")
    assert reply.status_code == 202, reply.text
    answer = reply.json()
    assert answer["outcome"] == "review_required" and answer["problem_type"] == "duplicate_id"
    with Session(verified_context.engine) as s:
        problem = s.get(ProblemRecord, answer["problem_id"])
        people = {p.current_code: p for p in s.exec(select(Person)).all()}
        assert problem is not None and problem.subject_person_id == people[other["code"]].id
        assert problem.candidate_person_ids == str(people[holder["code"]].id)
        assert (
            people[other["code"]].id_number_masked
            == second.id_number[:6] + "********" + second.id_number[-4:]
        )
        assert s.exec(select(RecordCorrection)).all() == []


def test_a_correction_that_makes_the_record_resemble_someone_else_opens_a_possible_duplicate(
    verified_api: TestClient, verified_registry: ApiCaller, verified_context: AppContext
) -> None:
    api, caller = verified_api, verified_registry
    base = {
        "gender": "2",
        "id_type": "none",
        "household_region": "410102",
        "school_region": "410102",
        "school_code": "4101020001",
    }
    one = register(
        api, caller, {**base, "name": "欧阳晓梅", "birth_date": "2016-05-04", "guardian_name": "欧阳军"}, "r5"
    )
    two = register(
        api, caller, {**base, "name": "李秀英", "birth_date": "2015-01-09", "guardian_name": "李强"}, "r6"
    )
    assert one["outcome"] == two["outcome"] == "issued"
    changes = {"name": "欧阳晓梅", "birth_date": "2016-05-04", "guardian_name": "欧阳军"}
    answer = _correct(api, caller, two["code"], changes, "c6").json()
    assert answer["outcome"] == "corrected" and answer["problem_type"] == "possible_duplicate"
    with Session(verified_context.engine) as s:
        problem = s.get(ProblemRecord, answer["problem_id"])
        person_one = s.exec(select(Person).where(Person.current_code == one["code"])).one()
        assert problem is not None and problem.candidate_person_ids == str(person_one.id)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"changes": {"birth_date": "2016-02-30"}, **EVIDENCE}, "changes.birth_date", None),
        ({"changes": {"colour": "blue"}, **EVIDENCE}, "changes.colour", "extra_forbidden"),
        ({"changes": {}, **EVIDENCE}, "changes", "empty"),
        ({"changes": {"name": None}, **EVIDENCE}, "changes.name", None),
        ({"changes": {"gender": "X"}, **EVIDENCE}, "changes.gender", None),
        ({"changes": {"id_number": "11010120150101"}, **EVIDENCE}, "changes.id_number", None),
        ({"changes": {"name": "王小明"}, "evidence_ref": "x"}, "reason", "missing"),
        ({"changes": {"name": "王小明"}, "reason": "typo", "evidence_ref": ""}, "evidence_ref", None),
    ],
)
def test_bad_corrections_name_the_field_and_change_nothing(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
    body: dict[str, Any],
    field: str,
    code: str | None,
) -> None:
    api, caller = verified_api, verified_registry
    registered = register(api, caller, registration_body(citizens(population)[4]), "r7")
    reply = api.post(
        f"/v1/students/{registered['code']}/corrections",
        json=body,
        headers={**caller.headers, "Idempotency-Key": "bad"},
    )
    assert reply.status_code == 422, reply.text
    errors = reply.json()["errors"]
    assert field in {e["field"] for e in errors}, errors
    if code is not None:
        assert code in {e["code"] for e in errors if e["field"] == field}
    with Session(verified_context.engine) as s:
        assert s.exec(select(RecordCorrection)).all() == []
        assert s.exec(select(Person)).one().name == citizens(population)[4].name
    # Without an Idempotency-Key nothing is done either.
    keyless = api.post(
        f"/v1/students/{registered['code']}/corrections",
        json={"changes": {"guardian_name": "张三"}, **EVIDENCE},
        headers=caller.headers,
    )
    assert keyless.status_code == 422 and keyless.json()["errors"][0]["field"] == "Idempotency-Key"


def test_corrections_stay_within_jurisdiction_and_wait_for_an_open_transfer(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, caller = verified_api, verified_registry
    child = citizens(population)[5]
    code = register(api, caller, registration_body(child), "r8")["code"]
    province = child.household_region[:2]
    elsewhere = register_caller(api, verified_context.engine, "province", "65" if province != "65" else "64")
    assert _correct(api, elsewhere, code, {"guardian_name": "张三"}, "j1").status_code == 404
    assert api.get(f"/v1/students/{code}/corrections", headers=elsewhere.headers).status_code == 404
    reader = register_caller(api, verified_context.engine, "province", province, scopes="students:read")
    assert _correct(api, reader, code, {"guardian_name": "张三"}, "j2").status_code == 403
    set_transfer_lock(verified_context, code, True)
    locked = _correct(api, caller, code, {"guardian_name": "张三"}, "j3")
    assert locked.status_code == 409 and "transfer" in locked.json()["detail"]
    with Session(verified_context.engine) as s:
        assert s.exec(select(RecordCorrection)).all() == []
        jobs = s.exec(select(VerificationJob).where(col(VerificationJob.status) == "queued")).all()
        assert jobs == []


def _without_id(child: Any) -> dict[str, Any]:
    """The child's registration as a school without their ID number would send it."""
    body = {**registration_body(child), "id_type": "none"}
    del body["id_number"]
    return body


def test_a_j_student_who_obtains_an_id_number_becomes_g(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, caller = verified_api, verified_registry
    child = citizens(population)[6]
    registered = register(api, caller, _without_id(child), "r9")
    assert registered["code"].startswith("J")  # no usable ID number: J once the duplicate check passed
    changes = {"id_type": "resident_id", "id_number": child.id_number}
    answer = _correct(api, caller, registered["code"], changes, "c9").json()
    assert answer["verification"] == "verified"
    assert answer["code"] == "G" + child.id_number and answer["promoted_from"] == registered["code"]
    lineage = api.get(f"/v1/codes/{registered['code']}", headers=caller.headers).json()
    assert lineage["current_code"] == mask_code(answer["code"])  # asked by the old code: masked
    assert lineage["lineage"][-1]["reason"] == "id_number_obtained"


def test_a_j_student_keeps_j_when_the_g_form_was_ever_issued(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, caller = verified_api, verified_registry
    child = citizens(population)[7]
    code = register(api, caller, _without_id(child), "r10")["code"]
    with Session(verified_context.engine) as s:
        person = s.exec(select(Person).where(Person.current_code == code)).one()
        # The G form of the number was issued before (to a record merged away since, say).
        s.add(
            IssuedCode(
                code="G" + child.id_number,
                type="G",
                person_id=person.id,
                status="alias",
                issued_at=utcnow(),
                issued_by="earlier",
            )
        )
        s.commit()
    changes = {"id_type": "resident_id", "id_number": child.id_number}
    answer = _correct(api, caller, code, changes, "c10").json()
    assert answer["verification"] == "verified" and answer["code"] == code  # a code is never issued twice
