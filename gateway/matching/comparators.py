"""Pure comparators: how a field value is prepared once per record (pinyin readings, parsed dates,
ID number validity and consistency) and how two prepared values are assigned an agreement level by
the rules a configuration lists. Names compare on characters first, then on toneless pinyin (so
homophone typing errors such as 晓/小 and traditional forms normalised to simplified meet), then by
Jaro-Winkler over pinyin; dates tolerate day/month swaps and one-day or one-year slips; ID numbers
recognise one substitution or one adjacent transposition and whether each number agrees with its own
record's birth date and gender. Batch runs and the real-time search share this one implementation, so
they can never disagree on a level.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import jellyfish

from gateway.identity import (
    CITIZEN_ID_TYPES,
    InvalidField,
    name_pinyin,
    name_pinyin_variants,
    split_surname,
    validate_document,
)
from gateway.matching.config import FieldSpec, LevelSpec, MatchConfig

MISSING_LEVEL = -1
# Set by the batch on rows whose document number gateway.identity has just validated.
VALIDATED_ID_COLUMN = "_id_validated"


_CJK = re.compile(r"[\u3400-\u9fff\U00020000-\U0002ffff]")
_NAME_SEPARATORS = re.compile(r"[\s·.•・．]+")


@dataclass(frozen=True, slots=True)
class NameValue:
    """A name ready for comparison: characters and primary toneless pinyin (every reading of a
    heteronym is looked up only when two primary readings differ: see ``same_reading``)."""

    text: str
    pinyin: str
    surname: str
    surname_pinyin: str
    given_pinyin: str

    def __reduce__(self) -> tuple[type[NameValue], tuple[Any, ...]]:
        # Positional pickling: batch workers send millions of these back to the parent.
        return (NameValue, (self.text, self.pinyin, self.surname, self.surname_pinyin, self.given_pinyin))


@dataclass(frozen=True, slots=True)
class DateValue:
    """A date as its eight digits and, when it is a real calendar date, its parts and ordinal."""

    digits: str
    year: int
    month: int
    day: int
    ordinal: int | None

    def __reduce__(self) -> tuple[type[DateValue], tuple[Any, ...]]:
        # Positional pickling: batch workers send millions of these back to the parent.
        return (DateValue, (self.digits, self.year, self.month, self.day, self.ordinal))


@dataclass(frozen=True, slots=True)
class IdValue:
    """An identity document number with what its own record says about it."""

    number: str
    citizen_valid: bool
    consistent: bool

    def __reduce__(self) -> tuple[type[IdValue], tuple[Any, ...]]:
        # Positional pickling: batch workers send millions of these back to the parent.
        return (IdValue, (self.number, self.citizen_valid, self.consistent))


FieldValue = NameValue | DateValue | IdValue | str | None


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """One record's field values, prepared in the configuration's field order."""

    record_id: str
    values: tuple[FieldValue, ...]

    def __reduce__(self) -> tuple[type[PreparedRecord], tuple[Any, ...]]:
        # Positional pickling: batch workers send millions of these back to the parent.
        return (PreparedRecord, (self.record_id, self.values))


@lru_cache(maxsize=1 << 18)
def prepare_name(text: str) -> NameValue | None:
    """Prepare a canonical name; Latin names compare as sorted upper-case words (any order)."""
    text = text.strip()
    if not text:
        return None
    if not _CJK.search(text):
        words = sorted(w for w in _NAME_SEPARATORS.split(text.upper()) if w)
        joined = "".join(words)
        return NameValue(
            text=" ".join(words), pinyin=joined.lower(),
            surname="", surname_pinyin=(words[0] if words else "").lower(), given_pinyin=joined.lower(),
        )  # fmt: skip
    try:
        syllables = name_pinyin(text).split()
    except InvalidField:
        syllables = list(text)
    surname, _ = split_surname(text)
    # Minority names have no surname to tell apart: their first syllable still blocks usefully.
    n_surname = max(len(surname), 1)
    return NameValue(
        text=text,
        pinyin="".join(syllables),
        surname=surname,
        surname_pinyin="".join(syllables[:n_surname]),
        given_pinyin="".join(syllables[len(surname) :]),
    )


@lru_cache(maxsize=1 << 18)
def name_readings(text: str) -> frozenset[str]:
    """Every toneless reading of a canonical name (heteronyms expanded), syllables joined."""
    if not _CJK.search(text):
        return frozenset()
    try:
        return frozenset(v.replace(" ", "") for v in name_pinyin_variants(text))
    except InvalidField:
        return frozenset()


def same_reading(a: NameValue, b: NameValue) -> bool:
    """Whether two names can be read alike: the homophone test (晓/小, 涵/晗)."""
    if a.pinyin == b.pinyin:
        return True
    # Rarely reached (primary readings differ), so the costly heteronym expansion is done lazily.
    ra, rb = name_readings(a.text), name_readings(b.text)
    return a.pinyin in rb or b.pinyin in ra or not ra.isdisjoint(rb)


def prepare_date(text: str) -> DateValue | None:
    """Parse ``YYYY-MM-DD`` or ``YYYYMMDD``; impossible dates keep their digits (for one-digit typos)."""
    digits = text.strip().replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    try:
        ordinal: int | None = date(year, month, day).toordinal()
    except ValueError:
        ordinal = None
    return DateValue(digits, year, month, day, ordinal)


def prepare_id(
    number: str, id_type: str, birth_date: str, gender: str, *, known_valid: bool = False
) -> IdValue | None:
    """Prepare a document number; validity and consistency only mean something for citizen IDs.
    ``known_valid``: normalisation has already validated this number, do not check it again."""
    number = number.strip().upper()
    if not number or id_type == "none":
        return None
    if id_type not in CITIZEN_ID_TYPES:
        return IdValue(number, citizen_valid=False, consistent=True)
    if not (known_valid and len(number) == 18) and not validate_document(id_type, number).valid:
        return IdValue(number, citizen_valid=False, consistent=False)
    if len(number) != 18:
        return IdValue(number, citizen_valid=True, consistent=True)
    # GB 11643 layout: birth date in characters 7-14, odd 17th digit male, even female.
    consistent = not birth_date or number[6:14] == birth_date.replace("-", "")
    if consistent and gender in ("1", "2"):
        consistent = ("1" if int(number[16]) % 2 else "2") == gender
    return IdValue(number, citizen_valid=True, consistent=consistent)


FieldPreparer = Callable[[Mapping[str, str]], FieldValue]
RowPreparer = Callable[[Mapping[str, str]], PreparedRecord]


def _convert_function(spec: FieldSpec) -> Callable[[str, Mapping[str, str]], FieldValue]:
    """How a field's non-missing text becomes its prepared value (the row gives an ID number's
    document type, birth date and gender)."""
    if spec.kind == "person_name":
        return lambda raw, row: prepare_name(raw)
    if spec.kind == "date":
        return lambda raw, row: prepare_date(raw)
    if spec.kind == "id_number":
        type_column, date_column, gender_column = (
            spec.id_type_column, spec.birth_date_column, spec.gender_column
        )  # fmt: skip
        return lambda raw, row: prepare_id(
            raw,
            row.get(type_column, "resident_id") if type_column else "resident_id",
            row.get(date_column, "") if date_column else "",
            row.get(gender_column, "") if gender_column else "",
            known_valid=row.get(VALIDATED_ID_COLUMN) == "1",
        )
    if spec.kind == "string":
        return lambda raw, row: raw.lower()
    return lambda raw, row: raw


def _field_preparer(spec: FieldSpec) -> FieldPreparer:
    """One field's preparation, compiled once: its column's text, missing values, conversion."""
    column, missing, convert = spec.column, frozenset(spec.missing_values), _convert_function(spec)

    def prepare(row: Mapping[str, str]) -> FieldValue:
        raw = (row.get(column) or "").strip()
        if not raw or raw in missing:
            return None
        return convert(raw, row)

    return prepare


def row_preparer(config: MatchConfig) -> RowPreparer:
    """``prepare_row`` compiled once for a configuration (for loops over many rows)."""
    id_column = config.record_id_column
    fields = tuple(_field_preparer(spec) for spec in config.fields)

    def prepare(row: Mapping[str, str]) -> PreparedRecord:
        return PreparedRecord(record_id=row.get(id_column, ""), values=tuple(f(row) for f in fields))

    return prepare


def prepare_row(row: Mapping[str, str], config: MatchConfig) -> PreparedRecord:
    """Prepare one row (column name to text) for every field of the configuration."""
    return row_preparer(config)(row)


# --- rules ---------------------------------------------------------------------------------------

Rule = Callable[[FieldValue, FieldValue], bool]


def _name_rule(rule: str, level: LevelSpec) -> Rule:
    if rule == "exact":
        return lambda a, b: isinstance(a, NameValue) and isinstance(b, NameValue) and a.text == b.text
    if rule == "same_pinyin":
        return lambda a, b: isinstance(a, NameValue) and isinstance(b, NameValue) and a.pinyin == b.pinyin
    if rule == "same_reading":
        return lambda a, b: isinstance(a, NameValue) and isinstance(b, NameValue) and same_reading(a, b)
    threshold = level.threshold or 1.0
    return lambda a, b: (
        isinstance(a, NameValue) and isinstance(b, NameValue) and pinyin_similarity(a, b) >= threshold
    )


def pinyin_similarity(a: NameValue, b: NameValue) -> float:
    """Jaro-Winkler over pinyin; with the same surname only the given names are compared, since a
    shared surname would otherwise lift every pair of a family (the Winkler prefix bonus)."""
    if a.surname and a.surname == b.surname:
        return float(jellyfish.jaro_winkler_similarity(a.given_pinyin, b.given_pinyin))
    return float(jellyfish.jaro_winkler_similarity(a.pinyin, b.pinyin))


def _hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def is_adjacent_transposition(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with exactly one pair of neighbouring characters swapped."""
    if len(a) != len(b) or a == b:
        return False
    diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and a[diffs[0]] == b[diffs[1]]
        and a[diffs[1]] == b[diffs[0]]
    )


