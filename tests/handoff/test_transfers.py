"""Cross-province transfers: the working-day deadline, who takes which step, rejection (by the holder
at any step), the identity lock while a transfer is open, expiry at the deadline, and what an
applicant may learn before the holder releases the record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.audit.models import AuditEvent
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role
from gateway.context import AppContext
from gateway.handoff import repository, transfers
from gateway.handoff.transfers import Places, TransferState, may_act
from gateway.handoff.workdays import add_working_days, is_working_day
from gateway.idgen import service as idgen
from gateway.idgen.service import resolve_code
from tests.fixtures.api import ApiCaller
from tests.fixtures.handoff import BASIS, Child, MakeParty, cohort
from tests.fixtures.registrations import post_registration

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
    registered = post_registration(handoff_api, province, body, "t1")
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
        json={"event": "transferred_out", "effective_date": "2021-09-01", "to_school_code": SCHOOL_C[0]},
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


def _past_deadline(ctx: AppContext, transfer_id: int) -> None:
    """The transfer's deadline moved into the past, and nothing else (no expiry recorded)."""
    with Session(ctx.engine) as session:
        row = repository.get_transfer(session, transfer_id)
        assert row is not None
        row.due_at = datetime.now(UTC) - timedelta(hours=1)
        session.add(row)
        session.commit()


def _stored_state(ctx: AppContext, transfer_id: int) -> str:
    with Session(ctx.engine) as session:
        row = repository.get_transfer(session, transfer_id)
        assert row is not None
        return row.state


def test_expired_transfers_are_listed_to_both_sides(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any], party: MakeParty
) -> None:
    tid = _apply(handoff_api, scene).json()["id"]
    for caller in ("hubei", "county", "central"):
        listed = handoff_api.get("/v1/transfers", params={"overdue": "true"}, headers=scene[caller].headers)
        assert listed.status_code == 200 and listed.json()["transfers"] == []
    _past_deadline(committed_context, tid)
    for caller in ("hubei", "county", "central"):
        listed = handoff_api.get("/v1/transfers", params={"overdue": "true"}, headers=scene[caller].headers)
        assert [t["id"] for t in listed.json()["transfers"]] == [tid]
        assert listed.json()["transfers"][0]["overdue"] is True
        assert listed.json()["transfers"][0]["state"] == "expired"
        still_open = handoff_api.get("/v1/transfers", params={"open": "true"}, headers=scene[caller].headers)
        assert still_open.json()["transfers"] == []
    elsewhere = party("province", "44", "transfers:write")
    listed = handoff_api.get("/v1/transfers", params={"overdue": "true"}, headers=elsewhere.headers)
    assert listed.json()["transfers"] == []
    assert handoff_api.get(f"/v1/transfers/{tid}", headers=elsewhere.headers).status_code == 404


def _comparable(reply: Any) -> tuple[int, dict[str, Any]]:
    body = {k: v for k, v in reply.json().items() if k != "request_id"}
    return reply.status_code, body


def test_an_application_that_does_not_match_answers_like_an_unknown_code(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any]
) -> None:
    child: Child = scene["child"]
    stranger = cohort(2)[1]  # never registered
    unknown = "G" + stranger.id_number
    not_found = _comparable(_apply(handoff_api, scene, code=unknown))
    assert not_found[0] == 404
    # A wrong name, a wrong birth date, or only the name right: answered word for word as unknown.
    for changes in (
        {"name": stranger.name},
        {"birth_date": stranger.birth_date.isoformat()},
        {"name": stranger.name, "birth_date": stranger.birth_date.isoformat()},
    ):
        assert _comparable(_apply(handoff_api, scene, **changes)) == not_found, changes
    # A birth date that cannot be read is refused for its spelling, whether or not the code exists.
    bad_date = _comparable(_apply(handoff_api, scene, birth_date="yesterday"))
    assert bad_date[0] == 422
    assert _comparable(_apply(handoff_api, scene, code=unknown, birth_date="yesterday")) == bad_date
    assert not _locked(committed_context, scene["code"])
    listed = handoff_api.get("/v1/transfers", headers=scene["school_a"].headers).json()["transfers"]
    assert listed == []
    # The right name and birth date (given as the family gives them) do reach the child.
    assert _apply(handoff_api, scene, birth_date=child.birth_date.strftime("%Y%m%d")).status_code == 201


def _promote_to_g(ctx: AppContext, code: str, id_number: str) -> str:
    with Session(ctx.engine) as session:
        promoted = idgen.promote_code(
            session, code, target="G", resident_id=id_number, actor="test", reason="verified"
        )
        session.commit()
        return promoted.new_code


