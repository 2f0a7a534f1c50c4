"""The authority matrix: every role × every endpoint × a subject inside or outside the caller's
jurisdiction, generated from the role table (``ROLE_SCOPES``) and the app's own routes, not listed by
hand.

For each role, a client holding ``all`` its scopes, with a jurisdiction in Henan (41), calls every
endpoint of the API:
- an endpoint needing a scope the role may not hold answers 403, whatever it is asked;
- an endpoint about one subject (a code, a problem record, a merge, a batch, a transfer, an export,
  an intake, a subscription) answers for a Guangxi (45) child's subject exactly as for one that was
  never created: same status, same body (the asked id aside); never a 2xx (but where the API answers
  a subject that does not exist with a 2xx: a partner's check of an unknown code is 200 "not_found");
- no answer of any endpoint, inside or outside, carries the Guangxi child's ID number, G code, L code
  or name, nor is any a 5xx.
A route added later without an entry here fails the test until it is given one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.scopes import ROLE_SCOPES, Role
from gateway.context import AppContext
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.registrations import citizen, register, verify_holder
from tests.fixtures.routes import required_scopes
from tests.fixtures.schools import load_register, register_text
from tests.fixtures.staff import add_staff

HOME, AWAY, THIRD = "41", "45", "46"
JURISDICTION = {
    Role.CENTRAL: "CN",
    Role.PROVINCE: HOME,
    Role.CITY: f"{HOME}01",
    Role.COUNTY: f"{HOME}0102",
    Role.SCHOOL: f"{HOME}01020001",
    Role.REVIEWER: HOME,
    Role.PARTNER: HOME,
    Role.REGISTRY: HOME,
}
DISCLOSURE = {"X-Purpose": "enrolment", "X-Approval-Ref": "EDU-2026-118"}


@dataclass
class Child:
    name: str
    region: str
    id_number: str
    guardian: str
    born: str = "2016-09-01"
    code: str = ""  # the current (G) code
    l_code: str = ""

    @property
    def school(self) -> str:
        return f"{self.region}0001"

    def body(self, **changes: Any) -> dict[str, Any]:
        body = {
            "name": self.name,
            "gender": "1",
            "birth_date": self.born,
            "id_type": "resident_id",
            "id_number": self.id_number,
            "household_region": self.region,
            "guardian_name": self.guardian,
            "school_code": self.school,
            "school_region": self.region,
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    def secrets(self) -> list[str]:
        return [self.id_number, self.code, self.l_code, self.name]


@dataclass
class World:
    """What exists: a child of each side, and one subject of every kind on each side."""

    api: TestClient
    inside: Child
    outside: Child
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> side -> id


def _post(api: TestClient, caller: ApiCaller, url: str, expect: int, **kwargs: Any) -> Any:
    reply = api.post(url, headers={**caller.headers, **kwargs.pop("headers", {})}, **kwargs)
    assert reply.status_code == expect, (url, reply.status_code, reply.text)
    return reply.json()


def _build_world(api: TestClient, context: AppContext) -> World:
    engine = context.engine
    ministry = register_caller(api, engine, role="central", jurisdiction="CN")
    # Every school the world names is in the register, so each workflow runs checked against it.
    load_register(
        engine,
        register_text(
            *(f"{prefix}01020001,第一小学,{prefix}0102,primary,,," for prefix in (HOME, AWAY, THIRD))
        ),
    )
    inside = Child("李思远", f"{HOME}0102", citizen(f"{HOME}010220160901123"), "李国强")
    outside = Child("欧阳晓远", f"{AWAY}0102", citizen(f"{AWAY}010220160901456"), "欧阳建")
    world = World(api, inside, outside)
    for side, child in (("inside", inside), ("outside", outside)):
        child.l_code = register(api, ministry, child.body(), f"{side}-child")["code"]
        result = verify_holder(context, child.l_code, "test")
        assert result is not None and str(result["code"]).startswith("G"), result
        child.code = str(result["code"])
        # A look-alike without a number: a problem record of that side.
        twin = child.body(name=child.name[:-1] + "园", id_type="none", id_number=None, guardian_name="某某")
        twin["birth_date"] = "2016-01-09"
        held = register(api, ministry, twin, f"{side}-twin")
        assert held["outcome"] == "review_required", held
        world.ids.setdefault("problem", {})[side] = str(held["problem_id"])
        # Two more persons of the side, merged by the ministry: a merge of that side.
        region = child.region
        first, second = (
            register(
                api,
                ministry,
                Child(f"周{han}", region, citizen(f"{region}201503077{n}1"), f"吴{han}").body(),
                f"{side}-merge-{n}",
            )["code"]
            for n, han in ((1, "一鸣"), (2, "二丫"))
        )
        report = _post(api, ministry, "/v1/reviews", 201, json={"codes": [first, second]})
        merged = _post(
            api, ministry, f"/v1/reviews/{report['id']}/decision", 200, json={"decision": "same_person"}
        )
        world.ids.setdefault("merge", {})[side] = str(merged["merge_id"])
        # Subjects owned by a client of that side: a batch, a webhook, an export and an intake.
        prefix = region[:2]
        province = register_caller(api, engine, role="province", jurisdiction=prefix)
        csv_text = (
            "name,gender,birth_date,id_type,school_code,school_region\n"
            f"王小明,1,2016-05-05,none,{child.school},{region}\n"
        )
        batch = _post(
            api, province, "/v1/batches", 202, content=csv_text.encode(), headers={"Content-Type": "text/csv"}
        )
        world.ids.setdefault("batch", {})[side] = batch["id"]
        # A school's submission under the collection workflow, by its named entry clerk: held for review.
        school_client = register_caller(api, engine, role="school", jurisdiction=child.school)
        clerk = add_staff(engine, school_client.client_id, "entry_clerk")
        submission = _post(
            api,
            school_client,
            "/v1/batches",
            202,
            content=csv_text.encode(),
            headers={**clerk.headers(school_client), "Content-Type": "text/csv"},
        )
        assert submission["review_step"] == "submitted", submission
        world.ids.setdefault("submission", {})[side] = submission["id"]
        hook = _post(
            api, province, "/v1/webhooks", 201, json={"url": f"https://registry-{prefix}.invalid/hook"}
        )
        world.ids.setdefault("webhook", {})[side] = hook["id"]
        registry_client = register_caller(
            api, engine, role="registry", jurisdiction=prefix, stage="higher_education"
        )
        export = _post(api, registry_client, "/v1/handoff/exports", 202, headers=DISCLOSURE)
        world.ids.setdefault("export", {})[side] = export["id"]
        preschool = register_caller(api, engine, role="registry", jurisdiction=prefix, stage="preschool")
        intake = _post(
            api,
            preschool,
            "/v1/handoff/intakes",
            202,
            content=csv_text.replace("name,", "record_id,name,").replace("\n王", "\nK-1,王").encode(),
            headers={**DISCLOSURE, "Content-Type": "text/csv"},
        )
        world.ids.setdefault("intake", {})[side] = intake["id"]
    # A transfer of each side's child, applied for by a school of a third province.
    for side, child in (("inside", inside), ("outside", outside)):
        enrolled = api.post(
            f"/v1/students/{child.code}/events",
            json={"event": "enrolled", "effective_date": "2026-09-01"},
            headers=ministry.headers,
        )
        assert enrolled.status_code < 300, enrolled.text
        school = register_caller(api, engine, role="school", jurisdiction=f"{THIRD}01020001")
        applied = _post(
            api,
            school,
            "/v1/transfers",
            201,
            json={
                "code": child.code,
                "name": child.name,
                "birth_date": child.born,
                "school_region": f"{THIRD}0102",
            },
        )
        world.ids.setdefault("transfer", {})[side] = str(applied["id"])
    return world


ABSENT = {
    "problem": "999999",
    "merge": "999999",
    "batch": "bt_0000000000000000",
    "submission": "bt_0000000000000001",
    "webhook": "wh_0000000000000000",
    "export": "ex_0000000000000000",
    "intake": "in_0000000000000000",
    "transfer": "999999",
}
NEVER_ISSUED = "G" + citizen(f"{AWAY}010220160901999")


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    subject: str | None = None  # the id in the URL or body that makes the call about one subject


# Each route: how to call it about a subject of ``side`` ("inside", "outside" or "absent").
Builder = Callable[[World, str], Call]


def _child(world: World, side: str) -> Child:
    if side == "absent":
        never = Child("欧阳晓远", world.outside.region, NEVER_ISSUED[1:], "欧阳建")
        never.code = NEVER_ISSUED
        return never
    return world.inside if side == "inside" else world.outside


def _school(world: World, side: str) -> str:
    """The school of the side's child; for "absent", a school the register never held."""
    return _child(world, side).school if side != "absent" else f"{AWAY}01029999"


