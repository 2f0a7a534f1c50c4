"""The synthetic population the mock government registers answer from.

A `Population` indexes people in the canonical record schema: by ID number (population register,
social security), by document type and number (exit-entry) and by household, where a child without an
ID document is found through a guardian's ID number, name and birth date. It takes records from any
iterable of objects with the canonical fields (the demo-data generator's records included), from a
CSV file in the canonical schema, or from `synthetic_population(n, seed)` (the demo-data generator).

The mock's population file extends the canonical schema with one optional column,
`guardian_id_number`: the canonical record names a guardian but carries no guardian ID number, which
the household register needs. When it is absent, a deterministic guardian number is derived from the
child's record (`derived_guardian_id_number`), so callers that know the record can compute it too.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stdnum.cn import ric

from gateway.identity import RECORD_FIELDS
from gateway.matching.synthetic import generate_population

RESIDENT_TYPES = frozenset({"resident_id", "household_booklet"})
EXIT_ENTRY_TYPES = frozenset(
    {
        "passport",
        "hk_macau_id",
        "hk_macau_permit",
        "taiwan_permit",
        "hmt_residence_permit",
        "foreign_permanent_residence",
    }
)
CANONICAL_FIELDS = RECORD_FIELDS


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value)).strip()
    return text or None


@dataclass(frozen=True)
class Person:
    """One person as the registers know them (canonical fields, plus the guardian's ID number)."""

    record_id: str
    name: str
    gender: str | None
    birth_date: date
    ethnicity: str | None
    id_type: str
    id_number: str | None
    nationality: str
    household_region: str | None
    guardian_name: str | None
    school_code: str | None = None
    guardian_id_number: str | None = None

    @classmethod
    def from_record(cls, record: Any) -> Person:
        """Build from any object (or mapping) with the canonical record fields."""

        def get(name: str) -> object:
            return record.get(name) if isinstance(record, dict) else getattr(record, name, None)

        birth = get("birth_date")
        birth_date = birth if isinstance(birth, date) else date.fromisoformat(str(birth).strip())
        id_number = _text(get("id_number"))
        return cls(
            record_id=_text(get("record_id")) or (id_number or ""),
            name=_text(get("name")) or "",
            gender=_text(get("gender")),
            birth_date=birth_date,
            ethnicity=_text(get("ethnicity")),
            id_type=_text(get("id_type")) or "none",
            id_number=id_number.upper().replace(" ", "") if id_number else None,
            nationality=_text(get("nationality")) or "CHN",
            household_region=_text(get("household_region")),
            guardian_name=_text(get("guardian_name")),
            school_code=_text(get("school_code")),
            guardian_id_number=_text(get("guardian_id_number")),
        )


def resident_id_number(region: str, birth_date: date, sequence: int) -> str:
    """A valid 18-character citizen ID number (GB 11643-1999) for the given parts."""
    body = f"{region}{birth_date:%Y%m%d}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body)


def derived_guardian_id_number(person: Person) -> str:
    """The guardian ID number a register assumes when the population file gives none: deterministic."""
    # Keyed on the guardian and the household only, so that siblings and twins share one guardian.
    digest = hashlib.sha256(f"{person.guardian_name}|{person.household_region}".encode()).digest()
    region = person.household_region or "110101"
    born = date(1975, 1, 1) + timedelta(days=int.from_bytes(digest[:2], "big") % 5000)
    # Sequence parity follows no stated gender; guardians may be either.
    return resident_id_number(region, born, 100 + int.from_bytes(digest[1:3], "big") % 800)


@dataclass(frozen=True)
class Member:
    """One person in a household, as the household register lists them."""

    person: Person
    relation: str


@dataclass
class Household:
    """A household registration: its region, nature and members."""

    household_id: str
    region_code: str
    nature: str
    members: list[Member] = field(default_factory=list)


class Population:
    """People indexed the way each mock register looks them up."""

    def __init__(self, records: Iterable[Any]) -> None:
        self.people: list[Person] = []
        self._by_id_number: dict[str, Person] = {}
        self._by_document: dict[tuple[str, str], Person] = {}
        self._households: dict[str, Household] = {}
        self._household_of: dict[str, str] = {}
        for record in records:
            self.add(record if isinstance(record, Person) else Person.from_record(record))

    def __len__(self) -> int:
        return len(self.people)

    def __iter__(self) -> Iterator[Person]:
        return iter(self.people)

    def add(self, person: Person) -> None:
        """Index one person, and their guardian as a household member."""
        self.people.append(person)
        if person.id_number and person.id_type in RESIDENT_TYPES:
            self._by_id_number[person.id_number] = person
        if person.id_number and person.id_type in EXIT_ENTRY_TYPES:
            self._by_document[(person.id_type, person.id_number)] = person
        guardian_number = person.guardian_id_number
        if guardian_number is None and person.guardian_name:
            guardian_number = derived_guardian_id_number(person)
        if guardian_number:
            household = self._household_for(guardian_number, person)
            if guardian_number not in self._by_id_number:
                guardian = self._guardian(guardian_number, person)
                self._by_id_number[guardian_number] = guardian
                household.members.insert(0, Member(guardian, "head"))
            household.members.append(Member(person, "child"))
            if person.id_number and person.id_type in RESIDENT_TYPES:
                self._household_of[person.id_number] = household.household_id
        elif person.id_number and person.id_type in RESIDENT_TYPES:
            household = self._household_for(person.id_number, person)
            household.members.append(Member(person, "head"))

    def _household_for(self, head_number: str, person: Person) -> Household:
        household_id = self._household_of.get(head_number)
        if household_id is None:
            household_id = "H" + hashlib.sha256(head_number.encode()).hexdigest()[:16].upper()
            region = person.household_region or head_number[:6]
            nature = "agricultural" if int(head_number[-2], 36) % 2 else "non_agricultural"
            self._households[household_id] = Household(household_id, region, nature)
            self._household_of[head_number] = household_id
        return self._households[household_id]

    @staticmethod
    def _guardian(number: str, child: Person) -> Person:
        gender = "1" if int(number[16]) % 2 else "2"
        return Person(
            record_id=f"guardian-of-{child.record_id}",
            name=child.guardian_name or "监护人",
            gender=gender,
            birth_date=date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
            ethnicity=child.ethnicity,
            id_type="resident_id",
            id_number=number,
            nationality="CHN",
            household_region=child.household_region,
            guardian_name=None,
        )

    def by_id_number(self, id_number: str) -> Person | None:
        """A citizen (resident ID or household booklet holder, guardians included) by ID number."""
        return self._by_id_number.get(id_number)

    def by_document(self, id_type: str, number: str) -> Person | None:
        """A holder of an exit-entry document by type and number."""
        return self._by_document.get((id_type, number))

    def household_of(self, id_number: str) -> tuple[Household, int] | None:
        """The household of the citizen with this ID number, and their index among its members."""
        household_id = self._household_of.get(id_number)
        if household_id is None:
            return None
        household = self._households[household_id]
        for index, member in enumerate(household.members):
            if member.person.id_number == id_number:
                return household, index
        return None

    def child_in_household(
        self, guardian_id_number: str, name: str, birth_date: date
    ) -> tuple[Household, int] | None:
        """A household member found by the guardian's ID number + the child's name and birth date."""
        household_id = self._household_of.get(guardian_id_number)
        if household_id is None:
            return None
        household = self._households[household_id]
        for index, member in enumerate(household.members):
            if (
                member.relation == "child"
                and member.person.name == name
                and member.person.birth_date == birth_date
            ):
                return household, index
        return None

    @classmethod
    def from_csv(cls, path: Path) -> Population:
        """Load a population file: canonical record schema, UTF-8 CSV with a header row."""
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return cls(list(csv.DictReader(handle)))

    @classmethod
    def synthetic(cls, size: int, seed: int) -> Population:
        """The deterministic synthetic population the demo data is drawn from."""
        return cls(synthetic_population(size, seed))


def write_csv(people: Iterable[Person], path: Path) -> None:
    """Write a population file (canonical fields + `guardian_id_number`)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*CANONICAL_FIELDS, "guardian_id_number"])
        writer.writeheader()
        for person in people:
            row = {name: getattr(person, name) for name in (*CANONICAL_FIELDS, "guardian_id_number")}
            row["birth_date"] = person.birth_date.isoformat()
            writer.writerow({key: "" if value is None else value for key, value in row.items()})


def synthetic_population(size: int, seed: int) -> list[Any]:
    """Records of `size` people from the project's demo-data generator, so a demo registration verifies."""
    return list(generate_population(size, seed))
