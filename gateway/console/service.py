"""What the console pages show, built from the registry's and the reports' own services.

The queue filters and ages problem records; the comparison lines a problem record's submitted
record (or subject person) up against each candidate field by field; the dashboard turns a progress
report into bar charts drawn as SVG on the server. Decisions are not taken here: the endpoints call
``gateway.registry.reviews`` exactly as the API does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.batches.collection import RowReason
from gateway.clock import as_utc
from gateway.errors import FieldError, InvalidInput
from gateway.privacy import mask_code
from gateway.registry.models import ProblemRecord
from gateway.registry.schemas import PersonView, ProblemDetail
from gateway.reports.schemas import ProgressReport, QualityReport, RegionFigures

AGE_FILTERS: dict[str, int] = {"7": 7, "30": 30, "90": 90}
# The codes the filters offer; their texts are the catalogue's (``problem_type.*``, ``problem_status.*``).
PROBLEM_TYPES = (
    "possible_duplicate",
    "duplicate_id",
    "duplicate_no_id",
    "wrong_id",
    "duplicate_enrolment",
    "auto_link_review",
)
PROBLEM_STATUSES = ("open", "needs_evidence", "resolved")


@dataclass(frozen=True)
class QueueRow:
    id: int
    type: str
    status: str
    region: str
    school_code: str | None
    candidate_count: int
    opened_at: datetime
    age_days: int


@dataclass(frozen=True)
class Queue:
    rows: list[QueueRow]
    by_type: dict[str, int]
    by_status: dict[str, int]


def build_queue(
    problems: Sequence[ProblemRecord], status_counts: dict[str, int], now: datetime, min_age_days: int | None
) -> Queue:
    """Problem records older than ``min_age_days`` (all when None), with counts by type."""
    rows = []
    for p in problems:
        age = (now - as_utc(p.opened_at)).days
        if min_age_days is not None and age < min_age_days:
            continue
        rows.append(
            QueueRow(
                id=int(p.id or 0),
                type=p.type,
                status=p.status,
                region=p.region,
                school_code=p.school_code,
                candidate_count=len(p.candidate_person_ids.split()),
                opened_at=as_utc(p.opened_at),
                age_days=age,
            )
        )
    return Queue(rows, dict(Counter(r.type for r in rows)), status_counts)


# The fields compared side by side, in the order a reviewer reads a record (texts: ``person_field.*``).
COMPARED_FIELDS: tuple[str, ...] = (
    "name",
    "gender",
    "birth_date",
    "id_type",
    "id_number",
    "household_region",
    "guardian_name",
    "school_code",
    "region",
    "code",
    "verification_status",
)


@dataclass(frozen=True)
class Cell:
    value: str | None
    agreement: str  # "same", "different", "missing" or "" for the reference column


@dataclass(frozen=True)
class Column:
    """One side of the comparison: ``kind`` is submitted, subject or candidate; ``held_in`` the
    province of a person outside the reader's jurisdiction (shown only as that)."""

    kind: str
    person_id: int | None
    cells: list[Cell]
    explanation: dict[str, Any] | None = None
    held_in: str | None = None


@dataclass(frozen=True)
class Comparison:
    labels: list[str]
    reference: Column
    candidates: list[Column]
    problem_note: str | None = None
    survivor_choices: list[Column] = field(default_factory=list)


def _person_values(person: PersonView) -> dict[str, str | None]:
    values: dict[str, str | None] = person.model_dump()
    values["id_number"] = person.id_number_masked
    # A G code is the letter G and an ID number: shown masked like the number it carries.
    values["code"] = mask_code(person.code)
    return values


def _submitted_values(submitted: dict[str, str | None]) -> dict[str, str | None]:
    values = dict(submitted)
    values["region"] = submitted.get("school_region")
    values["code"] = None
    values["verification_status"] = None
    return values


def _explanations(explanation: object) -> tuple[dict[int, dict[str, Any]], str | None]:
    """Per-candidate matcher explanations, and a free-text note for non-matching problem kinds."""
    if isinstance(explanation, list):
        found = {}
        for item in explanation:
            if isinstance(item, dict) and "person_id" in item:
                found[int(item["person_id"])] = item
        return found, None
    if isinstance(explanation, dict):
        return {}, ", ".join(f"{k}: {v}" for k, v in explanation.items())
    return {}, None


def _agreement(reference: str | None, value: str | None) -> str:
    if not reference or not value:
        return "missing"
    return "same" if reference.strip().casefold() == value.strip().casefold() else "different"


def _held_in(person: PersonView) -> str | None:
    return person.region if person.masked else None


def build_comparison(detail: ProblemDetail) -> Comparison:
    """The submitted record (or the subject person) against every candidate, field by field."""
    held_in = None
    if detail.submitted is not None:
        kind, reference_id = "submitted", None
        reference_values = _submitted_values(detail.submitted)
    elif detail.subject is not None:
        kind, reference_id = "subject", detail.subject.person_id
        reference_values = _person_values(detail.subject)
        held_in = _held_in(detail.subject)
    else:
        kind, reference_id, reference_values = "submitted", None, {}
    keys = list(COMPARED_FIELDS)
    reference = Column(kind, reference_id, [Cell(reference_values.get(k), "") for k in keys], held_in=held_in)
    explanations, note = _explanations(detail.explanation)
    columns = []
    for person in detail.candidates:
        values = _person_values(person)
        cells = [Cell(values.get(k), _agreement(reference_values.get(k), values.get(k))) for k in keys]
        columns.append(
            Column(
                "candidate",
                person.person_id,
                cells,
                explanations.get(person.person_id) if person.person_id is not None else None,
                _held_in(person),
            )
        )
    choices = [c for c in [reference, *columns] if c.person_id is not None]
    return Comparison(keys, reference, columns, note, choices)


