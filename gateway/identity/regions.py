"""GB/T 2260 administrative division codes: code to name, province/city/county level, and which
codes are abolished. The data is python-stdnum's history table (``stdnum/cn/loc.dat``, read through
``stdnum.numdb``), which records for every code the years each name was in force, so a number issued
under a code abolished since still resolves. The table is parsed once, on first use."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

RegionLevel = Literal["province", "city", "county"]

# Placeholder rows of the table that group counties without being a place of their own.
_PLACEHOLDER_NAMES = frozenset(
    {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政单位", "省直辖行政单位"}
)
_NAME_RE = re.compile(r"^\[(?P<start>\d*)-(?P<end>\d*)\](?P<name>.+)$")


@dataclass(frozen=True, slots=True)
class RegionName:
    """One name a code carried, and the years it was in force (None: open-ended)."""

    name: str
    start: int | None
    end: int | None

    def in_force(self, year: int) -> bool:
        return (self.start is None or year >= self.start) and (self.end is None or year <= self.end)


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    names: tuple[RegionName, ...]

    @property
    def name(self) -> str:
        """The name in force now, or the last one the code carried before it was abolished."""
        for entry in self.names:
            if entry.end is None:
                return entry.name
        return max(self.names, key=lambda n: n.end or 0).name

    @property
    def abolished(self) -> bool:
        return all(entry.end is not None for entry in self.names)

    @property
    def level(self) -> RegionLevel:
        return region_level(self.code)


def _parse_names(raw: str) -> tuple[RegionName, ...]:
    names = []
    for part in raw.split(","):
        match = _NAME_RE.match(part)
        if match is None:
            names.append(RegionName(part, None, None))
        else:
            start, end = match["start"], match["end"]
            names.append(RegionName(match["name"], int(start) if start else None, int(end) if end else None))
    return tuple(names)


@functools.cache
def _regions() -> Mapping[str, Region]:
    from stdnum import numdb

    table: dict[str, Region] = {}
    prefixes: Iterable[Any] = numdb.get("cn/loc").prefixes
    for _length, low, _high, props, children in prefixes:
        province_names = _parse_names(props["province"])
        for _clength, clow, _chigh, cprops, _ in children:
            code = f"{low}{clow}"
            table[code] = Region(code, _parse_names(cprops["county"]))
        # The province row itself carries the traditional spelling for HK and Macau; keep the
        # simplified child row "xx0000" where the table has one.
        table.setdefault(f"{low}0000", Region(f"{low}0000", province_names))
    return MappingProxyType(table)


def _check_shape(code: str) -> None:
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise ValueError("a GB/T 2260 code is six digits")


def region_level(code: str) -> RegionLevel:
    """The level a code's shape puts it at (xx0000 province, xxxx00 city, otherwise county)."""
    _check_shape(code)
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def get_region(code: str) -> Region | None:
    return _regions().get(code)


def is_known_region(code: str) -> bool:
    return code in _regions()


def is_abolished_region(code: str) -> bool:
    region = _regions().get(code)
    return region is not None and region.abolished


def region_name(code: str, *, year: int | None = None) -> str | None:
    """The name of a code (the one in force in ``year`` when given), or None if the code is unknown."""
    region = _regions().get(code)
    if region is None:
        return None
    if year is not None:
        for entry in region.names:
            if entry.in_force(year):
                return entry.name
        return None
    return region.name


def region_full_name(code: str) -> str | None:
    """Province, city and county names joined (北京市海淀区), skipping grouping rows like 市辖区."""
    region = _regions().get(code)
    if region is None:
        return None
    parts: list[str] = []
    for prefix_code in dict.fromkeys((code[:2] + "0000", code[:4] + "00", code)):
        prefix = _regions().get(prefix_code)
        if prefix is not None and prefix.name not in _PLACEHOLDER_NAMES and prefix.name not in parts:
            parts.append(prefix.name)
    return "".join(parts)


@functools.cache
def _codes_by_name() -> Mapping[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for code, region in _regions().items():
        if region.abolished or region.name in _PLACEHOLDER_NAMES:
            continue
        keys = {region.name, region_full_name(code) or region.name}
        for key in keys:
            index.setdefault(key, []).append(code)
    return MappingProxyType({name: tuple(codes) for name, codes in index.items()})


def find_region_codes(name: str) -> tuple[str, ...]:
    """Codes in force whose own or full name is ``name`` (several for names like 朝阳区)."""
    return _codes_by_name().get(name, ())
