"""Reading a school register file: CSV, UTF-8, a header row, one school per row. Pure: text in,
the schools it describes and every refusal (row, field, code, message) out; nothing is stored here.

Columns: ``school_code,name,region,type`` (required) and ``levels``, ``enrolment``, ``active``,
``run_by`` (optional; other columns are ignored). ``levels`` defaults to the type's usual levels,
``active`` to true, ``run_by`` (who runs the school: ``county`` or ``city``) to ``county``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.identity import is_known_region
from gateway.schools.levels import DEFAULT_LEVELS, Level, SchoolType, format_levels, parse_levels

REQUIRED_COLUMNS = ("school_code", "name", "region", "type")
OPTIONAL_COLUMNS = ("levels", "enrolment", "active", "run_by")
# Who runs a school: its county's bureau, or the city's directly (市直属); a city-run school's
# submissions are reviewed by the city after the county (docs/adr/019-collection-review-levels.md).
RUN_BY = ("county", "city")
MAX_NAME = 200
_CODE = re.compile(r"^\d{10}$")
_REGION = re.compile(r"^\d{6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = frozenset({"true", "1", "yes", "y", "是"})
_FALSE = frozenset({"false", "0", "no", "n", "否"})


@dataclass(frozen=True)
class SchoolRow:
    """One school as the file describes it, checked."""

    line: int
    code: str
    name: str
    region: str
    type: SchoolType
    levels: frozenset[Level]
    enrolment: int | None
    active: bool
    run_by: str = "county"

    @property
    def levels_text(self) -> str:
        return format_levels(self.levels)


@dataclass(frozen=True)
class RowError:
    line: int  # the file's line (the header is line 1); 1 for a fault of the header itself
    field: str
    code: str
    message: str


@dataclass(frozen=True)
class ParsedRegister:
    schools: list[SchoolRow]
    errors: list[RowError]


def _row(line: int, raw: dict[str, str]) -> tuple[SchoolRow | None, list[RowError]]:
    errors: list[RowError] = []

    def refuse(field: str, code: str, message: str) -> None:
        errors.append(RowError(line, field, code, message))

    value = {k: (raw.get(k) or "").strip() for k in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    code, region, name = value["school_code"], value["region"], value["name"]
    if not _CODE.match(code):
        refuse("school_code", "invalid", "school_code must be the 10-digit school identifier")
    if not _REGION.match(region):
        refuse("region", "invalid", "region must be a 6-digit GB/T 2260 county code")
    elif not is_known_region(region):
        refuse("region", "unknown_region", f"{region} is not a known GB/T 2260 region code")
    elif _CODE.match(code) and code[:6] != region:
        # Registrations refuse a school_code not beginning with its region; the register agrees.
        refuse("school_code", "region_mismatch", f"school_code {code} does not begin with region {region}")
    if not name:
        refuse("name", "missing", "name is required")
    elif len(name) > MAX_NAME or _CONTROL.search(name):
        refuse("name", "invalid", f"name must be at most {MAX_NAME} characters, without control characters")
    school_type: SchoolType | None = None
    try:
        school_type = SchoolType(value["type"].lower())
    except ValueError:
        refuse("type", "invalid", f"type must be one of {', '.join(t.value for t in SchoolType)}")
    levels: frozenset[Level] | None = DEFAULT_LEVELS.get(school_type) if school_type else None
    if value["levels"]:
        try:
            levels = parse_levels(value["levels"])
        except ValueError as exc:
            refuse("levels", "invalid", str(exc))
    enrolment: int | None = None
    if value["enrolment"]:
        if not value["enrolment"].isdigit() or len(value["enrolment"]) > 7:
            refuse("enrolment", "invalid", "enrolment must be a whole number of students (0 or more)")
        else:
            enrolment = int(value["enrolment"])
    active = True
    if value["active"]:
        flag = value["active"].lower()
        if flag not in _TRUE | _FALSE:
            refuse("active", "invalid", "active must be true or false")
        active = flag in _TRUE
    run_by = value["run_by"].lower() or "county"
    if run_by not in RUN_BY:
        refuse("run_by", "invalid", f"run_by must be one of {', '.join(RUN_BY)}")
    if errors or school_type is None or levels is None:
        return None, errors
    return SchoolRow(line, code, name, region, school_type, levels, enrolment, active, run_by), []


def parse_register(text: str) -> ParsedRegister:
    """The schools of a register file and every refusal, each naming its line and field."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return ParsedRegister(
            [],
            [RowError(1, c, "missing_column", f"the header row has no {c} column") for c in missing],
        )
    reader.fieldnames = header
    schools: list[SchoolRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue  # a blank line
        school, refused = _row(line, raw)
        errors.extend(refused)
        if school is None:
            continue
        if school.code in first_line:
            errors.append(
                RowError(
                    line,
                    "school_code",
                    "duplicate",
                    f"school {school.code} is already on line {first_line[school.code]}",
                )
            )
            continue
        first_line[school.code] = line
        schools.append(school)
    return ParsedRegister(schools, errors)


DEMO_REGISTER = Path(__file__).with_name("demo_register.csv")
"""The register the README's demo imports, and ``gateway generate-records --for-registration`` draws
its schools from."""


def school_for(schools: list[SchoolRow], household_region: str | None, n: int) -> SchoolRow:
    """An active school for a child of ``household_region``: one of its county if the register has
    any, else of its province, else any; ``n`` picks among them (deterministic for a given ``n``)."""
    active = [s for s in schools if s.active] or schools
    region = household_region or ""
    for near in (
        [s for s in active if s.region == region],
        [s for s in active if s.region[:2] == region[:2]],
        active,
    ):
        if near:
            return near[n % len(near)]
    raise ValueError("the register has no school")
