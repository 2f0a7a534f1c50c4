"""The canonical student identity record (record-schema.md) and `normalise_record`, which turns one
messy input row or JSON body into it: every field normalised, every refusal an error naming its
field, every doubt a warning, and the cross-field disagreements between the ID number and the
record's own birth date and gender reported as flags rather than silently fixed."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from gateway.identity.codes import (
    Gender,
    IdType,
    parse_ethnicity,
    parse_gender,
    parse_id_type,
    parse_nationality,
)
from gateway.identity.dates import check_birth_date, parse_date
from gateway.identity.documents import validate_document
from gateway.identity.issues import FieldIssue, InvalidField
from gateway.identity.names import normalise_name
from gateway.identity.regions import find_region_codes, is_abolished_region, is_known_region

RECORD_FIELDS = (
    "record_id",
    "name",
    "gender",
    "birth_date",
    "ethnicity",
    "id_type",
    "id_number",
    "nationality",
    "household_region",
    "guardian_name",
    "school_code",
)
FLAG_MESSAGES = {
    "id_birth_date_mismatch": "the birth date carried by id_number differs from birth_date",
    "id_gender_mismatch": "the gender carried by id_number differs from gender",
    "id_nationality_mismatch": "the nationality carried by id_number differs from nationality",
}
MAX_FIELD_INPUT = 512
MAX_RECORD_ID = 128

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CanonicalRecord:
    """A person as every part of the gateway stores and compares them."""

    record_id: str | None
    name: str
    gender: str
    birth_date: date
    ethnicity: str | None
    id_type: str
    id_number: str | None
    nationality: str
    household_region: str | None
    guardian_name: str | None
    school_code: str | None

    def to_dict(self) -> dict[str, str | None]:
        """Canonical string forms (ISO date; None for absent optional fields), in schema order."""
        return {
            "record_id": self.record_id,
            "name": self.name,
            "gender": str(self.gender),
            "birth_date": self.birth_date.isoformat(),
            "ethnicity": self.ethnicity,
            "id_type": str(self.id_type),
            "id_number": self.id_number,
            "nationality": self.nationality,
            "household_region": self.household_region,
            "guardian_name": self.guardian_name,
            "school_code": self.school_code,
        }


@dataclass(frozen=True, slots=True)
class NormalisedRecord:
    """The outcome of normalising one record; ``record`` is None exactly when there are errors."""

    record: CanonicalRecord | None
    errors: tuple[FieldIssue, ...] = ()
    warnings: tuple[FieldIssue, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.record is not None


def _as_text(value: object) -> str | None:
    if isinstance(value, str):  # the common case first: every value of a CSV row
        return value
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return None


@functools.lru_cache(maxsize=256)
def _field_key(key: object) -> str:
    # CSV headers arrive with BOMs, stray spaces and capitals.
    return str(key).replace("\ufeff", "").strip().lower()


class _Collector:
    def __init__(self) -> None:
        self.errors: list[FieldIssue] = []
        self.warnings: list[FieldIssue] = []

    def run(self, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidField as exc:
            self.errors.append(exc.issue)
            return None


def _strip_text(text: str | None) -> str:
    return "" if text is None else unicodedata.normalize("NFKC", text).strip()


def _parse_record_id(text: str | None, required: bool) -> str | None:
    value = (text or "").strip()
    if not value:
        if required:
            raise InvalidField("record_id", "missing", "record_id is required in a batch file")
        return None
    if len(value) > MAX_RECORD_ID:
        raise InvalidField("record_id", "too_long", f"record_id is longer than {MAX_RECORD_ID} characters")
    if not value.isprintable():
        raise InvalidField("record_id", "control_character", "record_id contains a control character")
    return value


def _parse_region(text: str | None, warnings: list[FieldIssue]) -> str | None:
    value, warning = _region_reading(text)
    if warning is not None:
        warnings.append(warning)
    return value


# Pure, and called for every row of a bulk load with some thousands of distinct texts: memoised.
@functools.lru_cache(maxsize=1 << 14)
def _region_reading(text: str | None) -> tuple[str | None, FieldIssue | None]:
    """The region code of a text and the warning it carries (unknown or abolished), if any."""
    value = _strip_text(text).replace(" ", "")
    if not value:
        return None, None
    if not (value.isascii() and value.isdigit()):
        codes = find_region_codes(value)
        if len(codes) == 1:
            return codes[0], None
        raise InvalidField(
            "household_region", "bad_region", "household_region must be a 6-digit GB/T 2260 code"
        )
    if len(value) != 6:
        raise InvalidField(
            "household_region", "bad_region", "household_region must be a 6-digit GB/T 2260 code"
        )
    if not is_known_region(value):
        return value, FieldIssue("household_region", "unknown_region", "household_region is not in GB/T 2260")
    if is_abolished_region(value):
        return value, FieldIssue(
            "household_region", "abolished_region", "household_region has been abolished"
        )
    return value, None


def _parse_school_code(text: str | None) -> str | None:
    value = _strip_text(text).replace(" ", "")
    if not value:
        return None
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        raise InvalidField(
            "school_code", "bad_school_code", "school_code must be the 10-digit school identifier"
        )
    return value


def _optional_name(text: str | None, field: str) -> str | None:
    if text is None or not text.strip():
        return None
    return normalise_name(text, field)


def normalise_record(
    raw: Mapping[str, object], *, today: date | None = None, require_record_id: bool = False
) -> NormalisedRecord:
    """Normalise one record; never raises, whatever ``raw`` holds."""
    try:
        return _normalise_record(raw, today or date.today(), require_record_id)
    except Exception:
        # Bulk import must go on past one row it cannot read; the tests hold that no known input
        # reaches this line, so it is a net for the unforeseen, reported as a row error.
        return NormalisedRecord(
            record=None, errors=(FieldIssue("record", "unreadable", "the record could not be read"),)
        )


def _field_values(raw: Mapping[str, object], out: _Collector) -> dict[str, str | None]:
    """The record's known fields as text; a value that is not text, or too long, is an error."""
    values: dict[str, str | None] = {}
    for key, value in raw.items():
        field = _field_key(key)
        if field not in RECORD_FIELDS:
            continue
        text = _as_text(value)
        if value is not None and text is None:
            out.errors.append(FieldIssue(field, "bad_type", f"{field} must be text"))
            continue
        if text is not None and len(text) > MAX_FIELD_INPUT:
            out.errors.append(
                FieldIssue(field, "too_long", f"{field} is longer than {MAX_FIELD_INPUT} characters")
            )
            continue
        values[field] = text
    return values


