"""Schemathesis against the app in-process: no request, however odd, is answered with a 5xx.

The OpenAPI description the app serves is the fuzzer's only guide: it generates requests from each
operation's parameters and request body (data that conforms, and data that does not), sends them to
the ASGI app with a token of each role (a client created with all the scopes of its role, in a
jurisdiction that holds the seeded students), and checks that the answer is not a server error and,
for the answers the description gives a schema to, that the body conforms to it. Half the cases of an
operation about one subject use an id that exists (a seeded student's code, problem record, merge,
transfer, batch, export, intake or subscription), so the fuzzer reaches past the look-up.

Examples per operation are bounded and the seed is fixed, so a run is deterministic and takes well
under a minute per role on two cores. A bigger run (the README's "Fuzzing by hand") sets
``GATEWAY_FUZZ_EXAMPLES`` and, optionally, ``GATEWAY_FUZZ_SEED``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.auth.scopes import ROLE_SCOPES, Role
from gateway.context import AppContext
from gateway.db import build_engine
from gateway.keyring import load_keyring
from gateway.settings import Settings
from gateway.wiring import attach_services
from tests.fixtures.api import ApiCaller, offline, register_caller
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.registrations import citizen, register, verify_holder
from tests.fixtures.routes import required_scopes

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("GATEWAY_FUZZ_SEED", "20260901"))
DISCLOSURE = {"X-Purpose": "enrolment", "X-Approval-Ref": "EDU-2026-118"}

HOME_REGION = "410102"
HOME_SCHOOL = "4101020001"


@dataclass(frozen=True)
class Persona:
    """A caller the fuzzer acts as: a role with all its scopes, in a jurisdiction."""

    name: str
    role: Role
    jurisdiction: str
    stage: str | None = None


PERSONAS = [
    Persona("central", Role.CENTRAL, "CN"),
    Persona("province", Role.PROVINCE, "41"),
    Persona("city", Role.CITY, "4101"),
    Persona("county", Role.COUNTY, HOME_REGION),
    Persona("school", Role.SCHOOL, HOME_SCHOOL),
    Persona("reviewer", Role.REVIEWER, "41"),
    Persona("partner", Role.PARTNER, "41"),
    Persona("registry-preschool", Role.REGISTRY, "41", "preschool"),
    Persona("registry-higher", Role.REGISTRY, "41", "higher_education"),
]


def _student(name: str, serial: str, born: str = "20160901", **changes: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "gender": "1",
        "birth_date": f"{born[:4]}-{born[4:6]}-{born[6:]}",
        "id_type": "resident_id",
        "id_number": citizen(f"{HOME_REGION}{born}{serial}"),
        "household_region": HOME_REGION,
        "guardian_name": "王建国",
        "school_code": HOME_SCHOOL,
        "school_region": HOME_REGION,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class World:
    """The app over a fresh database holding a few of everything, and a token per persona."""

    app: FastAPI
    context: AppContext
    callers: dict[str, ApiCaller] = field(default_factory=dict)
    # Path parameter name -> ids that exist, for the cases that reach past the look-up.
    known: dict[str, list[str]] = field(default_factory=dict)

    def remember(self, name: str, value: Any) -> None:
        self.known.setdefault(name, []).append(str(value))


def _ok(reply: Any) -> Any:
    assert reply.status_code < 300, (reply.request.url, reply.status_code, reply.text)
    return reply.json()


def _seed(api: TestClient, world: World) -> None:
    engine = world.context.engine
    ministry = register_caller(api, engine, role="central", jurisdiction="CN")
    auth = ministry.headers

    first = register(api, ministry, _student("李思远", "123"), "seed-1")
    result = verify_holder(world.context, first["code"], "fuzz seed")
    assert result is not None
    g_code = str(result["code"])
    world.remember("code", first["code"])
    world.remember("code", g_code)
    second = register(api, ministry, _student("张小雨", "234", born="20150307", gender="2"), "seed-2")
    world.remember("code", second["code"])
    # A look-alike without a number: a problem record.
    twin = register(
        api,
        ministry,
        _student("李思园", "000", id_type="none", id_number=None, guardian_name="某某"),
        "seed-3",
    )
    assert twin["outcome"] == "review_required", twin
    world.remember("problem_id", twin["problem_id"])
    # Two more persons reported as one and merged.
    pair = [
        register(
            api,
            ministry,
            _student(f"周{given}", serial, born="20140505", guardian_name=f"吴{given}"),
            f"seed-merge-{serial}",
        )["code"]
        for given, serial in (("一鸣", "711"), ("二丫", "721"))
    ]
    report = _ok(api.post("/v1/reviews", json={"codes": pair}, headers=auth))
    world.remember("problem_id", report["id"])
    merged = _ok(
        api.post(f"/v1/reviews/{report['id']}/decision", json={"decision": "same_person"}, headers=auth)
    )
    world.remember("merge_id", merged["merge_id"])
    # A batch, a webhook subscription, an export and a preschool intake.
    province = register_caller(api, engine, role="province", jurisdiction="41")
    csv_text = (
        "record_id,name,gender,birth_date,id_type,school_code,school_region\n"
        f"K-1,王小明,1,2016-05-05,none,{HOME_SCHOOL},{HOME_REGION}\n"
    )
    batch = _ok(
        api.post(
            "/v1/batches",
            content=csv_text.encode(),
            headers={**province.headers, "Content-Type": "text/csv"},
        )
    )
    world.remember("batch_id", batch["id"])
    hook = _ok(api.post("/v1/webhooks", json={"url": "https://fuzz.invalid/hook"}, headers=province.headers))
    world.remember("subscription_id", hook["id"])
    higher = register_caller(api, engine, role="registry", jurisdiction="41", stage="higher_education")
    export = _ok(api.post("/v1/handoff/exports", headers={**higher.headers, **DISCLOSURE}))
    world.remember("export_id", export["id"])
    world.remember("name", "records-1.ndjson")
    preschool = register_caller(api, engine, role="registry", jurisdiction="41", stage="preschool")
    intake = _ok(
        api.post(
            "/v1/handoff/intakes",
            content=csv_text.encode(),
            headers={**preschool.headers, **DISCLOSURE, "Content-Type": "text/csv"},
        )
    )
    world.remember("intake_id", intake["id"])
    # A transfer of the verified student to a school of another province.
    _ok(
        api.post(
            f"/v1/students/{g_code}/events",
            json={"event": "enrolled", "effective_date": "2026-09-01"},
            headers=auth,
        )
    )
    away = register_caller(api, engine, role="school", jurisdiction="4601020001")
    transfer = _ok(
        api.post(
            "/v1/transfers",
            json={"code": g_code, "name": "李思远", "birth_date": "2016-09-01", "school_region": "460102"},
            headers=away.headers,
        )
    )
    world.remember("transfer_id", transfer["id"])
    for persona in PERSONAS:
        world.callers[persona.name] = register_caller(
            api, engine, role=persona.role.value, jurisdiction=persona.jurisdiction, stage=persona.stage
        )


@pytest.fixture(scope="module")
def world(database_factory: DatabaseFactory, keys_dir: Path) -> Iterator[World]:
    engine: Engine = build_engine(database_factory.create(), pool_size=8)
    settings = Settings(data_dir=keys_dir, migrate_on_start=False, log_json=True)
    context = offline(
        attach_services(
            AppContext(settings=settings, engine=engine, keyring=load_keyring(settings)), verifier=None
        )
    )
    app = create_app(context=context)
    world = World(app, context)
    try:
        with TestClient(app, raise_server_exceptions=False) as api:
            _seed(api, world)
        yield world
    finally:
        context.services.jobs.close()
        engine.dispose()


@dataclass
class ServerErrors:
    """The 5xx answers (and non-conforming bodies) found, one line each, to report all at once."""

    found: list[str] = field(default_factory=list)

    def add(self, label: str, case: schemathesis.Case, status: int, text: str) -> None:
        self.found.append(f"{label}: {status} {text[:300]}\n    {case.as_curl_command()}")


def _fuzz_operation(
    world: World,
    operation: schemathesis.APIOperation,
    caller: ApiCaller | None,
    errors: ServerErrors,
    examples: int,
) -> None:
    headers = dict(caller.headers) if caller else {}
    label = f"{operation.method.upper()} {operation.path}"
    known = {p.name: world.known[p.name] for p in operation.path_parameters if p.name in world.known}
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if known and len(known) == len(list(operation.path_parameters)):
        strategies.append(
            st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()}).flatmap(
                lambda ids: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=ids)
            )
        )
    if operation.body or operation.query or operation.path_parameters or operation.headers:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    seen: set[tuple[int, str]] = set()

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=examples * len(strategies),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:
            # The app answered 500 and Starlette re-raised the error to the in-process transport.
            key = (500, type(exc).__name__)
            if key not in seen:
                seen.add(key)
                errors.add(label, case, 500, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code >= 500:
            key = (response.status_code, response.text[:200])
            if key not in seen:
                seen.add(key)
                errors.add(label, case, response.status_code, response.text)
            return
        if response.status_code < 300:
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except (AssertionError, FailureGroup) as exc:
                errors.add(f"{label} (response schema)", case, response.status_code, str(exc))

    run()


@pytest.fixture(scope="module")
def fuzz_schema(world: World) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", world.app)


@pytest.mark.parametrize("persona", PERSONAS, ids=[p.name for p in PERSONAS])
def test_no_server_error_for_any_request_of_a_role(world: World, fuzz_schema: Any, persona: Persona) -> None:
    allowed = {scope.value for scope in ROLE_SCOPES[persona.role]}
    needs = required_scopes(world.app)
    errors = ServerErrors()
    operations = 0
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()
        scope = needs[(operation.method.upper(), operation.path)]
        if scope is None or scope not in allowed:
            continue
        operations += 1
        _fuzz_operation(world, operation, world.callers[persona.name], errors, EXAMPLES)
    assert operations > 0
    if errors.found:
        pytest.fail("\n".join(errors.found), pytrace=False)


def test_no_server_error_without_a_token(world: World, fuzz_schema: Any) -> None:
    """The operations that need no token (health, keys, the token endpoint itself) in full, and every
    other operation asked without one a few times (each is refused before its input is read)."""
    needs = required_scopes(world.app)
    errors = ServerErrors()
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()
        open_to_all = needs[(operation.method.upper(), operation.path)] is None
        _fuzz_operation(world, operation, None, errors, EXAMPLES if open_to_all else 2)
    if errors.found:
        pytest.fail("\n".join(errors.found), pytrace=False)
