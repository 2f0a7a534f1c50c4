"""Jurisdictions: what part of the country (or which school) a caller may see and change.

A jurisdiction is ``CN`` (the whole country), a GB/T 2260 region prefix of 2, 4 or 6 digits
(province, city, county) or a 10-digit school identifier. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COUNTRY = "CN"
_REGION = re.compile(r"^\d{2}(\d{2}(\d{2})?)?$")
_SCHOOL = re.compile(r"^\d{10}$")


@dataclass(frozen=True)
class Jurisdiction:
    value: str

    @classmethod
    def parse(cls, text: str) -> Jurisdiction:
        text = text.strip().upper()
        if text == COUNTRY or _REGION.match(text) or _SCHOOL.match(text):
            return cls(text)
        raise ValueError(
            "jurisdiction must be CN, a region prefix of 2, 4 or 6 digits, or a 10-digit school code"
        )

    @property
    def is_country(self) -> bool:
        return self.value == COUNTRY

    @property
    def is_school(self) -> bool:
        return bool(_SCHOOL.match(self.value))

    @property
    def region_prefix(self) -> str | None:
        """The region prefix this jurisdiction covers; '' for the whole country, None for a school."""
        if self.is_country:
            return ""
        if self.is_school:
            return None
        return self.value

    def covers(self, region: str | None, school_code: str | None = None) -> bool:
        """Whether a record held by ``school_code`` in ``region`` lies inside this jurisdiction."""
        if self.is_country:
            return True
        if self.is_school:
            return school_code is not None and school_code == self.value
        return region is not None and region.startswith(self.value)

    def covers_any(self, places: list[tuple[str | None, str | None]]) -> bool:
        return any(self.covers(region, school) for region, school in places)