def _document_type(values: Mapping[str, str | None], out: _Collector) -> IdType | None:
    """The document type; none given and no number either is taken as ``none``, with a warning."""
    id_type_text = values.get("id_type")
    if (id_type_text is None or not id_type_text.strip()) and not (values.get("id_number") or "").strip():
        out.warnings.append(
            FieldIssue("id_type", "missing_id_type", "no id_type and no number: taken as 'none'")
        )
        return IdType.NONE
    return out.run(lambda: parse_id_type(id_type_text))


def _document_number(
    id_type: IdType,
    number_text: str | None,
    today: date,
    stated: tuple[date | None, Gender | None, str | None],
    out: _Collector,
    flags: list[str],
) -> str | None:
    """The document number checked for its type; where the number itself carries a birth date, a
    gender or a nationality that disagrees with the one stated (birth date, gender, nationality), a flag."""
    check = validate_document(id_type, number_text, today=today)
    if not check.valid:
        out.errors.append(check.issue or FieldIssue("id_number", "invalid", "the number is not valid"))
        return None
    out.warnings.extend(check.warnings)
    birth_date, gender, nationality = stated
    if check.birth_date is not None and birth_date is not None and check.birth_date != birth_date:
        flags.append("id_birth_date_mismatch")
    if check.gender is not None and gender in (Gender.MALE, Gender.FEMALE) and check.gender != gender:
        flags.append("id_gender_mismatch")
    if check.nationality is not None and nationality is not None and check.nationality != nationality:
        flags.append("id_nationality_mismatch")
    return check.number or None


def _normalise_record(raw: Mapping[str, object], today: date, require_record_id: bool) -> NormalisedRecord:
    out = _Collector()
    values = _field_values(raw, out)
    if out.errors:
        return NormalisedRecord(record=None, errors=tuple(out.errors))

    record_id = out.run(lambda: _parse_record_id(values.get("record_id"), require_record_id))
    name = out.run(lambda: normalise_name(values.get("name")))
    gender = out.run(lambda: parse_gender(values.get("gender")))
    birth_date = out.run(lambda: check_birth_date(parse_date(values.get("birth_date")), today))
    ethnicity = out.run(lambda: parse_ethnicity(values.get("ethnicity")))
    nationality = out.run(lambda: parse_nationality(values.get("nationality")))
    household_region = out.run(lambda: _parse_region(values.get("household_region"), out.warnings))
    guardian_name = out.run(lambda: _optional_name(values.get("guardian_name"), "guardian_name"))
    school_code = out.run(lambda: _parse_school_code(values.get("school_code")))
    id_type = _document_type(values, out)
    flags: list[str] = []
    id_number = (
        None
        if id_type is None
        else _document_number(
            id_type, values.get("id_number"), today, (birth_date, gender, nationality), out, flags
        )
    )

    if out.errors:
        return NormalisedRecord(
            record=None, errors=tuple(out.errors), warnings=tuple(out.warnings), flags=tuple(flags)
        )
    assert name is not None and gender is not None and birth_date is not None
    assert id_type is not None and nationality is not None
    record = CanonicalRecord(
        record_id=record_id,
        name=name,
        gender=gender.value,
        birth_date=birth_date,
        ethnicity=ethnicity,
        id_type=id_type.value,
        id_number=id_number,
        nationality=nationality,
        household_region=household_region,
        guardian_name=guardian_name,
        school_code=school_code,
    )
    return NormalisedRecord(record=record, warnings=tuple(out.warnings), flags=tuple(flags))
