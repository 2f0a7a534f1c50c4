"""Pure formats of national student codes (全国学籍号): parse, validate and build G, J and L codes.

Every code is 19 characters: a type letter and 18 characters.

- ``G`` + the 18-character resident ID number at the time of issue (its own MOD 11-2 check).
- ``J`` + 6-digit school region + 8-digit birth date + 3-digit sequence + MOD 11-2 check character.
- ``L`` + 6-digit school region + 8-digit birth date + 4 random digits (no check character).

ISO 7064 MOD 11-2 detects every single-character substitution and every adjacent transposition,
which is why formal codes carry it; temporary codes live only weeks and carry none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from stdnum.iso7064 import mod_11_2

CODE_LENGTH = 19
# GB/T 2260 province-level prefixes (plus 71 Taiwan, 81 Hong Kong, 82 Macau).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
_BODY = re.compile(r"^\d{17}[\dX]$")
_L_BODY = re.compile(r"^\d{18}$")


class CodeType(StrEnum):
    G = "G"  # formal, from a verified resident ID number
    J = "J"  # formal, for a person without a usable ID number
    L = "L"  # temporary, until verification and the national duplicate check


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of validating a code: whether it is well formed, and what it carries."""

    code: str
    valid: bool
    type: CodeType | None
    errors: tuple[str, ...] = field(default=())
    region: str | None = None
    birth_date: date | None = None


def check_character(digits17: str) -> str:
    """The ISO 7064 MOD 11-2 check character over 17 digits (as for resident ID numbers)."""
    return str(mod_11_2.calc_check_digit(digits17))


def normalise_code(text: str) -> str:
    """Upper-case and strip spaces; codes are case-insensitive on input."""
    return "".join(text.split()).upper()


def _parse_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def validate_code(text: str, *, today: date | None = None) -> CodeCheck:
    """Check a code's shape, type letter, region, birth date and check character."""
    code = normalise_code(text)
    today = today or date.today()
    if len(code) != CODE_LENGTH:
        return CodeCheck(code, False, None, (f"length must be {CODE_LENGTH} characters, got {len(code)}",))
    letter, body = code[0], code[1:]
    try:
        kind = CodeType(letter)
    except ValueError:
        return CodeCheck(code, False, None, ("type letter must be G, J or L",))
    errors: list[str] = []
    if kind is CodeType.L:
        if not _L_BODY.match(body):
            errors.append("an L code has 18 digits after the letter")
    elif not _BODY.match(body):
        errors.append("a G or J code has 17 digits and a check character (digit or X) after the letter")
    if errors:
        return CodeCheck(code, False, kind, tuple(errors))
    region = body[:6]
    if region[:2] not in PROVINCE_PREFIXES:
        errors.append(f"region {region} is not a GB/T 2260 province-level prefix")
    birth = _parse_date(body[6:14])
    if birth is None:
        errors.append(f"birth date {body[6:14]} is not a calendar date")
    elif birth > today:
        errors.append(f"birth date {birth.isoformat()} is in the future")
    elif birth.year < 1900:
        errors.append(f"birth date {birth.isoformat()} is before 1900")
    if kind is not CodeType.L and check_character(body[:17]) != body[17]:
        errors.append("check character does not match (a character was mistyped or two were swapped)")
    return CodeCheck(code, not errors, kind, tuple(errors), region, birth)


def build_g_code(resident_id: str) -> str:
    """``G`` + the resident ID number. The number must already be a valid 18-character one."""
    number = normalise_code(resident_id)
    if not _BODY.match(number) or check_character(number[:17]) != number[17]:
        raise ValueError("a G code needs a valid 18-character resident ID number")
    return CodeType.G + number


def _prefix(region: str, birth_date: date) -> str:
    if not re.fullmatch(r"\d{6}", region):
        raise ValueError("region must be 6 digits")
    return region + birth_date.strftime("%Y%m%d")


def build_j_code(region: str, birth_date: date, sequence: int) -> str:
    if not 1 <= sequence <= 999:
        raise ValueError("J sequence must be 1..999")
    digits = _prefix(region, birth_date) + f"{sequence:03d}"
    return CodeType.J + digits + check_character(digits)


def build_l_code(region: str, birth_date: date, suffix: int) -> str:
    if not 0 <= suffix <= 9999:
        raise ValueError("L suffix must be 0..9999")
    return CodeType.L + _prefix(region, birth_date) + f"{suffix:04d}"


def l_prefix(region: str, birth_date: date) -> str:
    """The 15 characters every L code of a (region, birth date) starts with."""
    return CodeType.L + _prefix(region, birth_date)