def _date_rule(rule: str, level: LevelSpec) -> Rule:
    def both(a: FieldValue, b: FieldValue) -> tuple[DateValue, DateValue] | None:
        return (a, b) if isinstance(a, DateValue) and isinstance(b, DateValue) else None

    def exact(a: FieldValue, b: FieldValue) -> bool:
        p = both(a, b)
        return p is not None and p[0].digits == p[1].digits

    def swap(a: FieldValue, b: FieldValue) -> bool:
        p = both(a, b)
        return (
            p is not None and p[0].year == p[1].year and p[0].month != p[0].day
            and p[0].month == p[1].day and p[0].day == p[1].month
        )  # fmt: skip

    days = level.days or 0

    def within(a: FieldValue, b: FieldValue) -> bool:
        p = both(a, b)
        if p is None or p[0].ordinal is None or p[1].ordinal is None:
            return False
        return abs(p[0].ordinal - p[1].ordinal) <= days

    def year_slip(a: FieldValue, b: FieldValue) -> bool:
        p = both(a, b)
        return (
            p is not None and p[0].month == p[1].month and p[0].day == p[1].day
            and abs(p[0].year - p[1].year) == 1
        )  # fmt: skip

    def one_digit(a: FieldValue, b: FieldValue) -> bool:
        p = both(a, b)
        return p is not None and _hamming(p[0].digits, p[1].digits) == 1

    def same_year_month(a: FieldValue, b: FieldValue) -> bool:
        p = both(a, b)
        return p is not None and p[0].year == p[1].year and p[0].month == p[1].month

    rules: dict[str, Rule] = {
        "exact": exact, "day_month_swap": swap, "within_days": within, "year_slip": year_slip,
        "one_digit": one_digit, "same_year_month": same_year_month,
    }  # fmt: skip
    return rules[rule]


