"""Named people acting through clients: staff accounts, ``X-Staff-Id``, the retired ``X-Acting-User``,
narrower jurisdictions and scopes, and the ``gateway staff`` commands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from gateway.audit.models import AuditEvent
from gateway.auth import staff
from gateway.auth.models import StaffAccount
from gateway.cli import app
from gateway.context import AppContext
from gateway.errors import InvalidInput
from gateway.persons.models import Person
from gateway.registry.service import new_person
from tests.fixtures.api import MakeCaller, register_caller
from tests.fixtures.registrations import CHILD, post_registration
from tests.fixtures.staff import add_staff


def _person_in(session: Session, region: str) -> str:
    person = new_person(session, region=region, school_code=None, birth_date=date(2016, 5, 4), actor="seed")[
        0
    ]
    session.commit()
    return person.current_code


@dataclass(frozen=True)
class _Named:
    """A caller's headers with a person named (what ``post_registration`` sends)."""

    headers: dict[str, str]


def _refused_fields(error: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {e.field: e.code for e in error.value.errors}


def test_a_staff_account_keeps_an_argon2id_hash_and_shows_the_password_once(
    session: Session, make_caller: MakeCaller
) -> None:
    county = make_caller(role="county", jurisdiction="410102")
    li = add_staff(session, county.client_id, "county_reviewer", name="李娜")
    stored = session.get(StaffAccount, li.staff_id)
    assert stored is not None and stored.name == "李娜" and stored.jurisdiction == "410102"
    assert stored.password_hash.startswith("$argon2id$") and li.password not in stored.password_hash
    assert staff.verify_password(li.password, stored.password_hash)
    assert not staff.verify_password(li.password + "x", stored.password_hash)


def test_staff_accounts_refuse_bad_fields_naming_each(session: Session, make_caller: MakeCaller) -> None:
    city = make_caller(role="city", jurisdiction="4101")
    add_staff(session, city.client_id, "city_reviewer", login="wang.fang")

    def refused(**fields: object) -> dict[str, str]:
        values: dict[str, object] = {
            "client_id": city.client_id,
            "login": "zhao.lei",
            "name": "赵磊",
            "role": "county_reviewer",
            "jurisdiction": "410102",
            "school_region": lambda code: None,
            **fields,
        }
        with pytest.raises(InvalidInput) as error:
            staff.add_staff(session, **values)  # type: ignore[arg-type]
        return _refused_fields(error)

    assert refused(login="wang.fang") == {"login": "taken"}
    assert refused(login="Zhao Lei", name=" ") == {"login": "invalid", "name": "invalid"}
    assert refused(role="principal") == {"role": "unknown_role"}
    # Outside the client's jurisdiction, or at a level the role does not work at.
    assert refused(jurisdiction="420102") == {"jurisdiction": "outside_client"}
    assert refused(jurisdiction="41") == {"jurisdiction": "outside_client"}
    assert refused(role="county_reviewer", jurisdiction="4101") == {"jurisdiction": "role_mismatch"}
    # A school the register cannot place inside the city; one it places there is accepted.
    assert refused(role="school_reviewer", jurisdiction="4101020001") == {"jurisdiction": "outside_client"}
    assert refused(
        role="school_reviewer", jurisdiction="4201020001", school_region=lambda code: "420102"
    ) == {"jurisdiction": "outside_client"}
    placed = add_staff(
        session, city.client_id, "school_reviewer", "4101020001", school_region=lambda code: "410102"
    )
    assert session.get(StaffAccount, placed.staff_id) is not None
    partner = make_caller(role="partner", jurisdiction="CN", scopes="codes:validate")
    with pytest.raises(InvalidInput) as error:
        add_staff(session, partner.client_id, "province_operator", "41")
    assert _refused_fields(error) == {"client": "not_an_education_client"}
    assert session.exec(select(StaffAccount).where(StaffAccount.login == "zhao.lei")).first() is None


def test_the_named_person_is_in_the_audit_row_and_narrows_jurisdiction_and_scopes(
    api: TestClient, session: Session, make_caller: MakeCaller
) -> None:
    inside, beside = _person_in(session, "410102"), _person_in(session, "410105")
    city = make_caller(role="city", jurisdiction="4101")
    li = add_staff(session, city.client_id, "county_reviewer", "410102")
    # The client alone reaches both counties; the county reviewer acting through it, only their own.
    assert api.get(f"/v1/codes/{beside}", headers=city.headers).status_code == 200
    assert api.get(f"/v1/codes/{inside}", headers=li.headers(city)).status_code == 200
    outside = api.get(f"/v1/codes/{beside}", headers=li.headers(city))
    assert outside.status_code == 404
    # A reviewer enters nobody: registrations:write is beyond their workflow role, whatever the client holds.
    body = {**CHILD, "school_code": "4101020001", "school_region": "410102"}
    entered = api.post(
        "/v1/registrations", json=body, headers={**li.headers(city), "Idempotency-Key": "li-1"}
    )
    assert entered.status_code == 403 and "registrations:write" in entered.json()["detail"]
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.action == "code.resolve").order_by(col(AuditEvent.id))
    ).all()
    assert [(r.client_id, r.acting_user) for r in rows] == [
        (city.client_id, None),
        (city.client_id, li.staff_id),
    ]