def _id(world: World, kind: str, side: str) -> str:
    return ABSENT[kind] if side == "absent" else world.ids[kind][side]


def _code_call(method: str, suffix: str = "", body: Callable[[Child], Any] | None = None) -> Builder:
    def build(world: World, side: str) -> Call:
        child = _child(world, side)
        return Call(
            method,
            f"/v1/students/{child.code}{suffix}",
            json=body(child) if body else None,
            headers={"Idempotency-Key": f"matrix-{side}"},
            subject=child.code,
        )

    return build


def _kind_call(
    method: str, template: str, kind: str, body: Any = None, headers: dict[str, str] | None = None
) -> Builder:
    def build(world: World, side: str) -> Call:
        subject = _id(world, kind, side)
        return Call(method, template.format(id=subject), json=body, headers=headers or {}, subject=subject)

    return build


def _plain(
    method: str,
    url: str,
    body: Callable[[World, str], Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Builder:
    def build(world: World, side: str) -> Call:
        return Call(method, url, json=body(world, side) if body else None, headers=headers or {})

    return build


ROUTES: dict[tuple[str, str], Builder] = {
    ("GET", "/metrics"): _plain("GET", "/metrics"),
    ("GET", "/v1/audit"): _plain("GET", "/v1/audit?limit=500"),
    ("POST", "/v1/codes/validate"): _plain(
        "POST", "/v1/codes/validate", lambda w, s: {"code": _child(w, s).code}
    ),
    ("GET", "/v1/codes/{code}"): lambda w, s: Call(
        "GET", f"/v1/codes/{_child(w, s).code}", subject=_child(w, s).code
    ),
    ("POST", "/v1/identity/normalize"): _plain(
        "POST", "/v1/identity/normalize", lambda w, s: _child(w, s).body()
    ),
    # A registration of the side's child at a school inside the caller's reach.
    ("POST", "/v1/registrations"): lambda w, s: Call(
        "POST",
        "/v1/registrations",
        json=_child(w, s).body(school_code=w.inside.school, school_region=w.inside.region),
        headers={"Idempotency-Key": f"matrix-reg-{s}"},
    ),
    ("POST", "/v1/search"): _plain("POST", "/v1/search", lambda w, s: _child(w, s).body()),
    ("GET", "/v1/reviews"): _plain("GET", "/v1/reviews?limit=200"),
    ("POST", "/v1/reviews"): lambda w, s: Call(
        "POST", "/v1/reviews", json={"codes": [_child(w, s).code, w.inside.l_code]}, subject=_child(w, s).code
    ),
    ("GET", "/v1/reviews/{problem_id}"): _kind_call("GET", "/v1/reviews/{id}", "problem"),
    ("POST", "/v1/reviews/{problem_id}/decision"): _kind_call(
        "POST", "/v1/reviews/{id}/decision", "problem", body={"decision": "needs_evidence"}
    ),
    ("POST", "/v1/merges/{merge_id}/undo"): _kind_call("POST", "/v1/merges/{id}/undo", "merge"),
    ("POST", "/v1/students/{code}/corrections"): _code_call(
        "POST",
        "/corrections",
        lambda c: {"changes": {"guardian_name": "新监护人"}, "reason": "typo", "evidence_ref": "scan-1"},
    ),
    ("GET", "/v1/students/{code}/corrections"): _code_call("GET", "/corrections"),
    ("GET", "/v1/students/{code}"): _code_call("GET"),
    ("GET", "/v1/students/{code}/events"): _code_call("GET", "/events"),
    ("POST", "/v1/students/{code}/events"): _code_call(
        "POST", "/events", lambda c: {"event": "enrolled", "effective_date": "2026-09-01"}
    ),
    ("POST", "/v1/verifications"): lambda w, s: Call(
        "POST",
        "/v1/verifications",
        json={"code": _child(w, s).code, "name": _child(w, s).name, "birth_date": _child(w, s).born},
        subject=_child(w, s).code,
    ),
    ("POST", "/v1/batches"): lambda w, s: Call(
        "POST",
        "/v1/batches",
        content=(
            "name,gender,birth_date,id_type,school_code,school_region\n"
            f"{_child(w, s).name},1,{_child(w, s).born},none,{_child(w, s).school},{_child(w, s).region}\n"
        ).encode(),
        headers={"Content-Type": "text/csv"},
    ),
    ("GET", "/v1/batches/{batch_id}"): _kind_call("GET", "/v1/batches/{id}", "batch"),
    ("GET", "/v1/batches/{batch_id}/results.csv"): _kind_call("GET", "/v1/batches/{id}/results.csv", "batch"),
    # A client acting for itself is no named reviewer: inside, refused (403); outside, no such submission.
    ("POST", "/v1/batches/{batch_id}/reviews"): _kind_call(
        "POST", "/v1/batches/{id}/reviews", "submission", body={"decision": "accept"}
    ),
    ("GET", "/v1/collection/queue"): _plain("GET", "/v1/collection/queue"),
    ("POST", "/v1/handoff/intakes"): lambda w, s: Call(
        "POST",
        "/v1/handoff/intakes",
        content=json.dumps({"record_id": "K-9", **_child(w, s).body()}, ensure_ascii=False).encode(),
        headers={**DISCLOSURE, "Content-Type": "application/x-ndjson"},
    ),
    ("GET", "/v1/handoff/intakes/{intake_id}"): _kind_call(
        "GET", "/v1/handoff/intakes/{id}", "intake", headers=DISCLOSURE
    ),
    # A claim by demographics alone: only inside the caller's jurisdiction (across it, a registry
    # claims with the code and a matching identity, which the family gave it).
    ("POST", "/v1/handoff/claims"): lambda w, s: Call(
        "POST",
        "/v1/handoff/claims",
        json={"identity": {k: v for k, v in _child(w, s).body().items() if "school" not in k}},
        headers=DISCLOSURE,
        subject=_child(w, s).name,
    ),
    ("GET", "/v1/handoff/records"): _plain("GET", "/v1/handoff/records?limit=100", headers=DISCLOSURE),
    ("GET", "/v1/handoff/records/{code}"): lambda w, s: Call(
        "GET", f"/v1/handoff/records/{_child(w, s).code}", headers=DISCLOSURE, subject=_child(w, s).code
    ),
    ("POST", "/v1/handoff/exports"): _plain("POST", "/v1/handoff/exports", headers=DISCLOSURE),
    ("GET", "/v1/handoff/exports/{export_id}"): _kind_call(
        "GET", "/v1/handoff/exports/{id}", "export", headers=DISCLOSURE
    ),
    ("GET", "/v1/handoff/exports/{export_id}/files/{name}"): _kind_call(
        "GET", "/v1/handoff/exports/{id}/files/records-1.ndjson", "export", headers=DISCLOSURE
    ),
    ("GET", "/v1/feed"): _plain("GET", "/v1/feed?since=0&limit=1000"),
    ("POST", "/v1/webhooks"): _plain(
        "POST", "/v1/webhooks", lambda w, s: {"url": "https://matrix.invalid/hook"}
    ),
    ("GET", "/v1/webhooks"): _plain("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{subscription_id}/deliveries"): _kind_call(
        "GET", "/v1/webhooks/{id}/deliveries", "webhook"
    ),
    ("DELETE", "/v1/webhooks/{subscription_id}"): _kind_call("DELETE", "/v1/webhooks/{id}", "webhook"),
    ("POST", "/v1/transfers"): lambda w, s: Call(
        "POST",
        "/v1/transfers",
        json={
            "code": _child(w, s).code,
            "name": _child(w, s).name,
            "birth_date": _child(w, s).born,
            "school_region": f"{HOME}0102" if s != "inside" else f"{THIRD}0102",
        },
    ),
    ("GET", "/v1/transfers"): _plain("GET", "/v1/transfers"),
    ("GET", "/v1/transfers/{transfer_id}"): _kind_call("GET", "/v1/transfers/{id}", "transfer"),
    ("POST", "/v1/transfers/{transfer_id}/decisions"): _kind_call(
        "POST", "/v1/transfers/{id}/decisions", "transfer", body={"decision": "reject"}
    ),
    ("POST", "/v1/transfers/{transfer_id}/pull"): _kind_call(
        "POST", "/v1/transfers/{id}/pull", "transfer", headers=DISCLOSURE
    ),
    # The register holds no child; a school of the other side answers like one never registered.
    ("GET", "/v1/schools"): _plain("GET", "/v1/schools"),
    ("GET", "/v1/schools/{school_code}"): lambda w, s: Call(
        "GET", f"/v1/schools/{_school(w, s)}", subject=_school(w, s)
    ),
    ("GET", "/v1/reports/progress"): lambda w, s: Call(
        "GET",
        f"/v1/reports/progress?month=2026-12&region={HOME if s == 'inside' else AWAY}",
        subject=None if s == "inside" else AWAY,
    ),
    ("GET", "/v1/reports/quality"): lambda w, s: Call(
        "GET",
        f"/v1/reports/quality?region={HOME if s == 'inside' else AWAY}",
        subject=None if s == "inside" else AWAY,
    ),
    # About the caller's own jurisdiction, never one subject: figures only, no child's record.
    ("GET", "/v1/reports/matching"): lambda w, s: Call("GET", "/v1/reports/matching?precision=0.99"),
}


def _scoped_routes() -> list[tuple[str, str, str]]:
    """(method, path, scope) of every API route that needs a scope, read from the app itself."""
    table = required_scopes(create_app())
    return sorted((method, path, scope) for (method, path), scope in table.items() if scope is not None)


def test_every_scoped_route_has_a_matrix_entry() -> None:
    routes = {(m, p) for m, p, _ in _scoped_routes()}
    assert routes == set(ROUTES), (sorted(routes - set(ROUTES)), sorted(set(ROUTES) - routes))


def _send(api: TestClient, caller: ApiCaller, call: Call) -> Any:
    return api.request(
        call.method,
        call.url,
        json=call.json,
        content=call.content,
        headers={**caller.headers, **call.headers},
    )


def _comparable(reply: Any, subject: str | None) -> tuple[int, str]:
    text = re.sub(r'"(request_id|instance)":"[^"]*"', "", reply.text)
    if subject:
        text = re.sub(rf"(?<![\w]){re.escape(subject)}(?![\w])", "<subject>", text)
    return reply.status_code, text


@pytest.mark.parametrize("role", list(Role))
def test_no_role_reaches_a_child_outside_its_authority(
    role: Role, committed_api: TestClient, committed_context: AppContext
) -> None:
    world = _build_world(committed_api, committed_context)
    api = committed_api
    stage = "higher_education" if role is Role.REGISTRY else None
    caller = register_caller(
        api, committed_context.engine, role=role.value, jurisdiction=JURISDICTION[role], stage=stage
    )
    held = {s.value for s in ROLE_SCOPES[role]}
    country_wide = JURISDICTION[role] == "CN"
    failures: list[str] = []
    for method, path, scope in _scoped_routes():
        build = ROUTES[(method, path)]
        for side in ("inside", "outside"):
            call = build(world, side)
            reply = _send(api, caller, call)
            where = f"{role.value} {method} {path} [{side}] -> {reply.status_code}"
            if reply.status_code >= 500:
                failures.append(f"{where}: server error {reply.text[:200]}")
            if scope not in held:
                if reply.status_code != 403:
                    failures.append(f"{where}: the role may not hold {scope}, expected 403")
                continue
            if not country_wide:
                sent = json.dumps(call.json, ensure_ascii=False) + call.url + (call.content or b"").decode()
                # What the caller sent may come back (it knew it); nothing else of the child may.
                leaked = [s for s in world.outside.secrets() if s and s in reply.text and s not in sent]
                if leaked:
                    failures.append(f"{where}: the answer carries the outside child's {leaked}")
            if side == "outside" and not country_wide and call.subject is not None:
                absent = build(world, "absent")
                answer = _send(api, caller, absent)
                # A 2xx only where the API answers a subject that does not exist with one (a partner's
                # check of an unknown code is 200 "not_found"), and then exactly that answer.
                if 200 <= reply.status_code < 300 and not 200 <= answer.status_code < 300:
                    failures.append(f"{where}: a 2xx about a subject outside the jurisdiction")
                if _comparable(reply, call.subject) != _comparable(answer, absent.subject):
                    failures.append(
                        f"{where}: answers unlike a subject never created "
                        f"({answer.status_code} {answer.text[:160]!r} vs {reply.text[:160]!r})"
                    )
    assert not failures, "\n".join(failures)
