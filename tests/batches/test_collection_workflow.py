"""One county's first collection, level by level (issue 19, docs/adr/019-collection-review-levels.md).

Two schools of Zhongyuan district (410102) submit through their named entry clerks: the first
(county-run) with a wrong ID number, which its checker passes and the county returns with a reason
for that row; the school corrects and resubmits, and the correction goes through every level again.
The second (city-run) is checked, reviewed by the county and signed off by the city. Nothing is
registered before a submission is accepted; accepted, it runs through the set-based batch path and
allocates codes. The circular, taken while the correction waits past the county's deadline, ranks the
first school as the lagging one, with its overdue review step; the audit names the person of each
step.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.batches import collection, service
from gateway.batches.models import BatchRow
from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.db import session_scope
from gateway.persons.models import Person
from gateway.privacy import mask_id_number
from gateway.registry.models import IdempotencyRecord
from gateway.reports import export, quality
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.batches import child, count, read_results, to_csv
from tests.fixtures.registrations import citizen
from tests.fixtures.schools import load_register
from tests.fixtures.staff import StaffMember, add_staff

COUNTY = "410102"
FIRST, SECOND = "4101020011", "4101020012"  # county-run; city-run (市直属)
OTHER_COUNTY = "410103"
REGISTER = (
    "school_code,name,region,type,levels,enrolment,active,run_by\n"
    f"{FIRST},郑州市中原区第十一小学,{COUNTY},primary,,3,,county\n"
    f"{SECOND},郑州市第十二小学,{COUNTY},primary,,2,,city\n"
    f"4101030001,郑州市二七区第一小学,{OTHER_COUNTY},primary,,,,\n"
)


def _at(school: str, **row: str) -> dict[str, str]:
    return {**row, "school_code": school, "school_region": COUNTY}


WRONG_ID = citizen(f"{COUNTY}20150408024")
FIRST_ROWS = [
    _at(FIRST, **child("王子涵", "1", "2016-09-01", "001", "王建国")),
    _at(FIRST, **child("李雨桐", "2", "2017-03-15", "002", "李明")),
    # The ID number of a child born a year earlier: a wrong ID the county sends back.
    _at(FIRST, **child("陈思琪", "2", "2016-04-08", "024", "陈刚", id_number=WRONG_ID)),
]
CORRECTED_ROWS = [*FIRST_ROWS[:2], _at(FIRST, **child("陈思琪", "2", "2016-04-08", "024", "陈刚"))]
SECOND_ROWS = [
    _at(SECOND, **child("张浩然", "1", "2015-11-20", "013", "张伟")),
    _at(SECOND, **child("赵宇轩", "1", "2017-07-30", "035", "赵磊")),
]
WRONG_LINE = 4  # the third record, under the header line


class County:
    """The people of one county's collection, each a named staff account acting through its client."""

    def __init__(self, api: TestClient, ctx: AppContext) -> None:
        engine = ctx.engine
        self.api = api
        self.clients: dict[str, ApiCaller] = {}
        self.people: dict[str, StaffMember] = {}

        def person(key: str, role: str, jurisdiction: str, client_role: str, name: str) -> None:
            if jurisdiction not in self.clients:
                self.clients[jurisdiction] = register_caller(
                    api, engine, role=client_role, jurisdiction=jurisdiction
                )
            member = add_staff(engine, self.clients[jurisdiction].client_id, role, name=name)
            self.people[key] = member

        person("clerk_first", "entry_clerk", FIRST, "school", "刘芳")
        person("checker_first", "school_reviewer", FIRST, "school", "孙丽")
        person("clerk_second", "entry_clerk", SECOND, "school", "周敏")
        person("checker_second", "school_reviewer", SECOND, "school", "吴强")
        person("county", "county_reviewer", COUNTY, "county", "郑国华")
        person("city", "city_reviewer", "4101", "city", "马文静")
        person("other_county", "county_reviewer", OTHER_COUNTY, "county", "何军")

    def headers(self, key: str) -> dict[str, str]:
        member = self.people[key]
        client = next(c for c in self.clients.values() if c.client_id == member.client_id)
        return member.headers(client)

    def submit(self, key: str, rows: list[dict[str, str]], replaces: str | None = None) -> Any:
        reply = self.api.post(
            "/v1/batches" + (f"?replaces={replaces}" if replaces else ""),
            content=to_csv(rows).encode(),
            headers={**self.headers(key), "Content-Type": "text/csv"},
        )
        assert reply.status_code == 202, reply.text
        return reply.json()

    def review(self, key: str, batch_id: str, expect: int = 200, **body: Any) -> Any:
        reply = self.api.post(f"/v1/batches/{batch_id}/reviews", json=body, headers=self.headers(key))
        assert reply.status_code == expect, reply.text
        return reply.json()

    def queue(self, key: str) -> list[str]:
        reply = self.api.get("/v1/collection/queue", headers=self.headers(key))
        assert reply.status_code == 200, reply.text
        return [s["batch_id"] for s in reply.json()["submissions"]]


