"""The acceptance test of the handoff domain: the whole life of a cohort through the API.

A preschool hands over 100 children; two primary schools claim them (by the code on the slip and
the identity: a child the preschool holds is not the school's to find by identity alone);
years of status events follow, with one cross-province transfer and one merge; the cohort
graduates; a vocational registry and a higher-education registry claim the graduates they admitted
and pull their records. Each gets exactly its own students with exactly its scoped fields, both see
the merge in the change feed, every disclosure is audited with its purpose and approval, and every
signature verifies against the published JWKS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from gateway.privacy import mask_code
from tests.fixtures.api import ApiCaller
from tests.fixtures.handoff import (
    BASIS,
    Child,
    MakeParty,
    cohort,
    hand_over,
    promote_verified,
    verified,
    wait_for,
)
from tests.fixtures.registrations import post_registration

SCHOOL_A = ("4101020001", "410102")
SCHOOL_B = ("4101050002", "410105")
SCHOOL_C = ("4201020003", "420102")  # another province
SCHOOL_SCOPES = (
    "handoff:write handoff:read handoff:identity students:write students:read feed:read transfers:write"
)
VOCATIONAL_BASIS = {"X-Purpose": "vocational admission 2026", "X-Approval-Ref": "HA-JYT-2026-0418"}
HIGHER_BASIS = {"X-Purpose": "higher education admission 2026", "X-Approval-Ref": "HB-JYT-2026-0077"}
TRANSFERRED, MERGED, DROPPED = 7, 20, 9
VOCATIONAL = [i for i in range(40) if i != DROPPED]
HIGHER = [*range(40, 80), MERGED]


def _event(api: TestClient, school: ApiCaller, code: str, event: str, day: str, **extra: str) -> None:
    reply = api.post(
        f"/v1/students/{code}/events",
        json={"event": event, "effective_date": day, **extra},
        headers=school.headers,
    )
    assert reply.status_code in (200, 201), reply.text


def _all_records(api: TestClient, caller: ApiCaller, basis: dict[str, str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 16, **({"page_token": token} if token else {})}
        reply = api.get("/v1/handoff/records", params=params, headers={**caller.headers, **basis})
        assert reply.status_code == 200, reply.text
        page = verified(api, reply)
        records.extend(page["records"])
        token = page["next_page_token"]
        if token is None:
            return records


def _whole_feed(api: TestClient, caller: ApiCaller) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    since = 0
    while True:
        reply = api.get("/v1/feed", params={"since": since, "limit": 100}, headers=caller.headers)
        assert reply.status_code == 200, reply.text
        page = verified(api, reply)
        events.extend(page["events"])
        since = page["next_since"]
        if not page["has_more"]:
            return events


def _claim(api: TestClient, caller: ApiCaller, basis: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    reply = api.post("/v1/handoff/claims", json=body, headers={**caller.headers, **basis})
    assert reply.status_code == 201, reply.text
    record: dict[str, Any] = verified(api, reply)
    return record


def _register_duplicate(api: TestClient, province: ApiCaller, child: Child) -> str:
    """The same child registered again by another school under a nickname and without an ID."""
    body = {
        "name": child.name[0] + "小宝",
        "gender": child.gender,
        "birth_date": child.birth_date.isoformat(),
        "id_type": "none",
        "household_region": "410105",
        "guardian_name": child.name[0] + "秀英",
        "school_code": SCHOOL_B[0],
        "school_region": SCHOOL_B[1],
    }
    reply = post_registration(api, province, body, "dup-1")
    assert reply.status_code in (201, 202), reply.text
    answer = reply.json()
    if answer["outcome"] == "review_required":
        decided = api.post(
            f"/v1/reviews/{answer['problem_id']}/decision",
            json={"decision": "different_persons"},
            headers=province.headers,
        )
        assert decided.status_code == 200, decided.text
        return str(decided.json()["code"])
    return str(answer["code"])


def _transfer(api: TestClient, parties: dict[str, ApiCaller], child: Child, code: str) -> dict[str, Any]:
    applied = api.post(
        "/v1/transfers",
        json={
            "code": code,
            "name": child.name,
            "birth_date": child.birth_date.isoformat(),
            "school_region": SCHOOL_C[1],
        },
        headers=parties["school_c"].headers,
    )
    assert applied.status_code == 201, applied.text
    transfer_id = verified(api, applied)["id"]
    for step in ("hubei", "central", "school_a", "county"):
        reply = api.post(
            f"/v1/transfers/{transfer_id}/decisions",
            json={"decision": "approve"},
            headers=parties[step].headers,
        )
        assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "released"
    pulled = api.post(f"/v1/transfers/{transfer_id}/pull", headers={**parties["school_c"].headers, **BASIS})
    assert pulled.status_code == 200, pulled.text
    result: dict[str, Any] = verified(api, pulled)
    return result


def _masked(number: str) -> str:
    return f"{number[:6]}********{number[-4:]}"


@pytest.mark.slow
def test_life_of_a_cohort(handoff_api: TestClient, committed_context: AppContext, party: MakeParty) -> None:
    api = handoff_api
    children = cohort(100)
    preschool = party(
        "registry", "41", "handoff:write handoff:read handoff:identity feed:read", stage="preschool"
    )
    parties = {
        "school_a": party("school", SCHOOL_A[0], SCHOOL_SCOPES),
        "school_b": party("school", SCHOOL_B[0], SCHOOL_SCOPES),
        "school_c": party("school", SCHOOL_C[0], SCHOOL_SCOPES),
        "province": party("province", "41", "registrations:write reviews:read reviews:write students:read"),
        "hubei": party("province", "42", "transfers:write"),
        "central": party("central", "CN", "transfers:write feed:read"),
        "county": party("county", "410102", "transfers:write"),
    }
    vocational = party("registry", "41", "handoff:read handoff:write feed:read", stage="vocational")
    higher = party(
        "registry", "42", "handoff:read handoff:write handoff:identity feed:read", stage="higher_education"
    )

    # The handover: every child registered, held by the preschool under its own number.
    status = hand_over(api, preschool, children)
    assert status["handed_over"] == 100 and status["counts"] == {"issued": 100}
    handed = {r["student_number"]: r for r in _all_records(api, preschool, BASIS)}
    assert set(handed) == {c.number for c in children}
    slip = {i: handed[c.number]["code"] for i, c in enumerate(children)}  # the L codes on the slips
    promote_verified(committed_context)

    # Enrolment: each school claims by the code on the slip, checked against the identity. The
    # preschool still holds the children, so by the identity alone a school finds none of them.
    alone = api.post(
        "/v1/handoff/claims",
        json={"identity": children[50].identity(), "school_region": SCHOOL_B[1]},
        headers={**parties["school_b"].headers, **BASIS},
    )
    assert alone.status_code == 404 and alone.json()["type"].endswith("claim-no-match")
    codes: dict[int, str] = {}
    for i, child in enumerate(children):
        school, (school_code, region) = (
            (parties["school_a"], SCHOOL_A) if i < 50 else (parties["school_b"], SCHOOL_B)
        )
        body: dict[str, Any] = {
            "identity": child.identity(),
            "school_region": region,
            "effective_date": "2013-09-01",
            "code": slip[i],
        }
        record = _claim(api, school, BASIS, body)
        assert record["school"]["school_code"] == school_code
        codes[i] = record["code"]
        assert codes[i] == "G" + child.id_number  # verified and promoted; the school may see its code

    # The years: primary, then junior secondary at the same school; one drop-out, one suspension.
    for i in range(100):
        school = parties["school_a"] if i < 50 else parties["school_b"]
        _event(api, school, codes[i], "promoted", "2016-09-01")
        if i == 11:
            _event(api, school, codes[i], "suspended", "2017-03-01")
            _event(api, school, codes[i], "resumed", "2017-09-01")
        _event(api, school, codes[i], "graduated", "2019-07-01")
        _event(api, school, codes[i], "enrolled", "2019-09-01")
        if i == DROPPED:
            _event(api, school, codes[i], "dropped_out", "2020-03-01")
            continue
        _event(api, school, codes[i], "promoted", "2022-09-01")
        if i != TRANSFERRED:
            _event(api, school, codes[i], "graduated", "2025-07-01")

    # One merge: the same child registered twice, found and merged by a reviewer.
    duplicate = _register_duplicate(api, parties["province"], children[MERGED])
    reported = api.post(
        "/v1/reviews", json={"codes": [duplicate, codes[MERGED]]}, headers=parties["province"].headers
    )
    assert reported.status_code == 201, reported.text
    merged = api.post(
        f"/v1/reviews/{reported.json()['id']}/decision",
        json={"decision": "same_person"},
        headers=parties["province"].headers,
    )
    assert merged.status_code == 200 and merged.json()["code"] == mask_code(codes[MERGED]), merged.text

    # One cross-province transfer, completed by the receiving school pulling the record.
    pulled = _transfer(api, parties, children[TRANSFERRED], codes[TRANSFERRED])
    assert pulled["transfer"]["state"] == "completed"
    assert pulled["record"]["school"] == {"region": SCHOOL_C[1], "school_code": SCHOOL_C[0]}
    assert [e["event"] for e in pulled["record"]["status_events"]][-2:] == [
        "transferred_out",
        "transferred_in",
    ]
    # The transfer moved the student today; the receiving school records the graduation after it.
    today = pulled["transfer"]["steps"][-1]["decided_at"][:10]
    _event(api, parties["school_c"], codes[TRANSFERRED], "graduated", today)

    # Admission: each registry claims its graduates; the drop-out cannot be admitted.
    refused = api.post(
        "/v1/handoff/claims",
        json={"identity": children[DROPPED].identity()},
        headers={**vocational.headers, **VOCATIONAL_BASIS},
    )
    assert refused.status_code == 409, refused.text
    # The vocational registry of Henan finds its province's graduates by identity alone; the one
    # who moved to Hubei only with the code the student gave it.
    moved = api.post(
        "/v1/handoff/claims",
        json={"identity": children[TRANSFERRED].identity()},
        headers={**vocational.headers, **VOCATIONAL_BASIS},
    )
    assert moved.status_code == 404 and moved.json()["type"].endswith("claim-no-match")
    for i in VOCATIONAL:
        code = {"code": slip[i]} if i == TRANSFERRED else {}
        _claim(
            api,
            vocational,
            VOCATIONAL_BASIS,
            {**code, "identity": children[i].identity(), "student_number": f"ZZ{i:04d}"},
        )
    for i in HIGHER:
        _claim(
            api,
            higher,
            HIGHER_BASIS,
            {"code": slip[i], "identity": children[i].identity(), "exam_candidate_number": f"26420{i:09d}"},
        )

    # Each pulls exactly its own students, with exactly its scoped fields.
    voc_records = _all_records(api, vocational, VOCATIONAL_BASIS)
    high_records = _all_records(api, higher, HIGHER_BASIS)
    assert sorted(r["identity"]["name"] for r in voc_records) == sorted(children[i].name for i in VOCATIONAL)
    assert sorted(r["identity"]["name"] for r in high_records) == sorted(children[i].name for i in HIGHER)
    by_name = {c.name: c for c in children}
    for record in voc_records:
        child = by_name[record["identity"]["name"]]
        assert record["identity"]["id_number"] == _masked(child.id_number)
        assert record["code"] == "G" + _masked(child.id_number)
        assert child.id_number not in json.dumps(record)
        assert record["graduation"]["graduated"] is True
    for record in high_records:
        child = by_name[record["identity"]["name"]]
        assert record["identity"]["id_number"] == child.id_number and record["code"] == "G" + child.id_number
        assert record["graduation"] == {"graduated": True, "date": "2025-07-01"}
    transferred = next(r for r in voc_records if r["identity"]["name"] == children[TRANSFERRED].name)
    assert [h["school_code"] for h in transferred["school_history"]] == [SCHOOL_A[0], SCHOOL_C[0]]
    merged_voc = next(r for r in voc_records if r["identity"]["name"] == children[MERGED].name)
    merged_high = next(r for r in high_records if r["identity"]["name"] == children[MERGED].name)
    assert "merge" in [entry["reason"] for entry in merged_high["lineage"]]
    assert duplicate in [entry["old_code"] for entry in merged_high["lineage"]]
    # Nobody sees a student they did not admit, by any code.
    outsider = api.get(f"/v1/handoff/records/{codes[45]}", headers={**vocational.headers, **VOCATIONAL_BASIS})
    assert outsider.status_code == 404

    # Both follow the merge in the change feed, in strictly increasing versions, about their own only.
    for caller, records in ((vocational, voc_records), (higher, high_records)):
        events = _whole_feed(api, caller)
        versions = [e["version"] for e in events]
        assert versions == sorted(set(versions))
        subjects = {r["subject_id"] for r in records}
        assert {e["subject_id"] for e in events} == subjects
        merges = [e for e in events if e["type"] == "person.merged"]
        own = merged_voc if caller is vocational else merged_high
        assert [m["subject_id"] for m in merges] == [own["subject_id"]]
    assert all(
        "********" in (e["code"] or "") for e in _whole_feed(api, vocational) if e["code"].startswith("G")
    )

    # Every disclosure audited, one row per student, with the purpose and approval stated.
    with Session(committed_context.engine) as session:
        for caller, basis, records in (
            (vocational, VOCATIONAL_BASIS, voc_records),
            (higher, HIGHER_BASIS, high_records),
        ):
            rows = session.exec(
                select(AuditEvent).where(
                    AuditEvent.client_id == caller.client_id,
                    col(AuditEvent.action).in_(["handoff.claim", "handoff.disclose"]),
                )
            ).all()
            assert {(r.purpose, r.approval_ref) for r in rows} == {
                (basis["X-Purpose"], basis["X-Approval-Ref"])
            }
            disclosed = [str(r.object_ref) for r in rows if r.action == "handoff.disclose"]
            expected = sorted("G" + _masked(by_name[r["identity"]["name"]].id_number) for r in records)
            assert sorted(disclosed) == expected

    # The higher-education registry's bulk export holds the same cohort.
    started = api.post("/v1/handoff/exports", headers={**higher.headers, **HIGHER_BASIS})
    assert started.status_code == 202, started.text
    url = verified(api, started)["status_url"]
    wait_for(lambda: api.get(url, headers=higher.headers).status_code == 200)
    manifest = verified(api, api.get(url, headers=higher.headers))
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    lines: list[dict[str, Any]] = []
    for output in manifest["output"]:
        got = api.get(output["url"], headers=higher.headers)
        assert got.status_code == 200
        verified(api, got)
        lines.extend(json.loads(line) for line in got.text.splitlines())
        assert api.get(output["url"], headers=vocational.headers).status_code == 404
    assert sorted(r["subject_id"] for r in lines) == sorted(r["subject_id"] for r in high_records)
    with Session(committed_context.engine) as session:
        exported = session.exec(
            select(AuditEvent).where(
                AuditEvent.client_id == higher.client_id, AuditEvent.action == "handoff.export"
            )
        ).all()
    assert len(exported) == len(high_records)
    assert {(r.purpose, r.approval_ref) for r in exported} == {
        (HIGHER_BASIS["X-Purpose"], HIGHER_BASIS["X-Approval-Ref"])
    }
