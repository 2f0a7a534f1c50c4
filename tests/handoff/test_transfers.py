"""Cross-province transfers: the working-day deadline, who takes which step, rejection, the identity
lock while a transfer is open, and the overdue list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role
from gateway.context import AppContext
from gateway.handoff.models import Transfer
from gateway.handoff.transfers import Places, TransferState, may_act
from gateway.handoff.workdays import add_working_days, is_working_day
from gateway.idgen.service import resolve_code
from tests.fixtures.api import ApiCaller
from tests.handoff.conftest import BASIS, Child, MakeParty, cohort

SCHOOL_A = ("4101020001", "410102")
SCHOOL_C = ("4201020003", "420102")
PLACES = Places("410102", "4101020001", "420102", "4201020003")


def test_ten_working_days_skip_weekends() -> None:
    friday = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert add_working_days(friday, 10) == datetime(2026, 12, 11, 9, 30, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert add_working_days(saturday, 1) == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    assert add_working_days(saturday, 10) == datetime(2026, 12, 11, 9, 30, tzinfo=UTC)


def test_working_days_follow_the_official_calendar() -> None:
    # National Day 2026: 1-7 October off; Saturday 10 October is worked to make up for it.
    before = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    assert add_working_days(before, 1) == datetime(2026, 10, 8, 1, 0, tzinfo=UTC)
    assert add_working_days(before, 3) == datetime(2026, 10, 10, 1, 0, tzinfo=UTC)
    assert add_working_days(before, 10) == datetime(2026, 10, 20, 1, 0, tzinfo=UTC)
    # Spring Festival 2026: 15-23 February off, Saturdays 14 and 28 February worked.
    assert add_working_days(datetime(2026, 2, 13, 2, 0, tzinfo=UTC), 10) == datetime(
        2026, 3, 5, 2, 0, tzinfo=UTC
    )
    # The day is Beijing's: 20:00 UTC on Wednesday 30 September is already 1 October there.
    assert not is_working_day(date(2026, 10, 1))
    late = datetime(2026, 9, 29, 20, 0, tzinfo=UTC)
    assert add_working_days(late, 1) == datetime(2026, 10, 7, 20, 0, tzinfo=UTC)


def test_a_year_without_an_official_calendar_counts_monday_to_friday() -> None:
    friday = datetime(2035, 11, 30, 9, 30, tzinfo=UTC)
    assert add_working_days(friday, 1) == datetime(2035, 12, 3, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "role", "jurisdiction", "allowed"),
    [
        (TransferState.APPLIED, Role.PROVINCE, "42", True),
        (TransferState.APPLIED, Role.COUNTY, "420102", True),
        (TransferState.APPLIED, Role.PROVINCE, "41", False),  # the sending side is not asked yet
        (TransferState.APPLIED, Role.SCHOOL, "4201020003", False),
        (TransferState.RECEIVING_APPROVED, Role.CENTRAL, "CN", True),
        (TransferState.RECEIVING_APPROVED, Role.PROVINCE, "42", False),
        (TransferState.VALIDATED, Role.SCHOOL, "4101020001", True),
        (TransferState.VALIDATED, Role.SCHOOL, "4201020003", False),
        (TransferState.SENDING_SCHOOL_APPROVED, Role.CITY, "4101", True),
        (TransferState.SENDING_SCHOOL_APPROVED, Role.CITY, "4201", False),
        (TransferState.RELEASED, Role.SCHOOL, "4201020003", True),
        (TransferState.RELEASED, Role.SCHOOL, "4101020001", False),
        (TransferState.COMPLETED, Role.CENTRAL, "CN", False),
        (TransferState.REJECTED, Role.CENTRAL, "CN", False),
    ],
)
def test_each_step_belongs_to_one_party(
    state: TransferState, role: Role, jurisdiction: str, allowed: bool
) -> None:
    assert may_act(state, role, Jurisdiction(jurisdiction), PLACES) is allowed


@pytest.fixture
def scene(handoff_api: TestClient, party: MakeParty) -> dict[str, Any]:
    """A pupil in attendance at school A (Henan) and the parties of a transfer to school C (Hubei)."""
    province = party("province", "41", "registrations:write students:write students:read feed:read")
    child: Child = cohort(1)[0]
    body = {key: value for key, value in child.row().items() if key != "record_id"}
    body.update(school_code=SCHOOL_A[0], school_region=SCHOOL_A[1])
    registered = handoff_api.post(
        "/v1/registrations", json=body, headers={**province.headers, "Idempotency-Key": "t1"}
    )
    assert registered.status_code == 201, registered.text
    code = registered.json()["code"]
    scopes = "transfers:write students:write students:read handoff:read"
    school_a = party("school", SCHOOL_A[0], scopes)
    enrolled = handoff_api.post(
        f"/v1/students/{code}/events",
        json={"event": "enrolled", "effective_date": "2020-09-01"},
        headers=school_a.headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    return {
        "child": child,
        "code": code,
        "school_a": school_a,
        "school_c": party("school", SCHOOL_C[0], scopes),
        "hubei": party("province", "42", "transfers:write"),
        "central": party("central", "CN", "transfers:write"),
        "county": party("county", "410102", "transfers:write"),
        "henan_city": party("city", "4101", "transfers:write"),
    }


def _apply(api: TestClient, scene: dict[str, Any], **changes: str) -> Any:
    child: Child = scene["child"]
    body = {
        "code": scene["code"],
        "name": child.name,
        "birth_date": child.birth_date.isoformat(),
        "school_region": SCHOOL_C[1],
        **changes,
    }
    return api.post("/v1/transfers", json=body, headers=scene["school_c"].headers)


def _decide(api: TestClient, caller: ApiCaller, transfer_id: int, decision: str = "approve") -> Any:
    return api.post(
        f"/v1/transfers/{transfer_id}/decisions", json={"decision": decision}, headers=caller.headers
    )


def _locked(ctx: AppContext, code: str) -> bool:
    with Session(ctx.engine) as session:
        return resolve_code(session, code).person.locked_by_transfer


def test_steps_in_order_and_a_rejection_ends_the_transfer(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any]
) -> None:
    applied = _apply(handoff_api, scene)
    assert applied.status_code == 201, applied.text
    transfer = applied.json()
    assert transfer["state"] == "applied" and transfer["overdue"] is False
    assert _locked(committed_context, scene["code"])
    tid = transfer["id"]
    # Out of turn: the central platform cannot validate before the receiving authority approved.
    assert _decide(handoff_api, scene["central"], tid).status_code == 403
    assert _decide(handoff_api, scene["school_a"], tid).status_code == 403
    assert _decide(handoff_api, scene["hubei"], tid).json()["state"] == "receiving_approved"
    assert _decide(handoff_api, scene["central"], tid).json()["state"] == "validated"
    # The record is not released yet: the receiving school cannot pull it.
    early = handoff_api.post(f"/v1/transfers/{tid}/pull", headers={**scene["school_c"].headers, **BASIS})
    assert early.status_code == 403
    rejected = _decide(handoff_api, scene["school_a"], tid, "reject")
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert [s["decision"] for s in rejected.json()["steps"]] == ["apply", "approve", "approve", "reject"]
    assert not _locked(committed_context, scene["code"])
    assert _decide(handoff_api, scene["county"], tid).status_code == 409
    # A rejected transfer leaves the student free for a new application.
    assert _apply(handoff_api, scene).status_code == 201


def test_an_open_transfer_locks_the_student(handoff_api: TestClient, scene: dict[str, Any]) -> None:
    assert _apply(handoff_api, scene).status_code == 201
    assert _apply(handoff_api, scene).status_code == 409
    moved = handoff_api.post(
        f"/v1/students/{scene['code']}/events",
        json={"event": "transferred_out", "effective_date": "2021-09-01"},
        headers=scene["school_a"].headers,
    )
    assert moved.status_code == 409, moved.text
    # Key identity data is locked too: the sending school cannot correct the name meanwhile.
    correction = {"changes": {"name": "王小明"}, "reason": "typo", "evidence_ref": "booklet p.2"}
    corrected = handoff_api.post(
        f"/v1/students/{scene['code']}/corrections",
        json=correction,
        headers={**scene["school_a"].headers, "Idempotency-Key": "fix-1"},
    )
    assert corrected.status_code == 409 and corrected.json()["type"].endswith("identity-locked")
    # Once the transfer is rejected, the same correction goes through.
    (transfer,) = handoff_api.get("/v1/transfers", headers=scene["school_c"].headers).json()["transfers"]
    assert _decide(handoff_api, scene["hubei"], transfer["id"], "reject").status_code == 200
    again = handoff_api.post(
        f"/v1/students/{scene['code']}/corrections",
        json=correction,
        headers={**scene["school_a"].headers, "Idempotency-Key": "fix-1"},
    )
    assert again.status_code == 200 and again.json()["changed_fields"] == ["name"]


def test_a_released_record_is_pulled_by_the_receiving_school(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any]
) -> None:
    tid = _apply(handoff_api, scene).json()["id"]
    for step in ("hubei", "central", "school_a", "henan_city"):
        assert _decide(handoff_api, scene[step], tid).status_code == 200
    assert _decide(handoff_api, scene["school_c"], tid).status_code == 409  # pull, not approve
    missing_basis = handoff_api.post(f"/v1/transfers/{tid}/pull", headers=scene["school_c"].headers)
    assert missing_basis.status_code == 422
    pulled = handoff_api.post(f"/v1/transfers/{tid}/pull", headers={**scene["school_c"].headers, **BASIS})
    assert pulled.status_code == 200, pulled.text
    record = pulled.json()["record"]
    assert record["school"] == {"region": SCHOOL_C[1], "school_code": SCHOOL_C[0]}
    assert record["school_status"] == "in_attendance"
    assert not _locked(committed_context, scene["code"])
    # The sending school no longer holds the student.
    gone = handoff_api.get(f"/v1/students/{scene['code']}", headers=scene["school_a"].headers)
    assert gone.status_code == 404


def test_refusals_of_an_application(handoff_api: TestClient, scene: dict[str, Any]) -> None:
    assert _apply(handoff_api, scene, school_region="410105").status_code == 422  # same province
    assert _apply(handoff_api, scene, name="完全不同").status_code == 404  # a code alone finds nobody
    not_a_school = handoff_api.post(
        "/v1/transfers",
        json={
            "code": scene["code"],
            "name": scene["child"].name,
            "birth_date": scene["child"].birth_date.isoformat(),
            "school_region": SCHOOL_C[1],
        },
        headers=scene["hubei"].headers,
    )
    assert not_a_school.status_code == 403


def test_overdue_transfers_are_listed_to_both_sides(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any], party: MakeParty
) -> None:
    tid = _apply(handoff_api, scene).json()["id"]
    for caller in ("hubei", "county", "central"):
        listed = handoff_api.get("/v1/transfers", params={"overdue": "true"}, headers=scene[caller].headers)
        assert listed.status_code == 200 and listed.json()["transfers"] == []
    with Session(committed_context.engine) as session:
        row = session.get(Transfer, tid)
        assert row is not None
        row.due_at = datetime.now(UTC) - timedelta(hours=1)
        session.add(row)
        session.commit()
    for caller in ("hubei", "county", "central"):
        listed = handoff_api.get("/v1/transfers", params={"overdue": "true"}, headers=scene[caller].headers)
        assert [t["id"] for t in listed.json()["transfers"]] == [tid]
        assert listed.json()["transfers"][0]["overdue"] is True
    elsewhere = party("province", "44", "transfers:write")
    listed = handoff_api.get("/v1/transfers", params={"overdue": "true"}, headers=elsewhere.headers)
    assert listed.json()["transfers"] == []
    assert handoff_api.get(f"/v1/transfers/{tid}", headers=elsewhere.headers).status_code == 404