def test_a_staff_id_that_is_unknown_foreign_or_disabled_is_refused_and_changes_nothing(
    committed_api: TestClient, committed_context: AppContext
) -> None:
    api, engine = committed_api, committed_context.engine
    province = register_caller(api, engine, role="province", jurisdiction="41")
    other = register_caller(api, engine, role="province", jurisdiction="42")
    clerk = add_staff(engine, province.client_id, "entry_clerk", "410102")
    foreign = add_staff(engine, other.client_id, "entry_clerk", "420102")
    gone = add_staff(engine, province.client_id, "entry_clerk", "410102")
    with Session(engine) as s:
        staff.disable_staff(s, gone.staff_id)
        s.commit()
    answers = {}
    for label, named in (
        ("unknown", "st_000000000000"),
        ("foreign", foreign.staff_id),
        ("disabled", gone.staff_id),
    ):
        headers = {**province.headers, "X-Staff-Id": named}
        reply = post_registration(api, _Named(headers), CHILD, f"k-{label}")
        assert reply.status_code == 422, (label, reply.text)
        answers[label] = [(e["field"], e["code"]) for e in reply.json()["errors"]]
    assert answers == {
        "unknown": [("X-Staff-Id", "unknown_staff")],
        # Another client's person answers exactly as nobody does.
        "foreign": [("X-Staff-Id", "unknown_staff")],
        "disabled": [("X-Staff-Id", "staff_disabled")],
    }
    with Session(engine) as s:
        assert s.exec(select(Person)).all() == []
    registered = post_registration(api, _Named(clerk.headers(province)), CHILD, "k-ok")
    assert registered.status_code < 300, registered.text
    with Session(engine) as s:
        made = s.exec(select(AuditEvent).where(AuditEvent.action == "registration.create")).one()
    assert made.acting_user == clerk.staff_id


def test_the_self_asserted_header_is_retired(
    api: TestClient, session: Session, make_caller: MakeCaller
) -> None:
    code = _person_in(session, "410102")
    county = make_caller(role="county", jurisdiction="410102", scopes="codes:read")
    reply = api.get(f"/v1/codes/{code}", headers={**county.headers, "X-Acting-User": "li.reviewer"})
    assert reply.status_code == 422
    assert [(e["field"], e["code"]) for e in reply.json()["errors"]] == [("X-Acting-User", "retired")]
    assert "X-Staff-Id" in reply.json()["errors"][0]["message"]
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "code.resolve")).all() == []


