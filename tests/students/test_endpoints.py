"""Student reads and status events over HTTP: authorisation, jurisdiction, the state machine, the
transfer between schools, merged codes and the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.idgen import service as idgen
from gateway.persons.models import Person
from gateway.students.models import StatusEvent, Transfer
from tests.fixtures.api import MakeCaller
from tests.fixtures.students import SeedStudent, merge_into

SCHOOL = "4101020001"
OTHER_SCHOOL = "4201020007"  # a school in Hubei (region 420102)


def _event(api: TestClient, headers: dict[str, str], code: str, event: str, day: str, **extra: str):  # type: ignore[no-untyped-def]
    return api.post(
        f"/v1/students/{code}/events", json={"event": event, "effective_date": day, **extra}, headers=headers
    )


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id)))
    )


def test_read_student_masks_the_id_number_and_is_audited(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    student = seed_student()
    assert student.id_number is not None
    caller = make_caller(role="school", jurisdiction=SCHOOL, scopes="students:read")
    reply = api.get(f"/v1/students/{student.code}", headers=caller.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["code"] == student.code and body["code_type"] == "L"
    assert body["name"] == "张晓明" and body["gender"] == "1" and body["birth_date"] == "2014-03-07"
    assert (body["school_code"], body["region"], body["school_status"]) == (SCHOOL, "410102", "registered")
    assert body["id_type"] == "resident_id"
    assert body["id_number_masked"] == student.id_number[:6] + "********" + student.id_number[-4:]
    assert student.id_number not in reply.text
    rows = _audit(session, "student.read")
    assert [(r.client_id, r.object_ref) for r in rows] == [(caller.client_id, student.code)]


def test_authorisation_and_jurisdiction(
    api: TestClient, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student().code
    url = f"/v1/students/{code}"
    assert api.get(url).status_code == 401
    assert _event(api, {}, code, "enrolled", "2020-09-01").status_code == 401
    reader = make_caller(role="county", jurisdiction="410102", scopes="students:read")
    assert _event(api, reader.headers, code, "enrolled", "2020-09-01").status_code == 403
    writer = make_caller(role="county", jurisdiction="410102", scopes="students:write")
    assert api.get(url, headers=writer.headers).status_code == 403
    expectations = {
        ("central", "CN"): 200,
        ("province", "41"): 200,
        ("county", "410102"): 200,
        ("school", SCHOOL): 200,
        ("province", "42"): 404,
        ("county", "410103"): 404,
        ("school", "4101020002"): 404,
    }
    for (role, jurisdiction), status in expectations.items():
        caller = make_caller(role=role, jurisdiction=jurisdiction, scopes="students:read students:write")
        assert api.get(url, headers=caller.headers).status_code == status, (role, jurisdiction)
        assert api.get(f"{url}/events", headers=caller.headers).status_code == status
        if status == 404:
            assert _event(api, caller.headers, code, "enrolled", "2020-09-01").status_code == 404
    # Outside the jurisdiction reads exactly like a code never issued.
    outsider = make_caller(role="province", jurisdiction="42", scopes="students:read")
    never = "L41010220140307" + ("0000" if not code.endswith("0000") else "0001")
    hidden = api.get(url, headers=outsider.headers).json()
    missing = api.get(f"/v1/students/{never}", headers=outsider.headers).json()
    assert (hidden["status"], hidden["title"], hidden["detail"]) == (
        missing["status"],
        missing["title"],
        missing["detail"],
    )


def test_enrolment_to_graduation_walk(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student().code
    school = make_caller(role="school", jurisdiction=SCHOOL, scopes="students:read students:write")
    # Not yet enrolled: graduation is refused with the reason.
    early = _event(api, school.headers, code, "graduated", "2020-07-01")
    assert early.status_code == 409
    problem = early.json()
    assert problem["current_status"] == "registered" and problem["allowed_from"] == ["in_attendance"]
    assert "registered" in problem["detail"] and "graduated" in problem["detail"]
    walk = [
        ("enrolled", "2020-09-01", "registered", "in_attendance"),
        ("suspended", "2021-03-01", "in_attendance", "suspended"),
        ("resumed", "2021-09-01", "suspended", "in_attendance"),
        ("promoted", "2022-09-01", "in_attendance", "in_attendance"),
        ("repeated", "2023-09-01", "in_attendance", "in_attendance"),
        ("graduated", "2024-07-01", "in_attendance", "graduated"),
    ]
    for event, day, before, after in walk:
        reply = _event(api, school.headers, code, event, day, note=f"{event} note")
        assert reply.status_code == 201, reply.text
        assert (reply.json()["from_status"], reply.json()["to_status"]) == (before, after)
    assert api.get(f"/v1/students/{code}", headers=school.headers).json()["school_status"] == "graduated"
    # Graduated: promotion is no longer possible; a later stage's enrolment is.
    assert _event(api, school.headers, code, "promoted", "2024-09-01").status_code == 409
    history = api.get(f"/v1/students/{code}/events", headers=school.headers).json()
    assert [(e["event"], e["effective_date"]) for e in history["events"]] == [(e, d) for e, d, _, _ in walk]
    assert history["events"][0]["recorded_by"] == school.client_id
    assert history["events"][0]["note"] == "enrolled note"
    assert len(_audit(session, "student.event")) == len(walk)
    assert len(_audit(session, "student.events.read")) == 1


def test_event_body_is_validated_with_field_names(
    api: TestClient, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student().code
    caller = make_caller(role="county", jurisdiction="410102", scopes="students:write")

    def fields(reply) -> set[str]:  # type: ignore[no-untyped-def]
        assert reply.status_code == 422, reply.text
        return {e["field"] for e in reply.json()["errors"]}

    assert fields(_event(api, caller.headers, code, "hatched", "2020-09-01")) == {"event"}
    assert fields(_event(api, caller.headers, code, "enrolled", "1 Sept 2020")) == {"effective_date"}
    numeric = api.post(
        f"/v1/students/{code}/events",
        json={"event": "enrolled", "effective_date": 1600000000},
        headers=caller.headers,
    )
    assert fields(numeric) == {"effective_date"}
    assert fields(_event(api, caller.headers, code, "enrolled", "2020-02-30")) == {"effective_date"}
    assert fields(_event(api, caller.headers, code, "enrolled", "2099-09-01")) == {"effective_date"}
    assert fields(_event(api, caller.headers, code, "enrolled", "2010-09-01")) == {
        "effective_date"
    }  # before birth
    assert fields(_event(api, caller.headers, code, "transferred_in", "2020-09-01")) == {
        "school_code",
        "school_region",
    }
    moved = _event(
        api, caller.headers, code, "suspended", "2020-09-01", school_code=SCHOOL, school_region="410102"
    )
    assert fields(moved) == {"school_code", "school_region"}
    assert fields(_event(api, caller.headers, code, "enrolled", "2020-09-01", school_code="12")) == {
        "school_code"
    }
    unknown_region = _event(
        api, caller.headers, code, "enrolled", "2020-09-01", school_code=SCHOOL, school_region="999999"
    )
    assert fields(unknown_region) == {"school_region"}


def test_a_back_dated_event_is_a_conflict(
    api: TestClient, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student().code
    caller = make_caller(role="county", jurisdiction="410102", scopes="students:write")
    assert _event(api, caller.headers, code, "enrolled", "2020-09-01").status_code == 201
    assert _event(api, caller.headers, code, "suspended", "2020-08-31").status_code == 409
    assert _event(api, caller.headers, code, "suspended", "2020-09-01").status_code == 201


def test_transfer_out_and_in_changes_the_school(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student(status="in_attendance").code
    sender = make_caller(role="school", jurisdiction=SCHOOL, scopes="students:read students:write")
    receiver = make_caller(role="school", jurisdiction=OTHER_SCHOOL, scopes="students:read students:write")
    move = {"school_code": OTHER_SCHOOL, "school_region": "420102"}
    # While the student attends the sending school, the receiving school cannot see them at all.
    assert _event(api, receiver.headers, code, "transferred_in", "2021-09-01", **move).status_code == 404
    assert api.get(f"/v1/students/{code}", headers=receiver.headers).status_code == 404
    # The sending school names where the student goes, but cannot place them in a school outside its
    # own jurisdiction.
    left = _event(api, sender.headers, code, "transferred_out", "2021-08-20", to_school_code=OTHER_SCHOOL)
    assert left.status_code == 201 and left.json()["to_school_code"] == OTHER_SCHOOL
    assert _event(api, sender.headers, code, "transferred_in", "2021-09-01", **move).status_code == 403
    arrived = _event(api, receiver.headers, code, "transferred_in", "2021-09-01", **move)
    assert arrived.status_code == 201, arrived.text
    assert (arrived.json()["school_code"], arrived.json()["region"]) == (OTHER_SCHOOL, "420102")
    now = api.get(f"/v1/students/{code}", headers=receiver.headers).json()
    assert (now["school_code"], now["region"], now["school_status"]) == (
        OTHER_SCHOOL,
        "420102",
        "in_attendance",
    )
    # The student has left the sending school's jurisdiction.
    assert api.get(f"/v1/students/{code}", headers=sender.headers).status_code == 404
    rows = session.exec(select(StatusEvent).order_by(col(StatusEvent.id))).all()
    assert [(r.event, r.school_code) for r in rows[-2:]] == [
        ("transferred_out", SCHOOL),
        ("transferred_in", OTHER_SCHOOL),
    ]


def test_a_transfer_in_for_a_student_not_transferred_out_is_refused(
    api: TestClient, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student(status="in_attendance").code
    national = make_caller(role="central", jurisdiction="CN", scopes="students:write")
    move = {"school_code": OTHER_SCHOOL, "school_region": "420102"}
    refused = _event(api, national.headers, code, "transferred_in", "2021-09-01", **move)
    assert refused.status_code == 409 and refused.json()["allowed_from"] == ["transferred_out"]


def _open_transfer(session: Session, person: Person, due_at: datetime) -> Transfer:
    """A cross-province application for ``person`` (Henan) by a school in Hubei, open until ``due_at``."""
    assert person.id is not None
    transfer = Transfer(
        person_id=person.id,
        state="applied",
        from_region=person.region,
        from_school=person.school_code,
        to_region="420102",
        to_school=OTHER_SCHOOL,
        applied_by="test",
        applied_at=due_at - timedelta(days=14),
        due_at=due_at,
    )
    session.add(transfer)
    session.commit()
    return transfer


def test_an_open_transfer_locks_moves(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    student = seed_student(status="in_attendance")
    transfer = _open_transfer(session, student.person, datetime.now(UTC) + timedelta(days=14))
    caller = make_caller(role="county", jurisdiction="410102", scopes="students:write")
    out = {"to_school_code": "4101020009"}
    assert (
        _event(api, caller.headers, student.code, "transferred_out", "2021-08-20", **out).status_code == 409
    )
    assert _event(api, caller.headers, student.code, "promoted", "2021-09-01").status_code == 201
    # At its deadline the application expires and holds the student no longer.
    transfer.due_at = datetime.now(UTC) - timedelta(minutes=1)
    session.add(transfer)
    session.commit()
    assert (
        _event(api, caller.headers, student.code, "transferred_out", "2021-09-02", **out).status_code == 201
    )


def test_transferred_out_names_the_destination(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student(status="in_attendance").code
    county = make_caller(role="county", jurisdiction="410102", scopes="students:read students:write")

    def refused(reply) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        assert reply.status_code == 422, reply.text
        return [(e["field"], e["code"]) for e in reply.json()["errors"]]

    assert refused(_event(api, county.headers, code, "transferred_out", "2021-08-20")) == [
        ("to_school_code", "missing")
    ]
    malformed = _event(api, county.headers, code, "transferred_out", "2021-08-20", to_school_code="42")
    assert [field for field, _ in refused(malformed)] == ["to_school_code"]
    assert refused(
        _event(api, county.headers, code, "promoted", "2021-08-20", to_school_code=OTHER_SCHOOL)
    ) == [("to_school_code", "not_allowed")]
    assert refused(
        _event(api, county.headers, code, "transferred_out", "2021-08-20", to_school_code=SCHOOL)
    ) == [("to_school_code", "same_school")]
    # Nothing was recorded by the refusals.
    assert session.exec(select(StatusEvent)).all() == []
    assert api.get(f"/v1/students/{code}", headers=county.headers).json()["school_status"] == "in_attendance"
    left = _event(api, county.headers, code, "transferred_out", "2021-08-20", to_school_code=OTHER_SCHOOL)
    assert left.status_code == 201
    (row,) = session.exec(select(StatusEvent)).all()
    assert (row.event, row.school_code, row.to_school_code) == ("transferred_out", SCHOOL, OTHER_SCHOOL)
    history = api.get(f"/v1/students/{code}/events", headers=county.headers).json()
    assert history["events"][0]["to_school_code"] == OTHER_SCHOOL


def test_only_the_named_school_takes_a_student_in(
    api: TestClient, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student(status="in_attendance").code
    province = make_caller(role="province", jurisdiction="41", scopes="students:read students:write")
    left = _event(api, province.headers, code, "transferred_out", "2021-08-20", to_school_code=OTHER_SCHOOL)
    assert left.status_code == 201
    # Any other school, here or elsewhere, posting transferred_in to itself learns nothing: its
    # answer is the one for a code never issued, and the student stays where they are.
    never = "L41010220140307" + ("0000" if not code.endswith("0000") else "0001")
    for school, region in (("4401060001", "440106"), ("4201020008", "420102"), ("4101020002", "410102")):
        intruder = make_caller(role="school", jurisdiction=school, scopes="students:read students:write")
        move = {"school_code": school, "school_region": region}
        taken = _event(api, intruder.headers, code, "transferred_in", "2021-09-01", **move)
        unknown = _event(api, intruder.headers, never, "transferred_in", "2021-09-01", **move)
        assert taken.status_code == 404, (school, taken.text)
        assert {k: v for k, v in taken.json().items() if k not in ("instance", "request_id")} == {
            k: v for k, v in unknown.json().items() if k not in ("instance", "request_id")
        }
    # Nor may the receiving side's authority take the student in on the school's behalf.
    hubei = make_caller(role="province", jurisdiction="42", scopes="students:write")
    named_move = {"school_code": OTHER_SCHOOL, "school_region": "420102"}
    assert _event(api, hubei.headers, code, "transferred_in", "2021-09-01", **named_move).status_code == 404
    # The holder still has the student, and cannot divert them to another of its own schools.
    assert (
        api.get(f"/v1/students/{code}", headers=province.headers).json()["school_status"] == "transferred_out"
    )
    diverted = _event(
        api,
        province.headers,
        code,
        "transferred_in",
        "2021-09-01",
        school_code="4101020002",
        school_region="410102",
    )
    assert diverted.status_code == 409 and diverted.json()["type"].endswith("wrong-destination")
    assert diverted.json()["to_school_code"] == OTHER_SCHOOL
    # The named school takes the student in, though it cannot otherwise see them.
    receiver = make_caller(role="school", jurisdiction=OTHER_SCHOOL, scopes="students:read students:write")
    assert api.get(f"/v1/students/{code}", headers=receiver.headers).status_code == 404
    arrived = _event(api, receiver.headers, code, "transferred_in", "2021-09-01", **named_move)
    assert arrived.status_code == 201, arrived.text
    assert api.get(f"/v1/students/{code}", headers=province.headers).status_code == 404


def test_a_departure_recorded_without_a_destination_is_taken_in_by_its_holder_only(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    # Events recorded before departures named a destination: the student waits in transferred_out
    # and no school is named. Only the holder may take them in.
    student = seed_student(status="transferred_out")
    assert student.person.id is not None
    session.add(
        StatusEvent(
            person_id=student.person.id,
            event="transferred_out",
            from_status="in_attendance",
            to_status="transferred_out",
            effective_date=date(2021, 8, 20),
            school_code=SCHOOL,
            region="410102",
            recorded_by="before",
            recorded_at=datetime(2021, 8, 20, tzinfo=UTC),
        )
    )
    session.commit()
    move = {"school_code": OTHER_SCHOOL, "school_region": "420102"}
    receiver = make_caller(role="school", jurisdiction=OTHER_SCHOOL, scopes="students:write")
    assert (
        _event(api, receiver.headers, student.code, "transferred_in", "2021-09-01", **move).status_code == 404
    )
    county = make_caller(role="county", jurisdiction="410102", scopes="students:write")
    nearby = {"school_code": "4101020002", "school_region": "410102"}
    assert (
        _event(api, county.headers, student.code, "transferred_in", "2021-09-01", **nearby).status_code == 201
    )


def test_old_and_merged_codes_resolve_to_the_current_holder(
    api: TestClient, session: Session, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    survivor = seed_student(status="in_attendance")
    duplicate = seed_student(name="张小明")
    caller = make_caller(role="county", jurisdiction="410102", scopes="students:read students:write")
    # An event recorded on the duplicate before the merge stays in the merged history.
    assert _event(api, caller.headers, duplicate.code, "enrolled", "2020-09-01").status_code == 201
    merge_into(session, survivor.person, duplicate.person)
    promoted = idgen.promote_code(session, survivor.code, target="J", actor="test", reason="no_id_number")
    session.commit()
    for asked, status in (
        (survivor.code, "superseded"),
        (duplicate.code, "alias"),
        (promoted.new_code, "current"),
    ):
        body = api.get(f"/v1/students/{asked}", headers=caller.headers).json()
        assert (body["code"], body["requested_code"], body["requested_code_status"]) == (
            promoted.new_code,
            asked,
            status,
        )
        assert body["name"] == "张晓明"
    # An event through the merged-away code lands on the survivor.
    assert _event(api, caller.headers, duplicate.code, "promoted", "2021-09-01").status_code == 201
    history = api.get(f"/v1/students/{duplicate.code}/events", headers=caller.headers).json()
    assert history["code"] == promoted.new_code
    assert [e["event"] for e in history["events"]] == ["enrolled", "promoted"]
    rows = session.exec(select(StatusEvent).where(StatusEvent.event == "promoted")).all()
    assert [r.person_id for r in rows] == [survivor.person.id]


def test_a_later_stage_enrolment_at_another_school_keeps_the_code(
    api: TestClient, make_caller: MakeCaller, seed_student: SeedStudent
) -> None:
    code = seed_student(status="graduated").code
    county = make_caller(role="county", jurisdiction="410102", scopes="students:read students:write")
    half = _event(api, county.headers, code, "enrolled", "2021-09-01", school_code="4101020009")
    assert half.status_code == 422 and {e["field"] for e in half.json()["errors"]} == {"school_region"}
    # The county may not enrol its graduate at a school outside its jurisdiction.
    away = _event(
        api, county.headers, code, "enrolled", "2021-09-01", school_code=OTHER_SCHOOL, school_region="420102"
    )
    assert away.status_code == 403
    moved = _event(
        api, county.headers, code, "enrolled", "2021-09-01", school_code="4101020009", school_region="410102"
    )
    assert moved.status_code == 201, moved.text
    body = api.get(f"/v1/students/{code}", headers=county.headers).json()
    assert (body["code"], body["school_code"], body["school_status"]) == (code, "4101020009", "in_attendance")
