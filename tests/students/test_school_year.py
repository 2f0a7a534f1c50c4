"""The close of a school year for a region: final grades graduate (a nine-year school's sixth grade
carries on), repeaters stay, everyone else is promoted; students outside the region, suspended or
already in the next year are left alone. Transfers are frozen until the close is done; the feed
carries every change at once; a second run changes nothing; a run that dies half-way resumes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from gateway.errors import InvalidInput
from gateway.students import schoolyear
from gateway.students.models import SchoolYearClose, StatusEvent
from tests.fixtures.api import ApiCaller
from tests.fixtures.handoff import BASIS, Child, MakeParty, cohort
from tests.fixtures.registrations import post_registration


@dataclass(frozen=True)
class Pupil:
    child: Child
    code: str
    school: str


# name: (school, region, grade, what the school recorded during the year, what the close does)
PUPILS: dict[str, tuple[str, str, int | None, str | None, str]] = {
    "primary_six": ("4101020001", "410102", 6, None, "graduated"),
    "nine_year_six": ("4101020002", "410102", 6, None, "promoted"),
    "junior_nine": ("4101050002", "410105", 9, None, "graduated"),
    "senior_eleven": ("4101050003", "410105", 11, None, "promoted"),
    "repeater": ("4101020001", "410102", 3, "repeated", "repeated"),
    "suspended": ("4101050003", "410105", 10, "suspended", "untouched"),
    "hubei": ("4201020001", "420102", 4, None, "untouched"),
    "new_entrant": ("4101030001", "410103", 1, "new_year", "untouched"),
    "no_grade": ("4101020001", "410102", None, None, "untouched"),  # registered before grades were kept
}
CLOSED = {name for name, spec in PUPILS.items() if spec[4] != "untouched"}


def _post(api: TestClient, caller: ApiCaller, url: str, body: dict[str, Any]) -> Any:
    return api.post(url, json=body, headers=caller.headers)


def _school_year(
    api: TestClient, context: AppContext, party: MakeParty
) -> tuple[dict[str, Pupil], ApiCaller]:
    """One pupil of each kind registered and enrolled through the API (over the tests' register)."""
    central = party("central", "CN", "registrations:write students:write students:read feed:read")
    pupils = {}
    for n, (child, (name, (school, region, grade, during, _))) in enumerate(
        zip(cohort(len(PUPILS)), PUPILS.items(), strict=True)
    ):
        body = {**child.identity(), "school_code": school, "school_region": region}
        if grade is not None:
            body["grade"] = grade
        registered = post_registration(api, central, body, f"year-{n}")
        assert registered.status_code == 201, registered.text
        code = registered.json()["code"]
        events = f"/v1/students/{code}/events"
        start = "2026-09-01" if during == "new_year" else "2025-09-01"
        assert _post(api, central, events, {"event": "enrolled", "effective_date": start}).status_code == 201
        if during in ("repeated", "suspended"):
            marked = _post(api, central, events, {"event": during, "effective_date": "2026-06-20"})
            assert marked.status_code == 201, marked.text
        pupils[name] = Pupil(child, code, school)
    return pupils, central


def _student(api: TestClient, caller: ApiCaller, pupil: Pupil) -> Any:
    return api.get(f"/v1/students/{pupil.code}", headers=caller.headers).json()


def _feed(api: TestClient, caller: ApiCaller, since: int) -> list[dict[str, Any]]:
    reply = api.get(f"/v1/feed?since={since}&limit=1000", headers=caller.headers)
    assert reply.status_code == 200, reply.text
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def _close_events(engine: Engine) -> list[tuple[int, str, int | None]]:
    with Session(engine) as session:
        rows = session.exec(
            select(StatusEvent).where(StatusEvent.school_year == 2026).order_by(col(StatusEvent.id))
        ).all()
        return [(e.person_id, e.event, e.grade) for e in rows]


def test_closing_a_year_graduates_promotes_and_keeps_repeaters(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    api, engine = handoff_api, committed_context.engine
    pupils, central = _school_year(api, committed_context, party)
    before = _feed(api, central, 0)
    since = before[-1]["version"]
    report = schoolyear.close_year(engine, region="4101", school_year=2026, actor="operator")
    assert (report.state, report.graduated, report.promoted, report.repeaters) == ("done", 2, 2, 1)
    assert report.changed_now == 5 and report.without_grade == 1
    after = {name: _student(api, central, pupil) for name, pupil in pupils.items()}
    expected = {
        "primary_six": ("graduated", 6),
        "nine_year_six": ("in_attendance", 7),
        "junior_nine": ("graduated", 9),
        "senior_eleven": ("in_attendance", 12),
        "repeater": ("in_attendance", 3),
        "suspended": ("suspended", 10),
        "hubei": ("in_attendance", 4),
        "new_entrant": ("in_attendance", 1),
        "no_grade": ("in_attendance", None),
    }
    assert {name: (s["school_status"], s["grade"]) for name, s in after.items()} == expected
    graduate_events = api.get(f"/v1/students/{pupils['junior_nine'].code}/events", headers=central.headers)
    last = graduate_events.json()["events"][-1]
    assert (last["event"], last["effective_date"], last["school_year"], last["grade"]) == (
        "graduated",
        "2026-07-31",
        2026,
        9,
    )
    # The feed carries every change of the close at once, each student once.
    changes = {(e["code"], e["detail"]) for e in _feed(api, central, since) if e["type"] == "status.changed"}
    assert changes == {(pupils[name].code, PUPILS[name][4]) for name in CLOSED}
    with Session(engine) as session:
        actions = session.exec(
            select(AuditEvent.action, AuditEvent.record_count)
            .where(col(AuditEvent.action).startswith("schoolyear."))
            .order_by(col(AuditEvent.id))
        ).all()
    assert [tuple(a) for a in actions] == [
        ("schoolyear.freeze", 1),
        ("schoolyear.graduated", 2),
        ("schoolyear.repeated", 1),
        ("schoolyear.promoted", 2),
        ("schoolyear.close", 5),
    ]
    # An upper stage admits the graduate at once, and its feed carries the graduation.
    senior_registry = party(
        "registry", "41", "handoff:write handoff:read feed:read", stage="senior_secondary"
    )
    graduate = pupils["junior_nine"]
    claimed = api.post(
        "/v1/handoff/claims",
        json={"code": graduate.code, "identity": graduate.child.identity()},
        headers={**senior_registry.headers, **BASIS},
    )
    assert claimed.status_code == 201, claimed.text
    assert "graduated" in [e["detail"] for e in _feed(api, senior_registry, 0)]
    # A second run changes nothing: no event, no feed entry, the same counts.
    events = _close_events(engine)
    again = schoolyear.close_year(engine, region="4101", school_year=2026, actor="operator")
    assert (again.changed_now, again.graduated, again.promoted, again.repeaters) == (0, 2, 2, 1)
    assert _close_events(engine) == events
    assert len(_feed(api, central, since)) == len(changes)
    # So does a close of the whole province for the same year: the city's students are done.
    province = schoolyear.close_year(engine, region="41", school_year=2026, actor="operator")
    assert province.changed_now == 0 and _close_events(engine) == events


def test_transfers_are_frozen_until_the_close_is_done(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    api, engine = handoff_api, committed_context.engine
    pupils, central = _school_year(api, committed_context, party)
    schoolyear.freeze(engine, region="4101", school_year=2026, actor="operator")
    pupil = pupils["senior_eleven"]
    leave = {"event": "transferred_out", "effective_date": "2026-07-02", "to_school_code": "4101030002"}
    frozen = _post(api, central, f"/v1/students/{pupil.code}/events", leave)
    assert frozen.status_code == 409, frozen.text
    body = frozen.json()
    assert body["type"].endswith("transfers-frozen") and body["frozen_region"] == "4101"
    assert "region 4101" in body["detail"] and "2025-2026" in body["detail"]
    # A school of another province applying for the child: refused, without naming where the child is.
    hubei_school = party("school", "4201020002", "transfers:write")
    application = {
        "code": pupil.code,
        "name": pupil.child.name,
        "birth_date": pupil.child.birth_date.isoformat(),
        "school_region": "420102",
    }
    refused = _post(api, hubei_school, "/v1/transfers", application)
    assert refused.status_code == 409 and "frozen_region" not in refused.json()
    assert "4101" not in refused.text and "410105" not in refused.text
    # Other status changes go on; a student of another region moves freely.
    hubei = pupils["hubei"]
    moved = _post(
        api,
        central,
        f"/v1/students/{hubei.code}/events",
        {**leave, "to_school_code": "4201020002"},
    )
    assert moved.status_code == 201, moved.text
    schoolyear.close_year(engine, region="4101", school_year=2026, actor="operator")
    after = _post(
        api, central, f"/v1/students/{pupil.code}/events", {**leave, "effective_date": "2026-09-02"}
    )
    assert after.status_code == 201, after.text
    assert _post(api, hubei_school, "/v1/transfers", application).status_code == 409  # not attending now


def test_a_year_is_closed_only_once_it_has_ended_and_for_a_known_region(
    committed_context: AppContext,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        schoolyear.close_year(committed_context.engine, region="4199", school_year=2031, actor="operator")
    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("region", "unknown_region"),
        ("year", "not_ended"),
    }
    with Session(committed_context.engine) as session:
        assert session.exec(select(SchoolYearClose)).first() is None


class Crash(RuntimeError):
    pass


@pytest.mark.postgres
def test_a_close_that_dies_half_way_resumes_where_it_stopped(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    api, engine = handoff_api, committed_context.engine
    pupils, central = _school_year(api, committed_context, party)

    def die(report: schoolyear.CloseReport) -> None:
        raise Crash(f"killed after {report.changed_now} students")

    with pytest.raises(Crash):
        schoolyear.close_year(
            engine, region="4101", school_year=2026, actor="operator", chunk=2, progress=die
        )
    with Session(engine) as session:
        close = session.exec(select(SchoolYearClose)).one()
        assert close.state == "running" and close.graduated + close.promoted + close.repeaters == 2
    assert len(_close_events(engine)) == 2
    # Still frozen: the close is not done.
    leave = {"event": "transferred_out", "effective_date": "2026-07-02", "to_school_code": "4101030002"}
    frozen = _post(api, central, f"/v1/students/{pupils['senior_eleven'].code}/events", leave)
    assert frozen.status_code == 409
    resumed = schoolyear.close_year(engine, region="4101", school_year=2026, actor="operator", chunk=2)
    assert (resumed.state, resumed.graduated, resumed.promoted, resumed.repeaters) == ("done", 2, 2, 1)
    assert resumed.changed_now == 3
    per_person = {}
    for person_id, _event, _grade in _close_events(engine):
        per_person[person_id] = per_person.get(person_id, 0) + 1
    assert sorted(per_person.values()) == [1] * len(CLOSED)


@pytest.mark.postgres
def test_two_closes_at_once_deal_with_each_student_once(
    handoff_api: TestClient, committed_context: AppContext, party: MakeParty
) -> None:
    engine = committed_context.engine
    _school_year(handoff_api, committed_context, party)
    reports: list[schoolyear.CloseReport] = []
    errors: list[BaseException] = []

    def run(region: str) -> None:
        try:
            reports.append(
                schoolyear.close_year(engine, region=region, school_year=2026, actor=region, chunk=1)
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(region,)) for region in ("4101", "4101", "41")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    events = _close_events(engine)
    assert len(events) == len(CLOSED) and len({p for p, _, _ in events}) == len(CLOSED)
    with Session(engine) as session:
        graduated = session.exec(
            select(func.count()).select_from(StatusEvent).where(StatusEvent.event == "graduated")
        ).one()
    assert graduated == 2
