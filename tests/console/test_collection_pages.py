"""The collection queue in the console: each level sees the submissions waiting for it, in Chinese,
and accepts or returns them with reasons, as the named person signed in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from gateway.batches import collection
from gateway.context import AppContext
from gateway.db import session_scope
from tests.fixtures.api import register_caller
from tests.fixtures.batches import child, to_csv
from tests.fixtures.schools import load_register
from tests.fixtures.staff import add_staff

SCHOOL, COUNTY = "4101020011", "410102"
REGISTER = (
    "school_code,name,region,type,levels,enrolment,active,run_by\n"
    f"{SCHOOL},郑州市中原区第十一小学,{COUNTY},primary,,2,,county\n"
)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no form on the page"
    return found.group(1)


def _sign_in(console: TestClient, login: str, password: str) -> str:
    reply = console.post("/console/login", data={"login": login, "password": password})
    assert reply.status_code == 200, reply.text
    return str(reply.url.path)


def test_each_level_works_its_queue_in_the_console(
    console: TestClient, committed_context: AppContext
) -> None:
    engine = committed_context.engine
    load_register(engine, REGISTER)
    with session_scope(engine) as session:
        collection.set_plan_step(session, region="41", step="school_checked", days=2, actor="test")
    school = register_caller(console, engine, role="school", jurisdiction=SCHOOL)
    clerk = add_staff(engine, school.client_id, "entry_clerk", name="刘芳")
    checker = add_staff(engine, school.client_id, "school_reviewer", name="孙丽")
    county = register_caller(console, engine, role="county", jurisdiction=COUNTY)
    reviewer = add_staff(engine, county.client_id, "county_reviewer", name="郑国华")
    rows = [
        {**child("王子涵", "1", "2016-09-01", "001", "王建国"), "school_code": SCHOOL},
        {**child("李雨桐", "2", "2017-03-15", "002", "李明"), "school_code": SCHOOL},
    ]
    submitted = console.post(
        "/v1/batches",
        content=to_csv(rows).encode(),
        headers={**clerk.headers(school), "Content-Type": "text/csv"},
    ).json()
    batch_id = submitted["id"]

    # The school's checker lands on the collection queue, in Chinese, with the submission and its due date.
    assert _sign_in(console, checker.login, checker.password) == "/console/collection"
    page = console.get("/console/collection").text
    assert "采集审核：待我审核的报送" in page and f'data-batch-id="{batch_id}"' in page
    assert "学校已报送" in page and "学校审核" in page
    assert 'data-testid="overdue"' not in page
    accepted = console.post(
        f"/console/collection/{batch_id}/review", data={"decision": "accept", "csrf": _csrf(page)}
    )
    assert accepted.status_code == 200 and 'data-done="accept"' in accepted.text
    assert f'data-batch-id="{batch_id}"' not in accepted.text  # no longer waiting for the school

    # The county's reviewer sees it next; a malformed row reason is refused, naming the field.
    _sign_in(console, reviewer.login, reviewer.password)
    page = console.get("/console/collection").text
    assert f'data-batch-id="{batch_id}"' in page and "县级审核" in page
    assert "孙丽（学校审核员）学校审核：通过" in page
    bad = console.post(
        f"/console/collection/{batch_id}/review",
        data={"decision": "reject", "rows": "第三行有误", "csrf": _csrf(page)},
    )
    assert bad.status_code == 422 and "rows" in bad.text
    returned = console.post(
        f"/console/collection/{batch_id}/review",
        data={"decision": "reject", "rows": "3：监护人姓名有误", "csrf": _csrf(page)},
    )
    assert returned.status_code == 200 and "已退回学校。" in returned.text
    status = console.get(f"/v1/batches/{batch_id}", headers=clerk.headers(school)).json()
    last = status["review"]["reviews"][-1]
    assert (last["staff_id"], last["staff_name"], last["rows"]) == (
        reviewer.staff_id,
        "郑国华",
        [{"row_number": 3, "reason": "监护人姓名有误"}],
    )
    assert status["review"]["step"] == "rejected" and status["status"] == "held"