@dataclass(frozen=True)
class Bar:
    """One bar: ``label`` is a catalogue key (``bar.*``) in a keyed chart, else shown as it is (a unit
    code); ``share`` marks a rate (0 to 1) to show as a percentage."""

    label: str
    value: float
    y: int
    width: int
    share: bool = False


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart laid out for an inline SVG (pixel geometry computed here); ``title`` is
    a catalogue key."""

    key: str
    title: str
    bars: list[Bar]
    height: int
    keyed: bool = True
    label_width: int = 110
    bar_area: int = 260
    bar_height: int = 20


def bar_chart(
    key: str,
    title: str,
    values: Sequence[tuple[str, float]],
    *,
    bar_area: int = 260,
    keyed: bool = True,
    shares: bool = False,
) -> BarChart:
    peak = 1.0 if shares else max([v for _, v in values] + [1])
    step = 28
    bars = [
        Bar(label, value, 8 + i * step, round(bar_area * value / peak) if value else 0, shares)
        for i, (label, value) in enumerate(values)
    ]
    return BarChart(key, title, bars, 8 + len(values) * step, keyed, bar_area=bar_area)


def dashboard_charts(figures: RegionFigures) -> list[BarChart]:
    f = figures
    return [
        bar_chart(
            "codes",
            "chart.codes",
            [
                ("bar.temporary", f.codes_temporary),
                ("bar.formal_g", f.codes_formal_g),
                ("bar.formal_j", f.codes_formal_j),
                ("bar.promoted", f.promotions),
            ],
        ),
        bar_chart(
            "verification",
            "chart.verification",
            [
                ("bar.verified", f.verification_verified),
                ("bar.failed", f.verification_failed),
                ("bar.not_applicable", f.verification_not_applicable),
                ("bar.pending", f.verification_pending),
            ],
        ),
        bar_chart(
            "problems",
            "chart.problems",
            [("bar.opened", f.problems_opened), ("bar.closed", f.problems_closed)],
        ),
        bar_chart(
            "backlog",
            "chart.backlog",
            [
                ("bar.0-7", f.backlog_0_7),
                ("bar.8-30", f.backlog_8_30),
                ("bar.31-90", f.backlog_31_90),
                ("bar.over_90", f.backlog_over_90),
            ],
        ),
        bar_chart(
            "transfers",
            "chart.transfers",
            [("bar.in", f.transfers_in), ("bar.out", f.transfers_out)],
        ),
    ]


def quality_charts(report: QualityReport) -> list[BarChart]:
    """The lagging order as bars: completion where the register gives expected counts, and the
    verification rate of every unit (the most lagging at the top)."""
    charts = []
    known = [u for u in report.units if u.completion_rate is not None]
    if known:
        charts.append(
            bar_chart(
                "completion",
                "dashboard.completion_chart",
                [(u.unit, u.completion_rate or 0.0) for u in known],
                keyed=False,
                shares=True,
            )
        )
    charts.append(
        bar_chart(
            "verification_rate",
            "dashboard.verification_chart",
            [(u.unit or "-", u.verification_rate or 0.0) for u in report.units],
            keyed=False,
            shares=True,
        )
    )
    return charts


def previous_months(month: str, count: int) -> list[str]:
    """``month`` and the ``count - 1`` months before it, newest first (for the month picker)."""
    year, number = (int(x) for x in month.split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{number:02d}")
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return months


def active_regions(report: ProgressReport) -> list[RegionFigures]:
    """The child regions with anything to show (a province has many quiet cities)."""
    from gateway.reports.schemas import FIGURE_FIELDS

    return [r for r in report.regions if any(getattr(r, f) for f in FIGURE_FIELDS)]


# -- the collection queue -----------------------------------------------------------------------

_ROW_REASON = re.compile(r"^\s*(\d{1,9})\s*[:：]\s*(.+?)\s*$")
MAX_ROW_REASONS = 10_000


def parse_row_reasons(text: str) -> list[RowReason]:
    """A rejection's reasons per row as a reviewer types them, one a line: ``4: 身份证号有误`` (a
    full-width colon too). Blank lines are skipped; a line of another shape is refused, naming it."""
    reasons: list[RowReason] = []
    errors: list[FieldError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        found = _ROW_REASON.match(line)
        if found is None or len(found.group(2)) > 500:
            errors.append(
                FieldError(
                    "rows",
                    "invalid",
                    f"line {number}: write the row number, a colon and the reason (at most 500 characters)",
                )
            )
            continue
        reasons.append(RowReason(int(found.group(1)), found.group(2)))
    if len(reasons) > MAX_ROW_REASONS:
        errors.append(FieldError("rows", "too_many", f"at most {MAX_ROW_REASONS} rows"))
    if errors:
        raise InvalidInput(errors=errors)
    return reasons
