"""Handoff records and the change feed over HTTP: keyset pages, the lawful-basis headers, what a
registry with nothing admitted sees, and the feed of an authority by jurisdiction."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from tests.fixtures.handoff import BASIS, MakeParty, cohort, hand_over, verified


def test_records_come_in_keyset_pages_for_their_client_only(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    children = cohort(5)
    preschool = party("registry", "41", "handoff:write handoff:read", stage="preschool")
    hand_over(handoff_api, preschool, children)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"limit": 2, **({"page_token": token} if token else {})}
        page = verified(
            handoff_api,
            handoff_api.get("/v1/handoff/records", params=params, headers={**preschool.headers, **BASIS}),
        )
        pages += 1
        seen.extend(r["student_number"] for r in page["records"])
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == 3 and seen == [c.number for c in children]
    # Without handoff:identity the ID numbers are masked.
    masked = {r["identity"]["id_number"] for r in page["records"]}
    assert masked == {f"{children[4].id_number[:6]}********{children[4].id_number[-4:]}"}
    with Session(committed_context.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.client_id == preschool.client_id, col(AuditEvent.action) == "handoff.disclose"
            )
        ).all()
    assert len(rows) == 5 and {r.approval_ref for r in rows} == {BASIS["X-Approval-Ref"]}
    # Another registry sees none of them, and cannot use the preschool's page token.
    other = party("registry", "41", "handoff:read feed:read", stage="vocational")
    empty = handoff_api.get("/v1/handoff/records", headers={**other.headers, **BASIS})
    assert empty.status_code == 200 and empty.json() == {"records": [], "next_page_token": None}
    first = handoff_api.get(
        "/v1/handoff/records", params={"limit": 2}, headers={**preschool.headers, **BASIS}
    )
    stolen = handoff_api.get(
        "/v1/handoff/records",
        params={"page_token": first.json()["next_page_token"]},
        headers={**other.headers, **BASIS},
    )
    assert stolen.status_code == 422
    feed = handoff_api.get("/v1/feed", headers=other.headers)
    assert feed.status_code == 200 and feed.json()["events"] == []


def test_disclosures_need_purpose_and_approval(handoff_api: TestClient, party: MakeParty) -> None:
    registry = party("registry", "41", "handoff:read", stage="vocational")
    reply = handoff_api.get("/v1/handoff/records", headers=registry.headers)
    assert reply.status_code == 422
    assert sorted(e["field"] for e in reply.json()["errors"]) == ["X-Approval-Ref", "X-Purpose"]
    export = handoff_api.post("/v1/handoff/exports", headers={**registry.headers, "X-Approval-Ref": "A-1"})
    assert [e["field"] for e in export.json()["errors"]] == ["X-Purpose"]


def test_an_authority_reads_the_feed_of_its_jurisdiction(handoff_api: TestClient, party: MakeParty) -> None:
    preschool = party("registry", "41", "handoff:write", stage="preschool")
    hand_over(handoff_api, preschool, cohort(3))
    henan = party("province", "41", "feed:read")
    events = verified(handoff_api, handoff_api.get("/v1/feed", headers=henan.headers))["events"]
    assert [e["type"] for e in events] == ["code.issued"] * 3
    assert {e["region"] for e in events} == {"410102"}
    versions = [e["version"] for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 3
    later = handoff_api.get("/v1/feed", params={"since": versions[1]}, headers=henan.headers).json()
    assert [e["version"] for e in later["events"]] == versions[2:] and later["next_since"] == versions[2]
    guangdong = party("province", "44", "feed:read")
    assert handoff_api.get("/v1/feed", headers=guangdong.headers).json()["events"] == []
