"""No resident ID number sits in clear in the database, alone or inside a G code (ADR 007).

The workflows that store codes and the text around them run through the real API against the live
mock registers (so that registrations are verified and promoted to G): registration with its stored
idempotency replies, correction, status change, bulk batch, review of a problem record, preschool
handover, claim, export, feed, webhook deliveries, transfer and the audit trail. Then every column
of every table is read back as the database holds it (raw SQL, past the column types) and searched.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from gateway.context import AppContext
from gateway.handoff import webhooks
from gateway.identity.documents import check_character
from mocks.population import Population
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.handoff import BASIS, verified, wait_for
from tests.fixtures.registrations import register
from tests.registry.people import citizens, mistyped_id_number, registration_body

# An ID number standing alone or as the tail of a G code (an L or J code is a letter, 17 digits and
# a character too, but carries no ID number; so does a hex digest now and then: neither counts).
ID_NUMBER_SHAPED = re.compile(r"(?<![0-9A-Za-z])G?(\d{17}[\dX])(?![0-9A-Za-z])")


def _ok(reply: httpx.Response, *statuses: int) -> Any:
    assert reply.status_code in (statuses or (200, 201, 202)), reply.text
    return reply.json()


def _stored_values(context: AppContext) -> list[tuple[str, str, str]]:
    """(table, column, value as text) of every non-null value in the database, as it is stored."""
    found = []
    with context.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                found += [(table, c, str(v)) for c, v in zip(columns, row, strict=True) if v is not None]
    return found


def _in_clear(context: AppContext, numbers: set[str]) -> list[str]:
    """Where an ID number is stored in clear: one of ``numbers`` anywhere, or anything shaped like one
    whose check character is right."""
    leaks = []
    for table, column, value in _stored_values(context):
        shaped = [m for m in ID_NUMBER_SHAPED.findall(value) if check_character(m[:17]) == m[17]]
        if shaped or any(number in value for number in numbers):
            leaks.append(f"{table}.{column}")
    return sorted(set(leaks))


def test_no_id_number_is_stored_in_clear(
    verified_api: TestClient,
    verified_registry: ApiCaller,
    verified_context: AppContext,
    population: Population,
) -> None:
    api, central, context = verified_api, verified_registry, verified_context
    people = citizens(population)[:8]
    numbers = {p.id_number for p in people}

    def caller(role: str, jurisdiction: str, scopes: str = "all", stage: str | None = None) -> ApiCaller:
        return register_caller(api, context.engine, role, jurisdiction, scopes, stage)

    # Registrations verified and promoted to G; the client's own key carries numbers.
    codes = []
    for i, person in enumerate(people[:3]):
        reply = api.post(
            "/v1/registrations",
            json=registration_body(person),
            headers={
                **central.headers,
                "Idempotency-Key": f"reg-{person.id_number}",
            },
        )
        answer = _ok(reply)
        assert answer["code"] == "G" + person.id_number, answer
        codes.append(answer["code"])
        if i == 0:  # the replay comes from the stored reply, opened again
            again = register(api, central, registration_body(person), f"reg-{person.id_number}")
            assert again == answer

    # A correction and a status change, with the code quoted in free text.
    _ok(
        api.post(
            f"/v1/students/{codes[0]}/corrections",
            json={
                "changes": {"guardian_name": "王建国"},
                "reason": f"guardian misspelt on the record of {codes[0]}",
                "evidence_ref": f"household booklet of {people[0].id_number}",
            },
            headers={**central.headers, "Idempotency-Key": "fix-1"},
        )
    )
    _ok(
        api.post(
            f"/v1/students/{codes[0]}/events",
            json={"event": "enrolled", "effective_date": "2020-09-01", "note": f"pupil {codes[0]}"},
            headers=central.headers,
        )
    )

    # A bulk batch whose record ids are the ID numbers themselves.
    rows = [{"record_id": p.id_number, **registration_body(p)} for p in people[3:5]]
    accepted = _ok(
        api.post(
            "/v1/batches",
            content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
            headers={**central.headers, "Content-Type": "application/x-ndjson"},
        )
    )
    batch_url = accepted["status_url"]
    wait_for(lambda: api.get(batch_url, headers=central.headers).json()["status"] == "done")
    results = api.get(f"{batch_url}/results.csv", headers=central.headers)
    assert results.status_code == 200 and people[3].id_number in results.text  # read back opened

    # A problem record (a mistyped number the register does not know), decided with a note.
    mistyped = {**registration_body(people[1]), "id_number": mistyped_id_number(people[1].id_number)}
    held = register(api, central, mistyped, "mistyped")
    assert held.get("problem_id"), held
    _ok(
        api.post(
            f"/v1/reviews/{held['problem_id']}/decision",
            json={"decision": "needs_evidence", "note": f"compare with {codes[1]}"},
            headers=central.headers,
        )
    )

    # A preschool hands two children over; a school claims one; the preschool exports its cohort.
    preschool = caller("registry", "CN", "handoff:write handoff:read feed:read", stage="preschool")
    subscribed = api.post(
        "/v1/webhooks", json={"url": "https://registry.example/hooks"}, headers=preschool.headers
    )
    subscription = verified(api, _ok_response(subscribed))
    intake = api.post(
        "/v1/handoff/intakes",
        content="\n".join(
            json.dumps({"record_id": p.id_number, **registration_body(p)}, ensure_ascii=False)
            for p in people[5:7]
        ).encode(),
        headers={**preschool.headers, **BASIS, "Content-Type": "application/x-ndjson"},
    )
    intake_url = verified(api, _ok_response(intake))["status_url"]
    wait_for(lambda: api.get(intake_url, headers=preschool.headers).json()["status"] == "done")
    claimed = people[5]
    school = caller("school", f"{claimed.household_region}0001")
    _ok(
        api.post(
            "/v1/handoff/claims",
            json={
                "identity": {
                    k: registration_body(claimed)[k]
                    for k in ("name", "gender", "birth_date", "id_type", "id_number")
                },
                "school_region": claimed.household_region,
                "student_number": claimed.id_number,
            },
            headers={**school.headers, **BASIS},
        )
    )
    started = _ok(api.post("/v1/handoff/exports", headers={**preschool.headers, **BASIS}))
    export_url = started["status_url"]
    wait_for(lambda: api.get(export_url, headers=preschool.headers).status_code == 200)

    # The feed, and webhook deliveries of it (one refused, so an error is stored too).
    assert _ok(api.get("/v1/feed", headers=central.headers))["events"]
    with httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(500))) as client:
        webhooks.enqueue(context.engine, context.keyring)  # unless the app's worker did already
        webhooks.deliver_due(context.engine, context.keyring, client, context.services.webhooks)
    deliveries = api.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=preschool.headers)
    assert _ok(deliveries)["deliveries"]

    # A cross-province transfer of the enrolled pupil, applied for and approved with notes.
    home = people[0].household_region
    target = "420102" if not home.startswith("42") else "410102"
    receiving = caller("school", f"{target}0003")
    applied = _ok(
        api.post(
            "/v1/transfers",
            json={
                "code": codes[0],
                "name": people[0].name,
                "birth_date": people[0].birth_date.isoformat(),
                "school_region": target,
                "note": f"moving with the family of {people[0].id_number}",
            },
            headers=receiving.headers,
        )
    )
    _ok(
        api.post(
            f"/v1/transfers/{applied['id']}/decisions",
            json={"decision": "approve", "note": f"checked {codes[0]}"},
            headers=caller("province", target[:2]).headers,
        )
    )

    assert _ok(api.get("/v1/audit", headers=central.headers))
    assert _in_clear(context, numbers) == []


def _ok_response(reply: httpx.Response) -> httpx.Response:
    assert reply.status_code in (200, 201, 202), reply.text
    return reply
