"""Dates as schools type them (2015-03-07, 2015/3/7, 20150307, 2015.03.07, 2015年3月7日, with
full-width digits or a spreadsheet's trailing midnight time) turned into `datetime.date`, rejecting
impossible calendar dates; and the birth-date rules (not in the future, not before 1900)."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date

from gateway.identity.issues import InvalidField

EARLIEST_BIRTH_YEAR = 1900

_SEPARATED = re.compile(
    r"^(?P<y>\d{4})(?:(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})|年(?P<cm>\d{1,2})月(?P<cd>\d{1,2})日?)"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?$",
    re.ASCII,
)
_COMPACT = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$", re.ASCII)
_SPACE_AROUND_PARTS = re.compile(r"\s*([年月日/.\-])\s*")


# Pure, and called for every row of a bulk load with some thousands of distinct texts: memoised.
@functools.lru_cache(maxsize=1 << 16)
def parse_date(text: str | None, field: str = "birth_date") -> date:
    """The calendar date for any accepted spelling; `InvalidField` for anything else."""
    if text is None or not text.strip():
        raise InvalidField(field, "missing", f"{field} is required")
    if len(text) > 64:
        raise InvalidField(field, "too_long", f"{field} is too long to be a date")
    cleaned = _SPACE_AROUND_PARTS.sub(r"\1", unicodedata.normalize("NFKC", text).strip())
    if not cleaned.isascii() and not set(cleaned) & set("年月日"):
        raise InvalidField(field, "bad_date_format", f"{field} is not in an accepted date format")
    match = _SEPARATED.match(cleaned) or _COMPACT.match(cleaned)
    if match is None:
        raise InvalidField(field, "bad_date_format", f"{field} is not in an accepted date format")
    parts = match.groupdict()
    month = parts.get("m") or parts.get("cm")
    day = parts.get("d") or parts.get("cd")
    assert month is not None and day is not None
    try:
        return date(int(parts["y"]), int(month), int(day))
    except ValueError:
        raise InvalidField(field, "impossible_date", f"{field} is not a date that exists") from None


def check_birth_date(value: date, today: date, field: str = "birth_date") -> date:
    """A birth date must not lie in the future, nor before 1900 (a typo in the year)."""
    if value > today:
        raise InvalidField(field, "future_birth_date", f"{field} is in the future")
    if value.year < EARLIEST_BIRTH_YEAR:
        raise InvalidField(field, "implausible_birth_date", f"{field} is before {EARLIEST_BIRTH_YEAR}")
    return value
