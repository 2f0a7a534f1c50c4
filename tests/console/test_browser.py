"""The console in a real browser (Playwright driving Debian's Chromium against a real server), in
Chinese as its users read it: a county reviewer signs in with their own account, sees only their
county's queue, decides a possible duplicate and sees the dashboard (progress and data quality)
change; the English pages are one click away. Screenshots of the queue, the comparison and the
dashboard are written to ``tests/artifacts/`` (or ``$GATEWAY_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.batches import collection
from gateway.context import AppContext
from gateway.db import session_scope
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.batches import child, to_csv
from tests.fixtures.console import county_reviewer
from tests.fixtures.registrations import held_registration
from tests.fixtures.schools import load_register
from tests.fixtures.server import serve_in_thread
from tests.fixtures.staff import add_staff

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _artifacts() -> Path:
    where = Path(os.environ.get("GATEWAY_TEST_ARTIFACTS") or Path(__file__).parents[1] / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        pytest.fail(
            "Chromium is not installed: run `apt-get update && apt-get install -y chromium` "
            "(make test does); never `playwright install`, which downloads browsers"
        )
    return found


@pytest.mark.slow
def test_county_reviewer_decides_a_duplicate_in_the_browser(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = _chromium()
    _, mine = held_registration(committed_api, province, "410102", "001")
    _, other = held_registration(committed_api, province, "410105", "002", birth_date="2015-03-07")
    reviewer = county_reviewer(committed_api, committed_context, "410102")
    shots = _artifacts()
    app = create_app(context=committed_context)
    with serve_in_thread(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            # A browser set to Chinese, as the clerks' and reviewers' are (it sends Accept-Language zh-CN).
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(f"{base}/console/queue")
            expect(page).to_have_url(f"{base}/console/login?next=%2Fconsole%2Fqueue&reason=please+sign+in")
            expect(page.locator("h1")).to_have_text("登录")
            page.fill("input[name=login]", reviewer.person.login)
            page.fill("input[name=password]", reviewer.person.password)
            page.click("main button[type=submit]")

            expect(page).to_have_url(f"{base}/console/queue")
            expect(page.locator("h1")).to_have_text("问题记录")
            expect(page.locator("[data-testid=who]")).to_contain_text("李娜")
            rows = page.locator("table[data-testid=queue] tbody tr[data-problem-id]")
            expect(rows).to_have_count(1)
            assert rows.first.get_attribute("data-problem-id") == str(mine)
            assert page.locator(f"tr[data-problem-id='{other}']").count() == 0
            assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.region)")) == {"410102"}
            page.screenshot(path=str(shots / "console-queue.png"), full_page=True)

            page.goto(f"{base}/console/dashboard")
            closed = page.locator("[data-metric=problems_closed]")
            backlog = page.locator("[data-metric=backlog_0_7]")
            expect(closed).to_have_text("0")
            expect(backlog).to_have_text("1")
            school = page.locator("table[data-testid=quality] tr[data-rank='1']")
            expect(school.locator("[data-field=problems_overdue]")).to_have_text("0")
            expect(page.locator("[data-chart=verification_rate]")).to_be_visible()

            page.goto(f"{base}/console/queue")
            page.click(f"tr[data-problem-id='{mine}'] a")
            expect(page.locator("table[data-testid=comparison]")).to_be_visible()
            expect(page.locator("td[data-agreement=different]").first).to_be_visible()
            page.screenshot(path=str(shots / "console-comparison.png"), full_page=True)
            page.click("button[name=decision][value=same_person]")
            expect(page.locator("[data-testid=notice]")).to_contain_text("同一人")
            expect(page.locator("[data-testid=problem-status]")).to_have_text("已处理")

            page.click("header nav >> text=统计看板")
            expect(closed).to_have_text("1")
            expect(backlog).to_have_text("0")
            expect(page.locator("h2#quality")).to_have_text("数据质量")
            page.screenshot(path=str(shots / "console-dashboard.png"), full_page=True)

            page.click("[data-testid=language]")
            expect(page.locator("h2#quality")).to_have_text("Data quality")
            page.goto(f"{base}/console/queue")
            expect(page.locator("h1")).to_have_text("Problem records")
            page.screenshot(path=str(shots / "console-queue-en.png"), full_page=True)
        finally:
            browser.close()
    for name in ("console-queue.png", "console-comparison.png", "console-dashboard.png"):
        assert (shots / name).stat().st_size > 10_000, name


@pytest.mark.slow
def test_each_level_works_the_collection_queue_in_the_browser(
    committed_api: TestClient, committed_context: AppContext
) -> None:
    """A school's checker passes a submission up; the county's reviewer sees it, with who checked it,
    and returns it with a reason for one row. Screenshots of both queues, in Chinese."""
    from playwright.sync_api import expect, sync_playwright

    executable = _chromium()
    engine = committed_context.engine
    school_code, county_code = "4101020011", "410102"
    load_register(
        engine,
        "school_code,name,region,type,levels,enrolment,active,run_by\n"
        f"{school_code},郑州市中原区第十一小学,{county_code},primary,,2,,county\n",
    )
    with session_scope(engine) as session:
        collection.set_plan_step(session, region="41", step="county_reviewed", days=5, actor="test")
    school = register_caller(committed_api, engine, role="school", jurisdiction=school_code)
    clerk = add_staff(engine, school.client_id, "entry_clerk", name="刘芳")
    checker = add_staff(engine, school.client_id, "school_reviewer", name="孙丽")
    county = register_caller(committed_api, engine, role="county", jurisdiction=county_code)
    reviewer = add_staff(engine, county.client_id, "county_reviewer", name="郑国华")
    rows = [
        {**child("王子涵", "1", "2016-09-01", "001", "王建国"), "school_code": school_code},
        {**child("李雨桐", "2", "2017-03-15", "002", "李明"), "school_code": school_code},
    ]
    submitted = committed_api.post(
        "/v1/batches",
        content=to_csv(rows).encode(),
        headers={**clerk.headers(school), "Content-Type": "text/csv"},
    )
    assert submitted.status_code == 202, submitted.text
    batch_id = submitted.json()["id"]
    shots = _artifacts()
    app = create_app(context=committed_context)
    with serve_in_thread(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:

            def sign_in(login: str, password: str) -> Any:
                context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(f"{base}/console/login")
                page.fill("input[name=login]", login)
                page.fill("input[name=password]", password)
                page.click("main button[type=submit]")
                return page

            page = sign_in(checker.login, checker.password)
            expect(page).to_have_url(f"{base}/console/collection")
            expect(page.locator("h1")).to_have_text("采集审核：待我审核的报送")
            row = page.locator(f"tr[data-batch-id='{batch_id}']")
            expect(row).to_contain_text("学校已报送")
            page.screenshot(path=str(shots / "console-collection-school.png"), full_page=True)
            page.click(f"tr[data-detail-of='{batch_id}'] [data-testid=accept]")
            expect(page.locator("[data-testid=notice]")).to_have_text("已审核通过。")
            expect(page.locator(f"tr[data-batch-id='{batch_id}']")).to_have_count(0)

            page = sign_in(reviewer.login, reviewer.password)
            page.click("header nav >> text=采集审核")
            row = page.locator(f"tr[data-batch-id='{batch_id}']")
            expect(row).to_contain_text("县级审核")
            detail = page.locator(f"tr[data-detail-of='{batch_id}']")
            expect(detail).to_contain_text("孙丽（学校审核员）学校审核：通过")
            page.screenshot(path=str(shots / "console-collection.png"), full_page=True)
            detail.locator("textarea[name=rows]").fill("3：监护人姓名有误")
            detail.locator("[data-testid=reject]").click()
            expect(page.locator("[data-testid=notice]")).to_have_text("已退回学校。")
            expect(page.locator(f"tr[data-batch-id='{batch_id}']")).to_have_count(0)
        finally:
            browser.close()
    status = committed_api.get(f"/v1/batches/{batch_id}", headers=clerk.headers(school)).json()
    assert status["review"]["step"] == "rejected"
    assert status["review"]["reviews"][-1]["staff_id"] == reviewer.staff_id
    for name in ("console-collection-school.png", "console-collection.png"):
        assert (shots / name).stat().st_size > 10_000, name