def test_the_applicant_learns_where_the_child_is_only_once_the_holder_releases_them(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any]
) -> None:
    child: Child = scene["child"]
    code = _promote_to_g(committed_context, scene["code"], child.id_number)
    assert code == "G" + child.id_number
    applicant = scene["school_c"]
    applied = _apply(handoff_api, scene, code=code)
    assert applied.status_code == 201, applied.text
    reply = applied.json()
    # Nothing the applicant did not know is added; the code it supplied is echoed.
    assert (reply["from_region"], reply["from_school"]) == (None, None)
    assert SCHOOL_A[0] not in applied.text and child.name not in applied.text
    assert reply["code"] == code
    tid = reply["id"]
    masked = "G" + child.id_number[:6] + "********" + child.id_number[-4:]

    def seen_by_applicant() -> dict[str, Any]:
        one = handoff_api.get(f"/v1/transfers/{tid}", headers=applicant.headers)
        (listed,) = handoff_api.get("/v1/transfers", headers=applicant.headers).json()["transfers"]
        assert one.json() == listed
        assert child.id_number not in one.text and child.name not in one.text
        body: dict[str, Any] = one.json()
        return body

    before = seen_by_applicant()
    assert before["code"] == masked
    assert (before["from_region"], before["from_school"]) == (None, None)
    assert SCHOOL_A[0] not in str(before)
    # The holder sees its own school, but no full ID number either.
    held = handoff_api.get(f"/v1/transfers/{tid}", headers=scene["school_a"].headers).json()
    assert (held["from_region"], held["from_school"], held["code"]) == (SCHOOL_A[1], SCHOOL_A[0], masked)
    for step in ("hubei", "central", "school_a"):
        assert _decide(handoff_api, scene[step], tid).status_code == 200
        during = seen_by_applicant()
        assert (during["from_region"], during["from_school"]) == (None, None)
        assert scene["school_a"].client_id not in str(during)  # who decided there is not shown either
    # The sending authority approves: the record is released, and the applicant learns where from.
    assert _decide(handoff_api, scene["henan_city"], tid).json()["state"] == "released"
    after = seen_by_applicant()
    assert (after["from_region"], after["from_school"]) == (SCHOOL_A[1], SCHOOL_A[0])
    assert after["code"] == masked


def test_the_holder_can_refuse_an_application_at_any_step(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any], party: MakeParty
) -> None:
    tid = _apply(handoff_api, scene).json()["id"]
    # An outsider is not told the transfer exists; the holder cannot approve out of turn.
    outsider = party("province", "44", "transfers:write")
    assert _decide(handoff_api, outsider, tid, "reject").status_code == 404
    assert _decide(handoff_api, scene["school_a"], tid).status_code == 403
    # The child's own school refuses before its turn: the transfer ends and the lock goes.
    refused = _decide(handoff_api, scene["school_a"], tid, "reject")
    assert refused.status_code == 200, refused.text
    assert refused.json()["state"] == "rejected"
    assert refused.json()["steps"][-1]["decision"] == "reject"
    assert refused.json()["steps"][-1]["role"] == "school"
    assert not _locked(committed_context, scene["code"])
    correction = {"changes": {"guardian_name": "王建设"}, "reason": "typo", "evidence_ref": "booklet p.2"}
    corrected = handoff_api.post(
        f"/v1/students/{scene['code']}/corrections",
        json=correction,
        headers={**scene["school_a"].headers, "Idempotency-Key": "fix-holder"},
    )
    assert corrected.status_code == 200, corrected.text
    # Another application, approved on the receiving side and validated: the holder's county refuses.
    again = _apply(handoff_api, scene).json()["id"]
    assert _decide(handoff_api, scene["hubei"], again).status_code == 200
    assert _decide(handoff_api, scene["central"], again).status_code == 200
    assert _decide(handoff_api, scene["county"], again, "reject").json()["state"] == "rejected"
    assert not _locked(committed_context, scene["code"])


def test_an_application_expires_at_its_deadline_and_releases_the_lock(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any]
) -> None:
    tid = _apply(handoff_api, scene).json()["id"]
    correction = {"changes": {"name": "王小明"}, "reason": "typo", "evidence_ref": "booklet p.2"}

    def correct(key: str) -> Any:
        return handoff_api.post(
            f"/v1/students/{scene['code']}/corrections",
            json=correction,
            headers={**scene["school_a"].headers, "Idempotency-Key": key},
        )

    assert correct("fix-1").status_code == 409
    _past_deadline(committed_context, tid)
    # Nobody has read the transfer and the worker has not run: the lock is released all the same.
    assert _stored_state(committed_context, tid) == "applied"
    corrected = correct("fix-2")
    assert corrected.status_code == 200 and corrected.json()["changed_fields"] == ["name"]
    # The worker records the expiry: state, a step by the system, an audit row, the flag cleared.
    assert transfers.expire_overdue_transfers(committed_context.engine) == [tid]
    assert transfers.expire_overdue_transfers(committed_context.engine) == []
    assert not _locked(committed_context, scene["code"])
    seen = handoff_api.get(f"/v1/transfers/{tid}", headers=scene["hubei"].headers).json()
    assert (seen["state"], seen["overdue"], seen["next_step"]) == ("expired", True, None)
    assert seen["closed_at"] is not None
    assert [(s["decision"], s["actor"]) for s in seen["steps"]][-1] == ("expire", "system")
    with Session(committed_context.engine) as session:
        audited = session.exec(select(AuditEvent).where(AuditEvent.action == "transfer.expire")).all()
    assert [(a.object_ref, a.client_id) for a in audited] == [(str(tid), "system")]
    # Too late to approve; a new application (under the corrected name) may be made.
    assert _decide(handoff_api, scene["hubei"], tid).status_code == 409
    assert _apply(handoff_api, scene).status_code == 404
    assert _apply(handoff_api, scene, name="王小明").status_code == 201


def test_a_late_decision_records_the_expiry_it_finds(
    handoff_api: TestClient, committed_context: AppContext, scene: dict[str, Any]
) -> None:
    tid = _apply(handoff_api, scene).json()["id"]
    for step in ("hubei", "central", "school_a", "henan_city"):
        assert _decide(handoff_api, scene[step], tid).status_code == 200
    _past_deadline(committed_context, tid)
    late = handoff_api.post(f"/v1/transfers/{tid}/pull", headers={**scene["school_c"].headers, **BASIS})
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    # Refused, but the expiry it found is kept, and the student stayed where they were.
    assert _stored_state(committed_context, tid) == "expired"
    assert not _locked(committed_context, scene["code"])
    held = handoff_api.get(f"/v1/students/{scene['code']}", headers=scene["school_a"].headers)
    assert held.status_code == 200 and held.json()["school_code"] == SCHOOL_A[0]
