"""Validation of identity document numbers, one rule set per `IdType`, each giving a structured
`DocumentCheck`: valid or not (with a machine-readable reason), warnings that do not invalidate the
number, and the facts the number carries (birth date, gender, region, nationality).

Resident ID numbers use python-stdnum (`stdnum.cn.ric`) for the MOD 11-2 check character and cover
the gaps the domain notes list: legacy 15-digit numbers (upgraded to 18), HK/Macau/Taiwan residence
permits under 810000/820000/830000, 2023 permanent residence cards starting with 9, future birth
dates (invalid here, accepted by stdnum), and region codes (unknown or abolished ones are a warning
here, stdnum rejects them)."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from stdnum.cn import ric

from gateway.identity.codes import IdType, country_for_numeric, is_known_country
from gateway.identity.dates import EARLIEST_BIRTH_YEAR
from gateway.identity.issues import FieldIssue
from gateway.identity.regions import is_abolished_region, is_known_region

MAX_NUMBER_INPUT = 64
HMT_REGIONS = {"810000": "Hong Kong", "820000": "Macau", "830000": "Taiwan"}

_DIGITS17 = re.compile(r"^\d{17}[\dX]$", re.ASCII)
_LEGACY = re.compile(r"^\d{15}$", re.ASCII)
_PR_2023 = re.compile(r"^9\d{16}[\dX]$", re.ASCII)
_PR_OLD = re.compile(r"^[A-Z]{3}\d{12}$", re.ASCII)
_HK_MACAU_PERMIT = re.compile(r"^[HM]\d{8}(\d{2})?$", re.ASCII)
_TAIWAN_PERMIT = re.compile(r"^\d{8}(\d{2})?$", re.ASCII)
_HK_MACAU_ID = re.compile(r"^[A-Z0-9]{5,20}$", re.ASCII)
_PASSPORT = re.compile(r"^[A-Z0-9]{5,17}$", re.ASCII)
_SEPARATORS = re.compile(r"[\s\-()]+")

_FIELD = "id_number"


@dataclass(frozen=True, slots=True)
class DocumentCheck:
    """What a document number says, and whether it can be accepted.

    ``number`` is the canonical form (upper case, no spaces; a legacy 15-digit resident number is
    upgraded to 18). ``reason`` is a code such as ``bad_check_character`` when ``valid`` is False and
    ``message`` explains it. ``gender`` is "1"/"2" and ``region`` a six-digit GB/T 2260 code.
    """

    id_type: str
    number: str
    valid: bool
    reason: str | None = None
    warnings: tuple[FieldIssue, ...] = ()
    birth_date: date | None = None
    gender: str | None = None
    region: str | None = None
    nationality: str | None = None
    message: str | None = None

    @property
    def issue(self) -> FieldIssue | None:
        """The refusal as a field issue, or None when the number is valid."""
        if self.valid or self.reason is None:
            return None
        return FieldIssue(_FIELD, self.reason, self.message or self.reason)


def canonical_number(text: str) -> str:
    """Full-width to half-width, spaces, hyphens and brackets removed, upper case."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def check_character(first17: str) -> str:
    """The GB 11643 MOD 11-2 check character for the first 17 digits."""
    return str(ric.calc_check_digit(first17 + "0"))


def upgrade_legacy_id(number15: str) -> str:
    """The 18-digit number for a legacy 15-digit one: 19 before the YYMMDD, then the check character."""
    number = canonical_number(number15)
    if not _LEGACY.match(number):
        raise ValueError("a legacy resident ID number is 15 digits")
    first17 = number[:6] + "19" + number[6:]
    return first17 + check_character(first17)


def _invalid(id_type: str, number: str, reason: str, message: str) -> DocumentCheck:
    return DocumentCheck(id_type=id_type, number=number, valid=False, reason=reason, message=message)


@functools.lru_cache(maxsize=1 << 14)  # pure; a bulk load meets each value many times
def _birth_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def _gender(sequence_digit: str) -> str:
    return "1" if int(sequence_digit) % 2 else "2"


