"""A G code is an ID number (issue 12, case 7): wherever a full ID number would be masked, the G code
that carries it is masked too, in every answer to a caller without the authority to see it (student
reads, code lineage, search, review persons, partner answers, handoff records and the change feed
without ``handoff:identity``, the audit trail, logs). A caller who sent the very code or number gets
it echoed back: that discloses nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.context import AppContext
from gateway.logs import configure_logging
from gateway.privacy import mask_code
from tests.fixtures.disclosure import assert_not_disclosed
from tests.fixtures.handoff import (
    BASIS,
    Child,
    MakeParty,
    cohort,
    graduate,
    promote_verified,
    verified,
    wait_for,
)

SHAANXI_SCHOOL = ("6101020001", "610102")


def _demographics(child: Child) -> dict[str, Any]:
    """What a search or claim may know of a child without holding their ID number."""
    return {
        "name": child.name,
        "gender": child.gender,
        "birth_date": child.birth_date.isoformat(),
        "id_type": "none",
        "household_region": SHAANXI_SCHOOL[1],
        "school_code": SHAANXI_SCHOOL[0],
        "school_region": SHAANXI_SCHOOL[1],
    }


@pytest.fixture
def students(handoff_api: TestClient, party: MakeParty, committed_context: AppContext) -> dict[str, Any]:
    """Two Shaanxi graduates, verified and promoted: each holds a G code and the L code it replaced."""
    student, classmate = cohort(2, region="610102")
    registrar = party("province", "61", "registrations:write students:write")
    old = {c.number: graduate(handoff_api, registrar, c, SHAANXI_SCHOOL) for c in (student, classmate)}
    promote_verified(committed_context)
    return {"student": student, "classmate": classmate, "l_code": old[student.number], "old": old}


def test_reads_search_and_reviews_mask_g_codes_the_caller_did_not_send(
    handoff_api: TestClient, party: MakeParty, students: dict[str, Any]
) -> None:
    api, student, l_code = handoff_api, students["student"], students["l_code"]
    number, g_code = student.id_number, "G" + student.id_number
    province = party("province", "61", "students:read codes:read search:read feed:read")

    read = api.get(f"/v1/students/{l_code}", headers=province.headers)
    assert read.status_code == 200, read.text
    assert read.json()["code"] == mask_code(g_code) and read.json()["code_type"] == "G"
    assert_not_disclosed(read.text, number, "GET /v1/students/{L code}")
    events = api.get(f"/v1/students/{l_code}/events", headers=province.headers)
    assert events.status_code == 200 and len(events.json()["events"]) == 2
    assert_not_disclosed(events.text, number, "GET /v1/students/{L code}/events")
    lineage = api.get(f"/v1/codes/{l_code}", headers=province.headers)
    assert lineage.status_code == 200 and lineage.json()["current_code"] == mask_code(g_code)
    assert [e["new_code"] for e in lineage.json()["lineage"]] == [mask_code(g_code)]
    assert_not_disclosed(lineage.text, number, "GET /v1/codes/{L code}")
    found = api.post("/v1/search", json=_demographics(student), headers=province.headers)
    assert found.status_code == 200, found.text
    assert mask_code(g_code) in [c["code"] for c in found.json()["candidates"]]
    assert_not_disclosed(found.text, number, "POST /v1/search")
    feed = api.get("/v1/feed", headers=province.headers)
    assert feed.status_code == 200 and mask_code(g_code) in [e["code"] for e in feed.json()["events"]]
    assert_not_disclosed(feed.text, number, "GET /v1/feed")

    # Who sent the code or the number gets it back as sent.
    asked = api.get(f"/v1/students/{g_code}", headers=province.headers)
    assert asked.json()["code"] == g_code
    searched = api.post(
        "/v1/search",
        json={**student.identity(), **_demographics(student), "id_type": "resident_id", "id_number": number},
        headers=province.headers,
    )
    assert g_code in [c["code"] for c in searched.json()["candidates"]]

    # A reviewer sees the persons of a problem record with the ID number masked, and the code too.
    reviewer = party("reviewer", "61", "reviews:read reviews:write")
    reported = api.post(
        "/v1/reviews", json={"codes": list(students["old"].values())}, headers=reviewer.headers
    )
    assert reported.status_code == 201, reported.text
    detail = api.get(f"/v1/reviews/{reported.json()['id']}", headers=reviewer.headers)
    assert detail.status_code == 200, detail.text
    persons = [detail.json()["subject"], *detail.json()["candidates"]]
    assert mask_code(g_code) in [p["code"] for p in persons]
    for child in (student, students["classmate"]):
        assert_not_disclosed(detail.text, child.id_number, "GET /v1/reviews/{id}")


def test_partners_and_registries_without_the_identity_scope_get_no_g_code(
    handoff_api: TestClient, party: MakeParty, students: dict[str, Any]
) -> None:
    api, student, l_code = handoff_api, students["student"], students["l_code"]
    number = student.id_number
    partner = party("partner", "61", "verifications:write")
    answer = api.post(
        "/v1/verifications",
        json={"code": l_code, "name": student.name, "birth_date": student.birth_date.isoformat()},
        headers=partner.headers,
    )
    assert answer.status_code == 200 and answer.json()["outcome"] == "linked_match", answer.text
    assert_not_disclosed(answer.text, number, "POST /v1/verifications")

    registry = party("registry", "61", "handoff:write handoff:read feed:read", stage="higher_education")
    claimed = api.post(
        "/v1/handoff/claims",
        json={"code": l_code, "identity": _demographics(student) | {"id_type": "none"}},
        headers={**registry.headers, **BASIS},
    )
    assert claimed.status_code == 201, claimed.text
    assert verified(api, claimed)["code"] == mask_code("G" + number)
    assert_not_disclosed(claimed.text, number, "POST /v1/handoff/claims")
    for path in ("/v1/handoff/records", f"/v1/handoff/records/{l_code}"):
        reply = api.get(path, headers={**registry.headers, **BASIS})
        assert reply.status_code == 200, reply.text
        assert_not_disclosed(reply.text, number, f"GET {path}")
    feed = api.get("/v1/feed", headers=registry.headers)
    assert feed.status_code == 200 and feed.json()["events"]
    assert_not_disclosed(feed.text, number, "GET /v1/feed (registry)")
    started = api.post("/v1/handoff/exports", headers={**registry.headers, **BASIS})
    assert started.status_code == 202, started.text
    url = verified(api, started)["status_url"]
    wait_for(lambda: api.get(url, headers=registry.headers).status_code == 200)
    [output] = api.get(url, headers=registry.headers).json()["output"]
    exported = api.get(output["url"], headers=registry.headers)
    assert exported.status_code == 200 and output["count"] == 1
    assert_not_disclosed(exported.text, number, "the export file")


def test_audit_trail_and_logs_hold_no_g_code(
    handoff_api: TestClient, party: MakeParty, students: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    api, student = handoff_api, students["student"]
    number, g_code = student.id_number, "G" + student.id_number
    province = party("province", "61", "students:read")
    configure_logging("INFO", json_lines=True)  # as the app does, onto the stderr captured here
    capfd.readouterr()
    # A caller that sends the code as its request id: the id rides in log lines and audit rows.
    read = api.get(f"/v1/students/{g_code}", headers={**province.headers, "X-Request-ID": g_code})
    assert read.status_code == 200, read.text
    log = capfd.readouterr().err
    assert read.headers["X-Request-ID"] in log  # the access line of that very request, masked
    assert_not_disclosed(log, number, "the log")
    auditor = party("central", "CN", "audit:read")
    trail = api.get("/v1/audit", params={"object_ref": g_code}, headers=auditor.headers)
    assert trail.status_code == 200, trail.text
    assert [r["action"] for r in trail.json()["items"]] == ["student.read"]
    assert_not_disclosed(trail.text, number, "GET /v1/audit")
    whole = api.get("/v1/audit", params={"limit": 500}, headers=auditor.headers)
    assert_not_disclosed(whole.text, number, "GET /v1/audit")
