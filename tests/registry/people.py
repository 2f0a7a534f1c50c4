"""Registrations of people the mock registers know."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mocks.population import Population
from tests.fixtures.api import ApiCaller


def citizens(population: Population) -> list[Any]:
    return [p for p in population.people if p.id_type == "resident_id"]


def registration_body(person: Any) -> dict[str, Any]:
    """A registration of a population member at a school of their household's county."""
    body = {
        "name": person.name,
        "gender": person.gender,
        "birth_date": person.birth_date.isoformat(),
        "id_type": person.id_type,
        "id_number": person.id_number,
        "household_region": person.household_region,
        "guardian_name": person.guardian_name,
        "school_region": person.household_region,
        "school_code": f"{person.household_region}0001",
    }
    return {k: v for k, v in body.items() if v is not None}


def register(api: TestClient, caller: ApiCaller, body: dict[str, Any], key: str) -> dict[str, Any]:
    """POST a registration under ``key``; its answer (any of the three outcomes)."""
    reply = api.post("/v1/registrations", json=body, headers={**caller.headers, "Idempotency-Key": key})
    assert reply.status_code in (200, 201, 202), reply.text
    answer: dict[str, Any] = reply.json()
    return answer
