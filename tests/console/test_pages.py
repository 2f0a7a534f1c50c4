"""The console in-process: sign-in, jurisdiction, the comparison, decisions with CSRF, undo, audit."""

from __future__ import annotations

import re
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.app import create_app
from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from gateway.persons.models import Person
from gateway.settings import Settings
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.console import ConsoleReviewer, county_reviewer
from tests.fixtures.registrations import CHILD, held_registration, post_registration
from tests.fixtures.staff import add_staff


def _sign_in(api: TestClient, who: ConsoleReviewer) -> None:
    reply = api.post("/console/login", data=who.login, follow_redirects=False)
    assert reply.status_code == 303, reply.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_pages_need_a_sign_in(console: TestClient) -> None:
    reply = console.get("/console/queue", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/console/login")
    assert console.get("/console/login").status_code == 200


def test_wrong_secret_and_wrong_role_are_refused(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    reviewer = county_reviewer(console, committed_context)
    bad = console.post("/console/login", data={**reviewer.login, "password": "nope"})
    assert bad.status_code == 401 and "gw_console" not in bad.cookies
    # A client's own secret signs nobody in: the console is for named people.
    shared = console.post(
        "/console/login", data={"login": reviewer.client_id, "password": reviewer.client.secret}
    )
    assert shared.status_code == 401 and "gw_console" not in shared.cookies
    school = register_caller(
        console, committed_context.engine, role="school", jurisdiction="4101020001", scopes="students:read"
    )
    clerk = add_staff(committed_context.engine, school.client_id, "entry_clerk")
    refused = console.post("/console/login", data={"login": clerk.login, "password": clerk.password})
    assert refused.status_code == 403 and "reviewers" in refused.text


def test_cookie_is_httponly_and_strict(console: TestClient, committed_context: AppContext) -> None:
    reviewer = county_reviewer(console, committed_context)
    reply = console.post(
        "/console/login",
        data=reviewer.login,
        follow_redirects=False,
    )
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert "secure" not in cookie  # plain http here
    over_tls = console.post(
        "https://testserver/console/login",
        data=reviewer.login,
        follow_redirects=False,
    )
    assert "; secure" in over_tls.headers["set-cookie"].lower()


def test_console_pages_send_security_headers(console: TestClient, committed_context: AppContext) -> None:
    for path in ("/console/login", "/console/queue", "/console/static/console.css"):
        reply = console.get(path, follow_redirects=False)
        assert reply.headers["x-frame-options"] == "DENY", path
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "same-origin"
        policy = reply.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "script-src" not in policy
        assert "strict-transport-security" not in reply.headers  # a development gateway over http
    # The pages hold nothing the policy would block: no script, no inline style, nothing from elsewhere.
    page = console.get("/console/login").text
    assert "<script" not in page and "style=" not in page and "<style" not in page
    assert "content-security-policy" not in console.get("/healthz").headers


def _with_settings(context: AppContext, settings: Settings) -> AppContext:
    """The same process's context under other settings (``replace`` leaves the services behind)."""
    other = replace(context, settings=settings)
    other.services = context.services
    return other


def test_cookie_is_secure_behind_a_tls_proxy(console: TestClient, committed_context: AppContext) -> None:
    # Production (PostgreSQL, listening beyond loopback) behind a proxy that terminates TLS: the request
    # arrives as plain http, and the cookie must still be Secure and HSTS sent.
    reviewer = county_reviewer(console, committed_context)
    production = Settings(
        data_dir=committed_context.settings.data_dir,
        migrate_on_start=False,
        database_url="postgresql+psycopg://gateway@db.internal/gateway",
        host="0.0.0.0",  # noqa: S104 - a setting compared, nothing is bound
    )
    app = create_app(context=_with_settings(committed_context, production))
    with TestClient(app) as behind_proxy:
        reply = behind_proxy.post(
            "/console/login",
            data=reviewer.login,
            follow_redirects=False,
        )
    assert reply.status_code == 303
    assert "; secure" in reply.headers["set-cookie"].lower()
    assert reply.headers["strict-transport-security"].startswith("max-age=")
    configured_off = Settings(data_dir=committed_context.settings.data_dir, console_cookie_secure=False)
    app = create_app(context=_with_settings(committed_context, configured_off))
    with TestClient(app) as explicit:
        reply = explicit.post(
            "https://testserver/console/login",
            data=reviewer.login,
            follow_redirects=False,
        )
    assert "secure" not in reply.headers["set-cookie"].lower()


def test_forms_posted_from_another_site_are_refused(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    reviewer = county_reviewer(console, committed_context)
    elsewhere = {"Origin": "https://attacker.example"}
    assert console.post("/console/login", data=reviewer.login, headers=elsewhere).status_code == 403
    _sign_in(console, reviewer)
    _code, problem_id = held_registration(console, province)
    token = _csrf(console.get(f"/console/problems/{problem_id}").text)
    forged = console.post(
        f"/console/problems/{problem_id}/decision",
        data={"decision": "same_person", "csrf": token},
        headers=elsewhere,
    )
    assert forged.status_code == 403
    same_site = console.post(
        f"/console/problems/{problem_id}/decision",
        data={"decision": "needs_evidence", "csrf": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same_site.status_code == 303


def test_queue_shows_only_the_reviewers_county(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    _, mine = held_registration(console, province, "410102", "001")
    # Another child, born another day: nobody of county 410102 is a person of that record.
    _, other = held_registration(console, province, "410105", "002", birth_date="2015-03-07")
    _sign_in(console, county_reviewer(console, committed_context, "410102"))
    page = console.get("/console/queue").text
    assert f'data-problem-id="{mine}"' in page and f'data-problem-id="{other}"' not in page
    assert console.get(f"/console/problems/{other}").status_code == 404
    filtered = console.get("/console/queue?type=wrong_id").text
    assert f'data-problem-id="{mine}"' not in filtered
    assert f'data-problem-id="{mine}"' not in console.get("/console/queue?age=7").text


def test_comparison_masks_id_numbers_and_is_audited(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    _code, problem_id = held_registration(console, province)
    reviewer = county_reviewer(console, committed_context)
    _sign_in(console, reviewer)
    page = console.get(f"/console/problems/{problem_id}").text
    assert CHILD["id_number"] not in page
    assert "410102********" in page
    assert 'data-agreement="different"' in page and 'data-agreement="same"' in page
    assert "data-probability=" in page and "比对结果" in page
    with Session(committed_context.engine) as s:
        read = s.exec(select(AuditEvent).where(AuditEvent.action == "review.read")).one()
    assert read.object_ref == str(problem_id) and read.acting_user == reviewer.staff_id


def test_decision_needs_the_csrf_token_then_goes_through_the_review_service(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    _code, problem_id = held_registration(console, province)
    reviewer = county_reviewer(console, committed_context)
    _sign_in(console, reviewer)
    page = console.get(f"/console/problems/{problem_id}").text
    forged = console.post(
        f"/console/problems/{problem_id}/decision", data={"decision": "same_person", "csrf": "0" * 64}
    )
    assert forged.status_code == 403
    done = console.post(
        f"/console/problems/{problem_id}/decision",
        data={"decision": "same_person", "csrf": _csrf(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = console.get(done.headers["location"]).text
    assert "已记录决定：同一人。" in after and 'data-status="resolved"' in after
    again = console.post(
        f"/console/problems/{problem_id}/decision", data={"decision": "same_person", "csrf": _csrf(page)}
    )
    assert again.status_code == 409
    with Session(committed_context.engine) as s:
        assert len(s.exec(select(Person)).all()) == 1
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "review.same_person")).one()
    assert audit.acting_user == reviewer.staff_id


def test_merge_can_be_undone_from_the_console(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    reviewer = county_reviewer(console, committed_context)
    a = post_registration(console, province, CHILD, "u1").json()["code"]
    other = {
        **CHILD,
        "name": "陈思远",
        "id_type": "none",
        "guardian_name": "陈刚",
        "birth_date": "2015-01-01",
    }
    other.pop("id_number")
    b = post_registration(console, province, other, "u2").json()["code"]
    problem_id = console.post("/v1/reviews", json={"codes": [b, a]}, headers=reviewer.headers).json()["id"]
    _sign_in(console, reviewer)
    token = _csrf(console.get(f"/console/problems/{problem_id}").text)
    console.post(f"/console/problems/{problem_id}/decision", data={"decision": "same_person", "csrf": token})
    page = console.get(f"/console/problems/{problem_id}").text
    merge_id = re.search(r"/console/merges/(\d+)/undo", page)
    assert merge_id, "no undo form after a merge"
    undone = console.post(
        f"/console/merges/{merge_id.group(1)}/undo", data={"problem_id": problem_id, "csrf": token}
    )
    assert undone.status_code == 200 and "合并已撤销" in undone.text
    with Session(committed_context.engine) as s:
        assert {p.status for p in s.exec(select(Person)).all()} == {"active"}
        actions = s.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
    assert "merge.undo" in actions


def test_dashboard_counts_follow_a_decision(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    _code, problem_id = held_registration(console, province)
    _sign_in(console, county_reviewer(console, committed_context))

    def metric(name: str) -> int:
        page = console.get("/console/dashboard").text
        found = re.search(rf'data-metric="{name}" data-value="(\d+)"', page)
        assert found, name
        return int(found.group(1))

    assert (metric("problems_opened"), metric("problems_closed"), metric("backlog_0_7")) == (1, 0, 1)
    token = _csrf(console.get(f"/console/problems/{problem_id}").text)
    console.post(
        f"/console/problems/{problem_id}/decision", data={"decision": "different_persons", "csrf": token}
    )
    assert (metric("problems_closed"), metric("backlog_0_7"), metric("codes_temporary")) == (1, 0, 2)


def test_logout_clears_the_session(console: TestClient, committed_context: AppContext) -> None:
    _sign_in(console, county_reviewer(console, committed_context))
    token = _csrf(console.get("/console/queue").text)
    out = console.post("/console/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303
    cleared = [h.lower() for h in out.headers.get_list("set-cookie") if h.startswith("gw_console=")]
    assert cleared and "max-age=0" in cleared[0]
    assert console.get("/console/queue", follow_redirects=False).status_code == 303


def test_ids_beyond_the_database_are_not_found_not_a_server_error(
    console: TestClient, committed_context: AppContext
) -> None:
    _sign_in(console, county_reviewer(console, committed_context))
    for url in ("/console/problems/18446744073709551616", "/console/problems/2147483648"):
        assert console.get(url).status_code in (404, 422), url


def test_dashboard_ranks_the_units_and_leads_down_to_the_schools(
    console: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    held_registration(console, province, "410102", "001")
    held_registration(console, province, "410105", "002", birth_date="2015-03-07")
    engine = committed_context.engine
    city = register_caller(console, engine, "reviewer", "4101", "reviews:read reports:read")
    wang = add_staff(engine, city.client_id, "city_reviewer", name="王芳")
    signed_in = console.post("/console/login", data={"login": wang.login, "password": wang.password})
    assert signed_in.status_code == 200
    page = console.get("/console/dashboard").text
    counties = dict(re.findall(r'<tr data-unit="(\d+)" data-rank="(\d+)"', page))
    # Every county the register expects students of is a unit; 二七区 (410103) has submitted none
    # of them, so it lags most.
    assert sorted(counties) == ["410102", "410103", "410105"]
    assert sorted(counties.values()) == ["1", "2", "3"] and counties["410103"] == "1"
    link = re.search(r'href="(\?month=[\d-]+&region=410105#quality)"', page)
    assert link, "no way down to the county's schools"
    schools = console.get("/console/dashboard" + link.group(1)).text
    ranked = dict(re.findall(r'<tr data-unit="(\d+)" data-rank="(\d+)"', schools))
    # The county's four registered schools; the one with a student ranks after those with none.
    assert sorted(ranked) == ["4101050001", "4101050002", "4101050003", "4101050004"]
    assert ranked["4101050001"] == "4"
    # Outside the reader's city there is nothing to see.
    assert console.get("/console/dashboard?region=4103").status_code == 403