def test_a_disabled_person_is_signed_out_of_the_console_at_once(
    api: TestClient, session: Session, make_caller: MakeCaller
) -> None:
    reviewer = make_caller(role="reviewer", jurisdiction="410102", scopes="reviews:read reports:read")
    li = add_staff(session, reviewer.client_id, "county_reviewer")
    signed_in = api.post(
        "/console/login", data={"login": li.login, "password": li.password}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    assert api.get("/console/queue").status_code == 200
    # The session's token names its person; naming another with X-Staff-Id on top is refused.
    session_token = api.cookies.get("gw_console")
    other = add_staff(session, reviewer.client_id, "county_reviewer")
    both = api.get(
        "/v1/reviews",
        headers={"Authorization": f"Bearer {session_token}", "X-Staff-Id": other.staff_id},
    )
    assert both.status_code == 422 and [e["field"] for e in both.json()["errors"]] == ["X-Staff-Id"]
    login = session.exec(select(AuditEvent).where(AuditEvent.action == "console.login")).one()
    assert (login.acting_user, login.object_ref) == (li.staff_id, li.staff_id)
    staff.disable_staff(session, li.staff_id)
    session.commit()
    page = api.get("/console/queue", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    again = api.post("/console/login", data={"login": li.login, "password": li.password})
    assert again.status_code == 403 and "disabled" in again.text


@pytest.fixture
def cli_env(
    fresh_db_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch, supplied_keys: None
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))


def test_staff_commands_add_list_disable_reset_and_are_audited(cli_env: None, fresh_db_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "clients",
            "create",
            "--name",
            "Zhengzhou",
            "--role",
            "city",
            "--jurisdiction",
            "4101",
            "--scopes",
            "all",
        ],
    )
    client_id = json.loads(created.stdout.strip().splitlines()[-1])["client_id"]
    add = [
        "staff", "add", "--client", client_id, "--login", "li.na", "--name", "李娜",
        "--role", "county_reviewer", "--jurisdiction", "410102",
    ]  # fmt: skip
    added = runner.invoke(app, add)
    assert added.exit_code == 0, added.output
    out = json.loads(added.stdout.strip().splitlines()[-1])
    assert (
        out["staff_id"].startswith("st_") and out["jurisdiction"] == "410102" and len(out["password"]) >= 12
    )
    again = runner.invoke(app, add)
    assert again.exit_code == 2 and "login" in again.output
    listed = [
        json.loads(line) for line in runner.invoke(app, ["staff", "list", "--json"]).stdout.splitlines()
    ]
    assert [(r["login"], r["name"], r["state"]) for r in listed] == [("li.na", "李娜", "active")]
    assert out["password"] not in runner.invoke(app, ["staff", "list", "--json"]).stdout
    assert runner.invoke(app, ["staff", "disable", out["staff_id"]]).exit_code == 0
    listed = [
        json.loads(line) for line in runner.invoke(app, ["staff", "list", "--json"]).stdout.splitlines()
    ]
    assert listed[0]["state"] == "disabled"
    reset = runner.invoke(app, ["staff", "reset-password", out["staff_id"]])
    new_password = json.loads(reset.stdout.strip().splitlines()[-1])["password"]
    assert new_password != out["password"]
    assert runner.invoke(app, ["staff", "enable", "st_000000000000"]).exit_code == 1
    from gateway.db import build_engine

    engine = build_engine(fresh_db_url, pool_size=1)
    try:
        with Session(engine) as s:
            rows = s.exec(select(AuditEvent).where(col(AuditEvent.object_type) == "staff")).all()
            stored = s.get(StaffAccount, out["staff_id"])
    finally:
        engine.dispose()
    assert [(r.action, r.object_ref) for r in rows] == [
        ("staff.add", out["staff_id"]),
        ("staff.disable", out["staff_id"]),
        ("staff.reset-password", out["staff_id"]),
    ]
    assert stored is not None and staff.verify_password(new_password, stored.password_hash)
