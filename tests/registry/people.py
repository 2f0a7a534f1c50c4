"""Registrations of people the mock registers know, and small helpers the registry tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from gateway.context import AppContext
from gateway.persons.models import Person
from gateway.students.models import Transfer
from mocks.population import Population
from tests.fixtures.registrations import citizen


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


def mistyped_id_number(number: str) -> str:
    """The same birth date and gender, another sequence digit, a valid check character."""
    digits = number[:14] + str((int(number[14]) + 1) % 10) + number[15:17]
    return citizen(digits)


def set_transfer_lock(context: AppContext, code: str, locked: bool) -> None:
    """Open (True) or close (False) a cross-province transfer of the holder of ``code``, as an
    application and a rejection do."""
    now = datetime.now(UTC)
    with Session(context.engine) as s:
        person = s.exec(select(Person).where(Person.current_code == code)).one()
        assert person.id is not None
        if locked:
            s.add(
                Transfer(
                    person_id=person.id,
                    state="applied",
                    from_region=person.region,
                    from_school=person.school_code,
                    to_region="650102",
                    to_school="6501020001",
                    applied_by="test",
                    applied_at=now,
                    due_at=now + timedelta(days=14),
                )
            )
        else:
            for transfer in s.exec(select(Transfer).where(Transfer.person_id == person.id)).all():
                transfer.state, transfer.closed_at = "rejected", now
                s.add(transfer)
        person.locked_by_transfer = locked
        s.add(person)
        s.commit()


def lapse_transfer_lock(context: AppContext, code: str) -> None:
    """Move the deadline of the open transfer of the holder of ``code`` into the past (nothing else:
    the expiry is not recorded, as when neither the worker nor a reader has come by yet)."""
    with Session(context.engine) as s:
        person = s.exec(select(Person).where(Person.current_code == code)).one()
        open_ = s.exec(
            select(Transfer).where(Transfer.person_id == person.id, Transfer.state == "applied")
        ).one()
        open_.due_at = datetime.now(UTC) - timedelta(minutes=1)
        s.add(open_)
        s.commit()