def _id_rule(rule: str, level: LevelSpec) -> Rule:
    def numbers(a: FieldValue, b: FieldValue) -> tuple[str, str] | None:
        return (a.number, b.number) if isinstance(a, IdValue) and isinstance(b, IdValue) else None

    def exact_consistent(a: FieldValue, b: FieldValue) -> bool:
        return (
            isinstance(a, IdValue) and isinstance(b, IdValue) and a.number == b.number
            and a.consistent and b.consistent
        )  # fmt: skip

    def exact(a: FieldValue, b: FieldValue) -> bool:
        p = numbers(a, b)
        return p is not None and p[0] == p[1]

    def substitution(a: FieldValue, b: FieldValue) -> bool:
        p = numbers(a, b)
        return p is not None and len(p[0]) == len(p[1]) and _hamming(p[0], p[1]) == 1

    def transposition(a: FieldValue, b: FieldValue) -> bool:
        p = numbers(a, b)
        return p is not None and is_adjacent_transposition(p[0], p[1])

    rules: dict[str, Rule] = {
        "exact_consistent": exact_consistent, "exact": exact,
        "one_substitution": substitution, "adjacent_transposition": transposition,
    }  # fmt: skip
    return rules[rule]


def _region_rule(rule: str, level: LevelSpec) -> Rule:
    n = level.length or 6
    return lambda a, b: isinstance(a, str) and isinstance(b, str) and len(a) >= n and a[:n] == b[:n]