def _date_problem(born: date | None, today: date) -> tuple[str, str] | None:
    if born is None:
        return "bad_birth_date", "the birth date in the number does not exist"
    if born > today:
        return "future_birth_date", "the birth date in the number is in the future"
    return None


def _early_birth_warning(born: date) -> tuple[FieldIssue, ...]:
    if born.year < EARLIEST_BIRTH_YEAR:
        return (
            FieldIssue(
                _FIELD, "implausible_birth_date", f"the number's birth year is before {born.year + 1}"
            ),
        )
    return ()


@functools.lru_cache(maxsize=1 << 14)  # pure; a bulk load meets each value many times
def _region_warnings(region: str) -> tuple[FieldIssue, ...]:
    if not is_known_region(region):
        return (FieldIssue(_FIELD, "unknown_region", "the number's region code is not in GB/T 2260"),)
    if is_abolished_region(region):
        return (FieldIssue(_FIELD, "abolished_region", "the number's region code has been abolished"),)
    return ()


def _check_gb11643(id_type: IdType, number: str, today: date, legacy: bool) -> DocumentCheck:
    if not _DIGITS17.match(number):
        return _invalid(id_type, number, "bad_format", "the number must be 17 digits and a digit or X")
    if number[-1] != check_character(number[:17]):
        return _invalid(id_type, number, "bad_check_character", "the check character does not match")
    born = _birth_date(number[6:14])
    problem = _date_problem(born, today)
    if problem is not None:
        return _invalid(id_type, number, *problem)
    assert born is not None
    region = number[:6]
    warnings: list[FieldIssue] = []
    if legacy:
        warnings.append(FieldIssue(_FIELD, "legacy_number", "a 15-digit number, upgraded to 18 digits"))
    nationality: str | None = "CHN"
    if id_type is IdType.HMT_RESIDENCE_PERMIT:
        if region not in HMT_REGIONS:
            return _invalid(
                id_type, number, "bad_region", "a residence permit number starts 810000, 820000 or 830000"
            )
        nationality = None
    else:
        if region in HMT_REGIONS:
            warnings.append(
                FieldIssue(
                    _FIELD, "residence_permit_number", "the number is laid out like an HK/Macau/Taiwan permit"
                )
            )
        warnings.extend(_region_warnings(region))
    warnings.extend(_early_birth_warning(born))
    return DocumentCheck(
        id_type=id_type,
        number=number,
        valid=True,
        warnings=tuple(warnings),
        birth_date=born,
        gender=_gender(number[16]),
        region=region,
        nationality=nationality,
    )


def _check_resident(id_type: IdType, number: str, today: date) -> DocumentCheck:
    if len(number) == 15:
        if not _LEGACY.match(number):
            return _invalid(id_type, number, "bad_format", "a 15-digit legacy number has digits only")
        return _check_gb11643(id_type, upgrade_legacy_id(number), today, legacy=True)
    if len(number) != 18:
        return _invalid(
            id_type, number, "bad_length", "a resident ID number has 18 characters (or 15, legacy)"
        )
    return _check_gb11643(id_type, number, today, legacy=False)