def _registered(ctx: AppContext) -> int:
    return count(ctx, Person)


def _run(ctx: AppContext, batch_id: str) -> service.RunReport:
    return service.run_batch(ctx.engine, ctx.services.registry, batch_id)


def test_a_county_collects_level_by_level(batch_api: TestClient, committed_context: AppContext) -> None:
    ctx = committed_context
    load_register(ctx.engine, REGISTER)
    with session_scope(ctx.engine) as session:
        collection.set_plan_step(session, region="41", step="school_checked", days=3, actor="test")
        collection.set_plan_step(session, region="41", step="county_reviewed", days=5, actor="test")
    county = County(batch_api, ctx)

    # The first school's clerk submits: held, nothing registered, the rows unrun.
    first = county.submit("clerk_first", FIRST_ROWS)
    assert (first["status"], first["review_step"]) == ("held", "submitted")
    assert _run(ctx, first["id"]).claimed is False
    assert _registered(ctx) == 0

    # Only the school's checker takes the first step: the county inside its jurisdiction is the
    # wrong level (403); another county, or the other school's checker, sees no such submission.
    wrong_level = county.review("county", first["id"], 403, decision="accept")
    assert "school_checked" in wrong_level["detail"]
    absent = county.review("other_county", "bt_0000000000000000", 404, decision="accept")
    for outsider in ("other_county", "checker_second"):
        hidden = county.review(outsider, first["id"], 404, decision="accept")
        assert hidden["detail"] == absent["detail"]
    assert first["id"] not in county.queue("county")

    checked = county.review("checker_first", first["id"], decision="accept")
    assert (checked["step"], checked["waiting_for"], checked["taken_by"]) == (
        "school_checked",
        "county_reviewed",
        "county_reviewer",
    )
    assert county.queue("county") == [first["id"]]
    assert county.queue("city") == []

    # The county returns it with the wrong row named; a row the submission lacks is refused first.
    unknown_row = county.review(
        "county", first["id"], 422, decision="reject", rows=[{"row_number": 99, "reason": "?"}]
    )
    assert unknown_row["errors"][0]["field"] == "rows[0].row_number"
    county.review("county", first["id"], 422, decision="reject")  # no reason at all
    returned = county.review(
        "county",
        first["id"],
        decision="reject",
        reason="一名学生身份证号有误",
        rows=[{"row_number": WRONG_LINE, "reason": f"身份证号 {WRONG_ID} 与出生日期不符"}],
    )
    assert (returned["step"], returned["waiting_for"]) == ("rejected", "submitted")
    assert _registered(ctx) == 0
    # The school's clerk reads why on the batch's status.
    status = batch_api.get(f"/v1/batches/{first['id']}", headers=county.headers("clerk_first")).json()
    assert "review" in status, status
    rejection = status["review"]["reviews"][-1]
    assert (rejection["decision"], rejection["staff_name"], rejection["rows"]) == (
        "reject",
        "郑国华",
        [{"row_number": WRONG_LINE, "reason": f"身份证号 {mask_id_number(WRONG_ID)} 与出生日期不符"}],
    )
    assert WRONG_ID not in json.dumps(status, ensure_ascii=False)
    # Returned, nothing waits for a reviewer: a second decision is a conflict.
    county.review("county", first["id"], 409, decision="accept")

    # The school corrects the row and submits again: the correction starts over at the school.
    corrected = county.submit("clerk_first", CORRECTED_ROWS, replaces=first["id"])
    assert corrected["status"] == "held"
    again = batch_api.get(f"/v1/batches/{first['id']}", headers=county.headers("clerk_first")).json()
    assert again["review"]["step"] == "resubmitted"
    county.review("county", corrected["id"], 403, decision="accept")
    county.review("checker_first", corrected["id"], decision="accept")

    # The second, city-run school: checked, reviewed by the county, then signed off by the city.
    second = county.submit("clerk_second", SECOND_ROWS)
    county.review("checker_second", second["id"], decision="accept")
    assert county.queue("county") == [corrected["id"], second["id"]]
    reviewed = county.review("county", second["id"], decision="accept", reason="数据齐全")
    assert (reviewed["step"], reviewed["waiting_for"]) == ("county_reviewed", "city_reviewed")
    assert county.queue("city") == [second["id"]]
    assert _run(ctx, second["id"]).claimed is False  # not accepted yet: still held
    signed = county.review("city", second["id"], decision="accept")
    assert (signed["step"], signed["waiting_for"]) == ("accepted", None)
    report = _run(ctx, second["id"])
    assert report.finished and report.rows_worked == 2
    second_status = batch_api.get(f"/v1/batches/{second['id']}", headers=county.headers("clerk_second"))
    assert second_status.json()["counts"] == {"issued": 2}
    assert _registered(ctx) == 2

    # The circular, six days on: the first school's correction has waited past the county's five
    # days, and it has none of its three students registered; it lags most.
    later = utcnow() + timedelta(days=6)
    with Session(ctx.engine) as session:
        report_q = quality.quality_report(session, COUNTY, day=None, deadline_days=30, now=later)
    ranked = {u.unit: u for u in report_q.units}
    assert ranked[FIRST].lag_rank == 1 and ranked[SECOND].lag_rank == 2
    assert (ranked[FIRST].submitted, ranked[FIRST].expected, ranked[FIRST].review_steps_overdue) == (0, 3, 1)
    assert (
        ranked[SECOND].submitted,
        ranked[SECOND].completion_rate,
        ranked[SECOND].review_steps_overdue,
    ) == (
        2,
        1.0,
        0,
    )
    assert report_q.total.review_steps_overdue == 1
    lines = export.circular_csv(report_q, None, lagging=1).splitlines()
    header = lines[0].split(",")
    first_line = dict(zip(header, lines[1].split(","), strict=False))
    assert (first_line["unit"], first_line["lagging"], first_line["review_steps_overdue"]) == (
        FIRST,
        "yes",
        "1",
    )
    # Today, within the deadline, nothing is overdue.
    with Session(ctx.engine) as session:
        today = quality.quality_report(session, COUNTY, day=None, deadline_days=30)
    assert today.total.review_steps_overdue == 0

    # The county accepts the correction: the county-run school's last level; its codes are allocated.
    accepted = county.review("county", corrected["id"], decision="accept")
    assert accepted["step"] == "accepted"
    assert _run(ctx, corrected["id"]).finished
    results = read_results(
        batch_api.get(
            f"/v1/batches/{corrected['id']}/results.csv", headers=county.headers("clerk_first")
        ).text
    )
    assert [r["outcome"] for r in results] == ["issued"] * 3
    assert all(r["code"] for r in results)
    assert _registered(ctx) == 5
    # The returned submission never ran: no row of it was registered, under any key.
    with Session(ctx.engine) as session:
        pending = session.exec(select(BatchRow.status).where(BatchRow.batch_id == first["id"])).all()
        assert set(pending) == {"pending"}
        keys = session.exec(
            select(IdempotencyRecord.key).where(col(IdempotencyRecord.key).startswith(f"batch:{first['id']}"))
        ).all()
        assert keys == []

    # The audit names the person of every step.
    people = {key: member.staff_id for key, member in county.people.items()}
    with Session(ctx.engine) as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).in_(["batch.submit", "collection.accept", "collection.reject"]))
            .order_by(col(AuditEvent.id))
        ).all()
    trail = [(e.action, e.object_ref, e.acting_user) for e in events]
    assert trail == [
        ("batch.submit", first["id"], people["clerk_first"]),
        ("collection.accept", f"{first['id']}/school_checked", people["checker_first"]),
        ("collection.reject", f"{first['id']}/county_reviewed", people["county"]),
        ("batch.submit", corrected["id"], people["clerk_first"]),
        ("collection.accept", f"{corrected['id']}/school_checked", people["checker_first"]),
        ("batch.submit", second["id"], people["clerk_second"]),
        ("collection.accept", f"{second['id']}/school_checked", people["checker_second"]),
        ("collection.accept", f"{second['id']}/county_reviewed", people["county"]),
        ("collection.accept", f"{second['id']}/city_reviewed", people["city"]),
        ("collection.accept", f"{corrected['id']}/county_reviewed", people["county"]),
    ]
