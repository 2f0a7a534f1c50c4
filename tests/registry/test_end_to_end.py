"""A student's whole life through the API against the live mocks, every step audited.

Register (verified and promoted to G at once), a second registration that needs a reviewer, a
merge and its undo, then enrolment to graduation. Finally the audit trail is complete and intact.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.audit.service import verify_chain
from gateway.context import AppContext
from gateway.feed.models import ChangeEvent
from gateway.privacy import mask_code
from mocks.population import Population
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.mocks import known_population
from tests.fixtures.staff import add_staff


@pytest.fixture(scope="module")
def population() -> Population:
    return known_population(size=100, seed=77)


@pytest.fixture
def api(verified_api: TestClient) -> TestClient:
    """The app wired to the live mocks of this module's population."""
    return verified_api


def test_a_student_from_registration_to_graduation(
    api: TestClient, committed_context: AppContext, population: Population
) -> None:
    engine = committed_context.engine
    child = next(p for p in population.people if p.id_type == "resident_id")
    region = child.household_region
    school = f"{region}0001"
    province = register_caller(api, engine, role="province", jurisdiction=region[:2])
    county = register_caller(api, engine, role="county", jurisdiction=region)
    reviewer = register_caller(
        api,
        engine,
        role="reviewer",
        jurisdiction=region,
        scopes="reviews:read reviews:write codes:read students:read",
    )
    wang = add_staff(engine, province.client_id, "province_operator", name="王芳")
    headers = wang.headers(province)

    def post(url: str, caller: ApiCaller, body: dict[str, Any], **extra: str) -> dict[str, Any]:
        reply = api.post(url, json=body, headers={**caller.headers, **extra})
        assert reply.status_code < 300, (url, reply.status_code, reply.text)
        result: dict[str, Any] = reply.json()
        return result

    # 1. Registration: verified by the population register, promoted to G in the same request.
    body = {
        "name": child.name,
        "gender": child.gender,
        "birth_date": child.birth_date.isoformat(),
        "id_type": "resident_id",
        "id_number": child.id_number,
        "household_region": region,
        "guardian_name": child.guardian_name,
        "school_code": school,
        "school_region": region,
    }
    first = api.post("/v1/registrations", json=body, headers={**headers, "Idempotency-Key": "e2e-1"}).json()
    assert first["outcome"] == "issued" and first["code"] == "G" + child.id_number
    g_code, l_code = first["code"], first["promoted_from"]

    # 2. The same child typed at another school with only name, gender and birth date: name and birth
    # date alone never link two records, so it is a possible match for a reviewer.
    undocumented = {
        k: v for k, v in body.items() if k not in ("id_number", "guardian_name", "household_region")
    }
    undocumented.update(id_type="none", school_code=f"{region}0002")
    held = post("/v1/registrations", province, undocumented, **{"Idempotency-Key": "e2e-2"})
    assert held["outcome"] == "review_required", held
    # A reviewer decides they are different persons (a mistake), so a second code exists ...
    decided = post(f"/v1/reviews/{held['problem_id']}/decision", reviewer, {"decision": "different_persons"})
    second = decided["code"]

    # 3. ... until the school reports the duplicate and the reviewer merges them.
    report = post("/v1/reviews", reviewer, {"codes": [second, g_code], "note": "same child"})
    merged = post(
        f"/v1/reviews/{report['id']}/decision", reviewer, {"decision": "same_person", "survivor_id": None}
    )
    assert merged["code"] == mask_code(g_code)  # a reviewer sees G codes masked
    # Asked by the merged-away code, the survivor's G code is shown as its ID number is: masked.
    assert api.get(f"/v1/codes/{second}", headers=reviewer.headers).json()["current_code"] == mask_code(
        g_code
    )
    # 4. Undo restores both; merge again for good.
    undone = post(f"/v1/merges/{merged['merge_id']}/undo", reviewer, {})
    assert undone["restored_code"] == second
    again = post("/v1/reviews", reviewer, {"codes": [second, g_code]})
    post(f"/v1/reviews/{again['id']}/decision", reviewer, {"decision": "same_person"})

    # 5. Enrolment to graduation, recorded by the county; the old L code still leads here.
    for event, day in [
        ("enrolled", "2022-09-01"),
        ("promoted", "2023-08-31"),
        ("suspended", "2024-03-01"),
        ("resumed", "2024-09-01"),
        ("promoted", "2025-08-31"),
        ("graduated", "2026-07-01"),
    ]:
        post(f"/v1/students/{l_code}/events", county, {"event": event, "effective_date": day})
    student = api.get(f"/v1/students/{second}", headers=county.headers).json()
    assert student["code"] == mask_code(g_code) and student["school_status"] == "graduated"
    assert student["id_number_masked"] == child.id_number[:6] + "********" + child.id_number[-4:]
    refused = api.post(
        f"/v1/students/{g_code}/events",
        json={"event": "graduated", "effective_date": "2026-07-02"},
        headers=county.headers,
    )
    assert refused.status_code == 409

    # 6. Every step is in the audit trail, which is intact; the feed saw every change in order.
    with Session(engine) as s:
        actions = s.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
        report_chain = verify_chain(s)
        feed = s.exec(select(ChangeEvent.type).order_by(col(ChangeEvent.version))).all()
        clerk = s.exec(select(AuditEvent).where(AuditEvent.acting_user == wang.staff_id)).first()
        refs = " ".join(str(r) for r in s.exec(select(AuditEvent.object_ref)).all())
    for action in (
        "registration.create",
        "review.different_persons",
        "review.report",
        "review.same_person",
        "merge.undo",
        "code.resolve",
        "student.event",
        "student.read",
    ):
        assert action in actions, action
    assert report_chain.ok and report_chain.rows_checked == len(actions)
    assert clerk is not None and clerk.action == "registration.create"
    assert feed[:2] == ["code.issued", "code.promoted"]
    assert {"person.merged", "person.unmerged", "status.changed"} <= set(feed)
    # The G code carries the ID number, so the trail records it masked.
    assert child.id_number not in refs and ("G" + child.id_number[:6] + "********") in refs