def _check_permanent_residence(number: str, today: date) -> DocumentCheck:
    id_type = IdType.FOREIGN_PERMANENT_RESIDENCE
    if _PR_OLD.match(number):
        warnings: tuple[FieldIssue, ...] = ()
        if not is_known_country(number[:3]):
            warnings = (
                FieldIssue(_FIELD, "unknown_nationality", "the nationality letters are not ISO 3166-1"),
            )
        nationality = number[:3] if not warnings else None
        return DocumentCheck(
            id_type=id_type, number=number, valid=True, warnings=warnings, nationality=nationality
        )
    if len(number) != 18:
        return _invalid(
            id_type, number, "bad_length", "a permanent residence number has 18 (2023) or 15 characters"
        )
    if not _PR_2023.match(number):
        return _invalid(
            id_type, number, "bad_format", "a 2023 permanent residence number is 9, 16 digits, digit or X"
        )
    if number[-1] != check_character(number[:17]):
        return _invalid(id_type, number, "bad_check_character", "the check character does not match")
    born = _birth_date(number[6:14])
    problem = _date_problem(born, today)
    if problem is not None:
        return _invalid(id_type, number, *problem)
    assert born is not None
    warnings_list: list[FieldIssue] = []
    region = number[1:3] + "0000"
    if not is_known_region(region):
        warnings_list.append(
            FieldIssue(_FIELD, "unknown_region", "the province of issue is not in GB/T 2260")
        )
    nationality_code = country_for_numeric(number[3:6])
    if nationality_code is None:
        warnings_list.append(
            FieldIssue(_FIELD, "unknown_nationality", "the nationality digits are not ISO 3166-1")
        )
    warnings_list.extend(_early_birth_warning(born))
    return DocumentCheck(
        id_type=id_type,
        number=number,
        valid=True,
        warnings=tuple(warnings_list),
        birth_date=born,
        gender=_gender(number[16]),
        region=region if is_known_region(region) else None,
        nationality=nationality_code,
    )


def _check_pattern(id_type: IdType, number: str, pattern: re.Pattern[str], shape: str) -> DocumentCheck:
    if not pattern.match(number):
        return _invalid(id_type, number, "bad_format", f"the number must be {shape}")
    region = None
    if id_type is IdType.HK_MACAU_PERMIT:
        region = "810000" if number[0] == "H" else "820000"
    return DocumentCheck(id_type=id_type, number=number, valid=True, region=region)


def _check_other(number: str) -> DocumentCheck:
    if not all(ch.isprintable() for ch in number):
        return _invalid(
            IdType.OTHER, number, "bad_format", "the number contains characters that cannot be printed"
        )
    return DocumentCheck(id_type=IdType.OTHER, number=number, valid=True)


def validate_document(id_type: str, number: str | None, *, today: date | None = None) -> DocumentCheck:
    """Check a document number of the given type (enum name or form code); never raises."""
    today = today or date.today()
    try:
        kind = IdType(id_type)
    except ValueError:
        return _invalid(str(id_type)[:32], "", "unknown_id_type", "id_type is not a known document type")
    raw = number or ""
    if len(raw) > MAX_NUMBER_INPUT:
        return _invalid(kind, "", "bad_length", f"the number is longer than {MAX_NUMBER_INPUT} characters")
    canonical = canonical_number(raw)
    if kind is IdType.NONE:
        if canonical:
            return _invalid(kind, canonical, "unexpected_number", "a number was given for id_type none")
        return DocumentCheck(id_type=kind, number="", valid=True)
    if not canonical:
        return _invalid(kind, "", "missing_number", "a number is required for this document type")
    match kind:
        case IdType.RESIDENT_ID | IdType.HOUSEHOLD_BOOKLET:
            return _check_resident(kind, canonical, today)
        case IdType.HMT_RESIDENCE_PERMIT:
            if len(canonical) != 18:
                return _invalid(kind, canonical, "bad_length", "a residence permit number has 18 characters")
            return _check_gb11643(kind, canonical, today, legacy=False)
        case IdType.FOREIGN_PERMANENT_RESIDENCE:
            return _check_permanent_residence(canonical, today)
        case IdType.HK_MACAU_PERMIT:
            return _check_pattern(kind, canonical, _HK_MACAU_PERMIT, "H or M and 8 digits (or 10)")
        case IdType.TAIWAN_PERMIT:
            return _check_pattern(
                kind, canonical, _TAIWAN_PERMIT, "8 digits, or 10 with the replacement count"
            )
        case IdType.HK_MACAU_ID:
            return _check_pattern(kind, canonical, _HK_MACAU_ID, "5 to 20 letters or digits")
        case IdType.PASSPORT:
            return _check_pattern(kind, canonical, _PASSPORT, "5 to 17 letters or digits")
        case _:
            return _check_other(canonical)
