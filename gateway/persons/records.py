"""Conversions between stored persons and canonical records (the ID number decrypted on the way)."""

from __future__ import annotations

from typing import Any

from gateway.identity import CanonicalRecord
from gateway.keyring import KeyRing
from gateway.persons.models import Person, PersonSummary
from gateway.privacy import mask_id_number

ID_CONTEXT = "person:id_number"


def person_to_record(person: Person | PersonSummary, keyring: KeyRing) -> CanonicalRecord:
    number = keyring.decrypt(person.id_number_encrypted, ID_CONTEXT) if person.id_number_encrypted else None
    return CanonicalRecord(
        record_id=str(person.id),
        name=person.name,
        gender=person.gender,
        birth_date=person.birth_date,
        ethnicity=person.ethnicity,
        id_type=person.id_type,
        id_number=number,
        nationality=person.nationality,
        household_region=person.household_region,
        guardian_name=person.guardian_name,
        school_code=person.school_code,
    )


def stored_fields(record: CanonicalRecord, keyring: KeyRing) -> dict[str, Any]:
    """A canonical record's demographics as a person's columns (the ID number encrypted and masked)."""
    return {
        "name": record.name,
        "gender": str(record.gender),
        "birth_date": record.birth_date,
        "ethnicity": record.ethnicity,
        "id_type": str(record.id_type),
        "id_number_encrypted": keyring.encrypt(record.id_number, ID_CONTEXT) if record.id_number else None,
        "id_number_masked": mask_id_number(record.id_number),
        "nationality": record.nationality,
        "household_region": record.household_region,
        "guardian_name": record.guardian_name,
    }


def store_record(person: Person, record: CanonicalRecord, keyring: KeyRing) -> None:
    """Copy a canonical record's demographics onto a person (the ID number encrypted and masked)."""
    for name, value in stored_fields(record, keyring).items():
        setattr(person, name, value)
