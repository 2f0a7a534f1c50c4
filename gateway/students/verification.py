"""Partner verification rules: how a code and the demographics a partner agency holds are compared
with the registry's record field by field, and how the per-field flags add up to one outcome. Pure:
plain values in and out (the stored values come in already decrypted); no I/O. The answer says
whether things agree, never what the record holds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from gateway.identity import (
    InvalidField,
    canonical_number,
    name_matching_key,
    name_pinyin_variants,
    normalise_name,
    split_surname,
    upgrade_legacy_id,
)
from gateway.identity.names import is_latin_name, to_simplified


class FieldFlag(StrEnum):
    CONSISTENT = "consistent"
    SIMILAR = "similar"
    INCONSISTENT = "inconsistent"
    # Not given by the partner, or a side holds no usable value (gender unknown / not stated).
    NOT_PROVIDED = "not_provided"


class Outcome(StrEnum):
    MATCH = "match"
    LINKED_MATCH = "linked_match"
    SIMILAR_MATCH = "similar_match"
    NO_MATCH = "no_match"
    CODE_NOT_FOUND = "code_not_found"


# Latin names longer than this are compared in the given order only (permutations grow fast).
_MAX_PERMUTED_PARTS = 4
# GB/T 2261.1 codes that say nothing about the person: 0 unknown, 9 not stated.
_UNINFORMATIVE_GENDERS = frozenset({"0", "9"})


@dataclass(frozen=True)
class Claim:
    """What the partner says about the holder of a code, already in canonical form."""

    name: str
    birth_date: date
    gender: str | None = None
    id_number: str | None = None


@dataclass(frozen=True)
class StoredFacts:
    """What the registry holds about the person the code resolves to."""

    name: str
    birth_date: date
    gender: str
    id_number: str | None
    code_is_current: bool


@dataclass(frozen=True)
class FieldFlags:
    name: FieldFlag
    birth_date: FieldFlag
    gender: FieldFlag
    id_number: FieldFlag

    def all(self) -> tuple[FieldFlag, ...]:
        return (self.name, self.birth_date, self.gender, self.id_number)


@dataclass(frozen=True)
class FactCheck:
    """A partner's claimed facts held against the stored ones: the outcome and the flag per field."""

    outcome: Outcome
    flags: FieldFlags | None  # None exactly when the code was not found


def compare_name(claimed: str, stored: str) -> FieldFlag:
    """Consistent when the canonical spellings agree; similar for a homophone typing error (晓/小),
    a character only the simplified table tells apart, or a romanised spelling of a Han name."""
    claimed_canonical = normalise_name(claimed)
    try:
        stored_canonical = normalise_name(stored)
    except InvalidField:
        # A stored record without a usable name can confirm nothing.
        return FieldFlag.INCONSISTENT
    if name_matching_key(claimed_canonical) == name_matching_key(stored_canonical):
        return FieldFlag.CONSISTENT
    if to_simplified(claimed_canonical) == to_simplified(stored_canonical):
        return FieldFlag.SIMILAR
    claimed_readings = name_pinyin_variants(claimed_canonical)
    stored_readings = name_pinyin_variants(stored_canonical)
    if claimed_readings & stored_readings:
        return FieldFlag.SIMILAR
    # A romanised name may put the surname first or last and split the given name or not.
    if _romanised_forms(claimed_canonical, claimed_readings) & _romanised_forms(
        stored_canonical, stored_readings
    ):
        return FieldFlag.SIMILAR
    return FieldFlag.INCONSISTENT


def _romanised_forms(canonical: str, readings: frozenset[str]) -> set[str]:
    """A name's readings without spaces, surname first and surname last."""
    if is_latin_name(canonical):
        parts = canonical.lower().split()
        if len(parts) > _MAX_PERMUTED_PARTS:
            return {"".join(parts)}
        return {"".join(order) for order in itertools.permutations(parts)}
    surname_syllables = len(split_surname(canonical)[0])
    forms: set[str] = set()
    for reading in readings:
        syllables = reading.split()
        forms.add("".join(syllables))
        forms.add("".join(syllables[surname_syllables:] + syllables[:surname_syllables]))
    return forms


def compare_birth_date(claimed: date, stored: date) -> FieldFlag:
    """Consistent when equal; similar for the two most common typing slips: one day off, or day and
    month swapped."""
    if claimed == stored:
        return FieldFlag.CONSISTENT
    if abs(claimed - stored) == timedelta(days=1):
        return FieldFlag.SIMILAR
    if claimed.year == stored.year and (claimed.month, claimed.day) == (stored.day, stored.month):
        return FieldFlag.SIMILAR
    return FieldFlag.INCONSISTENT


def compare_gender(claimed: str | None, stored: str) -> FieldFlag:
    if claimed is None or claimed in _UNINFORMATIVE_GENDERS or stored in _UNINFORMATIVE_GENDERS:
        return FieldFlag.NOT_PROVIDED
    return FieldFlag.CONSISTENT if claimed == stored else FieldFlag.INCONSISTENT


def canonical_id_number(text: str) -> str:
    """Upper case without spaces or separators; a legacy 15-digit resident ID upgraded to 18."""
    number = canonical_number(text)
    if len(number) == 15 and number.isdigit():
        return upgrade_legacy_id(number)
    return number


def compare_id_number(claimed: str | None, stored: str | None) -> FieldFlag:
    """Exact comparison only. A number the registry does not hold is inconsistent: a partner must
    never read 'match' as confirmation of a document the registry has never seen."""
    if claimed is None:
        return FieldFlag.NOT_PROVIDED
    if stored is None:
        return FieldFlag.INCONSISTENT
    return (
        FieldFlag.CONSISTENT
        if canonical_id_number(claimed) == canonical_id_number(stored)
        else FieldFlag.INCONSISTENT
    )


def outcome_of(flags: FieldFlags, *, code_is_current: bool) -> Outcome:
    values = flags.all()
    if FieldFlag.INCONSISTENT in values:
        return Outcome.NO_MATCH
    if FieldFlag.SIMILAR in values:
        return Outcome.SIMILAR_MATCH
    return Outcome.MATCH if code_is_current else Outcome.LINKED_MATCH


def verify(claim: Claim, stored: StoredFacts | None) -> FactCheck:
    """Compare a partner's claim with the stored facts of the code's holder (None: no such code)."""
    if stored is None:
        return FactCheck(Outcome.CODE_NOT_FOUND, None)
    flags = FieldFlags(
        name=compare_name(claim.name, stored.name),
        birth_date=compare_birth_date(claim.birth_date, stored.birth_date),
        gender=compare_gender(claim.gender, stored.gender),
        id_number=compare_id_number(claim.id_number, stored.id_number),
    )
    return FactCheck(outcome_of(flags, code_is_current=stored.code_is_current), flags)
