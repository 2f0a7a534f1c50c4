"""Registrations of people the mock registers know."""

from __future__ import annotations

from typing import Any

from mocks.population import Population


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
