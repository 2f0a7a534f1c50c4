"""Fixtures of the handoff tests: the app with the handoff router, a cohort of distinct children,
callers of every party, and helpers that send disclosures and check their signatures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.context import AppContext
from gateway.db import session_scope
from gateway.handoff.endpoints import router
from gateway.idgen import formats
from gateway.registry.models import VerificationJob
from gateway.registry.service import RegistryDeps
from gateway.registry.verification import apply_verdict
from tests.fixtures.api import ApiCaller, register_caller

KINDERGARTEN = {"school_code": "4101029001", "school_region": "410102"}
BASIS = {"X-Purpose": "enrolment handover", "X-Approval-Ref": "ZZ-EDU-2026-001"}
# Distinct surnames and given names: no two children of the cohort look alike to the matcher.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("子涵", "浩宇", "梓轩", "欣怡", "雨泽")


def citizen(digits17: str) -> str:
    return digits17 + formats.check_character(digits17)


@dataclass(frozen=True)
class Child:
    number: str  # the preschool's own number
    name: str
    gender: str
    birth_date: date
    id_number: str
    guardian: str

    def identity(self) -> dict[str, str]:
        return {
            "name": self.name,
            "gender": self.gender,
            "birth_date": self.birth_date.isoformat(),
            "id_type": "resident_id",
            "id_number": self.id_number,
        }

    def row(self) -> dict[str, str]:
        return {
            "record_id": self.number,
            **self.identity(),
            "household_region": "410102",
            "guardian_name": self.guardian,
            **KINDERGARTEN,
        }


def cohort(size: int, born_from: date = date(2007, 1, 3), region: str = "410102") -> list[Child]:
    """``size`` children with distinct names, birth dates and valid resident ID numbers of ``region``."""
    children = []
    for i in range(size):
        born = born_from + timedelta(days=3 * i)
        gender = "1" if i % 2 == 0 else "2"
        sequence = 100 + 2 * i + (1 if gender == "1" else 0)
        children.append(
            Child(
                number=f"YE{2026_0000 + i}",
                name=SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)],
                gender=gender,
                birth_date=born,
                id_number=citizen(f"{region}{born:%Y%m%d}{sequence % 1000:03d}"),
                guardian=SURNAMES[i % len(SURNAMES)] + "建国",
            )
        )
    return children


def ndjson(children: list[Child]) -> bytes:
    return "\n".join(json.dumps(c.row(), ensure_ascii=False) for c in children).encode()


@pytest.fixture
def handoff_api(committed_api: TestClient) -> TestClient:
    """The committed app, with the handoff router mounted if the app factory does not mount it yet."""
    mounted = {getattr(route, "path", "") for route in committed_api.app.routes}  # type: ignore[attr-defined]
    if "/v1/handoff/claims" not in mounted:
        committed_api.app.include_router(router)  # type: ignore[attr-defined]
    return committed_api


MakeParty = Callable[..., ApiCaller]


@pytest.fixture
def party(handoff_api: TestClient, committed_context: AppContext) -> MakeParty:
    def make(role: str, jurisdiction: str, scopes: str, stage: str | None = None) -> ApiCaller:
        return register_caller(handoff_api, committed_context.engine, role, jurisdiction, scopes, stage)

    return make


def verified(api: TestClient, reply: httpx.Response) -> Any:
    """The JSON body of a signed reply, after checking its detached JWS against the published JWKS."""
    signature = reply.headers["X-JWS-Signature"]
    jwks = api.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(signature)
    assert header["b64"] is False and header["crit"] == ["b64"]
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]].key
    jwt.api_jws.decode_complete(signature, key, algorithms=["ES256"], detached_payload=reply.content)
    return reply.json() if reply.headers["content-type"].startswith("application/json") else reply.text


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    """Poll a background job's status until ``check`` holds (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the background job did not finish")
        time.sleep(0.05)


def hand_over(api: TestClient, preschool: ApiCaller, children: list[Child]) -> dict[str, Any]:
    """A preschool's bulk handover, waited for until every row is worked."""
    reply = api.post(
        "/v1/handoff/intakes",
        content=ndjson(children),
        headers={**preschool.headers, **BASIS, "Content-Type": "application/x-ndjson"},
    )
    assert reply.status_code == 202, reply.text
    url = verified(api, reply)["status_url"]
    status: dict[str, Any] = {}

    def done() -> bool:
        nonlocal status
        status = api.get(url, headers=preschool.headers).json()
        return status.get("status") == "done"

    wait_for(done)
    return status


def graduate(api: TestClient, province: ApiCaller, child: Child, school: tuple[str, str]) -> str:
    """``child`` registered by ``province`` at ``school`` (code, region), enrolled and graduated;
    the code issued at registration."""
    code_, region = school
    body = {
        **child.identity(),
        "household_region": region,
        "guardian_name": child.guardian,
        "school_code": code_,
        "school_region": region,
    }
    reply = api.post(
        "/v1/registrations", json=body, headers={**province.headers, "Idempotency-Key": child.number}
    )
    assert reply.status_code == 201, reply.text
    code: str = reply.json()["code"]
    for event, day in (("enrolled", "2022-09-01"), ("graduated", "2025-07-01")):
        done = api.post(
            f"/v1/students/{code}/events",
            json={"event": event, "effective_date": day},
            headers=province.headers,
        )
        assert done.status_code == 201, done.text
    return code


def promote_verified(ctx: AppContext) -> None:
    """The verification worker's verdict for every queued job: the population register agrees."""
    deps: RegistryDeps = ctx.services["registry"]
    with session_scope(ctx.engine) as session:
        jobs = [int(j.id or 0) for j in session.exec(select(VerificationJob)).all()]
    for job_id in jobs:
        with session_scope(ctx.engine) as session:
            apply_verdict(session, deps, job_id, "verified", "population register agrees", "worker")