def _string_rule(rule: str, level: LevelSpec) -> Rule:
    if rule == "exact":
        return lambda a, b: isinstance(a, str) and a == b
    if rule == "jaro_winkler":
        threshold = level.threshold or 1.0
        return lambda a, b: (
            isinstance(a, str) and isinstance(b, str) and jellyfish.jaro_winkler_similarity(a, b) >= threshold
        )
    distance = level.distance or 0
    return lambda a, b: (
        isinstance(a, str) and isinstance(b, str) and jellyfish.levenshtein_distance(a, b) <= distance
    )


_RULE_FACTORIES: dict[str, Callable[[str, LevelSpec], Rule]] = {
    "person_name": _name_rule,
    "date": _date_rule,
    "id_number": _id_rule,
    "region": _region_rule,
    "string": _string_rule,
    "category": _string_rule,
}


def _always(a: FieldValue, b: FieldValue) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class FieldComparator:
    """A field's levels compiled to predicates: the first level whose any-rule holds is the level."""

    spec: FieldSpec
    levels: tuple[tuple[Rule, ...], ...]

    def level(self, a: FieldValue, b: FieldValue) -> int:
        if a is None or b is None:
            return MISSING_LEVEL
        for index, rules in enumerate(self.levels):
            for rule in rules:
                if rule(a, b):
                    return index
        return len(self.levels) - 1


def compile_field(spec: FieldSpec) -> FieldComparator:
    """Turn a field's declarative levels into predicates."""
    factory = _RULE_FACTORIES[spec.kind]
    levels = tuple(
        tuple(_always if rule == "else" else factory(rule, level) for rule in level.rules)
        for level in spec.levels
    )
    return FieldComparator(spec, levels)


def compile_config(config: MatchConfig) -> tuple[FieldComparator, ...]:
    """Compile every field of a configuration."""
    return tuple(compile_field(spec) for spec in config.fields)


def compare_levels(
    a: PreparedRecord, b: PreparedRecord, comparators: tuple[FieldComparator, ...]
) -> tuple[int, ...]:
    """The agreement level of every field (``MISSING_LEVEL`` where either side is unknown)."""
    return tuple(c.level(x, y) for c, x, y in zip(comparators, a.values, b.values, strict=True))
