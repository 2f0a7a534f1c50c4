"""Fixtures of the students tests: stored students, and merges of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import Session

from gateway.identity import CanonicalRecord
from gateway.keyring import KeyRing
from gateway.persons.models import Person
from gateway.persons.records import store_record
from gateway.registry.reviews import merge_persons
from gateway.registry.service import new_person
from tests.fixtures.registrations import citizen


def resident_id(region: str, born: date, sequence: int) -> str:
    """A valid 18-digit resident ID number (odd sequence: male, even: female)."""
    return citizen(f"{region}{born:%Y%m%d}{sequence:03d}")


@dataclass(frozen=True)
class Seeded:
    person: Person
    code: str
    id_number: str | None


SeedStudent = Callable[..., Seeded]


@pytest.fixture
def seed_student(session: Session, keyring: KeyRing) -> SeedStudent:
    """Store a registered student and return them with their code."""

    def seed(
        *,
        region: str = "410102",
        school: str | None = "4101020001",
        name: str = "张晓明",
        gender: str = "1",
        born: date = date(2014, 3, 7),
        id_number: str | None = "auto",
        status: str = "registered",
    ) -> Seeded:
        number = resident_id(region, born, 123) if id_number == "auto" else id_number
        written = new_person(session, region=region, school_code=school, birth_date=born, actor="seed")[0]
        person = session.get(Person, written.id)
        assert person is not None
        record = CanonicalRecord(
            record_id=None,
            name=name,
            gender=gender,
            birth_date=born,
            ethnicity="01",
            id_type="resident_id" if number else "none",
            id_number=number,
            nationality="CHN",
            household_region=region,
            guardian_name=None,
            school_code=school,
        )
        store_record(person, record, keyring)
        person.school_status = status
        session.add(person)
        session.commit()
        return Seeded(person, person.current_code, number)

    return seed


def merge_into(session: Session, survivor: Person, merged: Person) -> None:
    """Merge ``merged`` into ``survivor`` as a reviewer's decision does."""
    merge_persons(session, survivor, merged, actor="reviewer", problem_id=None)
    session.commit()
