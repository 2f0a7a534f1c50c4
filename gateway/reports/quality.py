"""The data-quality report and the progress circular (进度通报): how complete and how clean each
unit's collection is, and which units lag.

Units are the regions one level below the one asked for (provinces under CN, cities under a
province, counties under a city) and, under a county, its schools; a school's caller sees its own
school. Figures are taken at one instant (``as_of``, the end of the day asked for in China Standard
Time, or now):

- submitted: active (not merged) students registered before the instant;
- expected: from the school register's enrolment figures (``gateway.reports.expected``), null when
  unknown; completion rate = submitted / expected;
- completeness per field: the share of submitted records carrying an ID document number, ethnicity,
  household region, guardian and school code;
- verification rate: verified / (submitted − those with no checkable document), from each student's
  current verification status;
- wrong-ID and duplicate rates: problem records of those kinds open at the instant / submitted
  (duplicates: possible duplicates, duplicate ID numbers, duplicates without ID and duplicate
  enrolments);
- problem records open at the instant, and overdue: open longer than the handling deadline
  (``problem_deadline_days``);
- review steps overdue: schools' submissions waiting for a review level (or, returned, for the
  school's correction) past the collection plan's deadline (``gateway.batches.collection``; taken
  from the submissions' current steps, so a past day's report shows today's waiting submissions
  against that day).

Lagging order (rank 1 lags most): units with a known completion rate first, lowest rate first; then
by verification rate, lowest first; then most overdue problem records; then most review steps
overdue; then by unit code.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import COUNTRY, Jurisdiction
from gateway.batches import collection
from gateway.clock import utcnow
from gateway.errors import FieldError, Forbidden, InvalidInput
from gateway.reports import expected, repository
from gateway.reports.schemas import COMPLETENESS_FIELDS, QualityReport, UnitQuality
from gateway.reports.service import CHINA_STANDARD_TIME, child_length, display_name, normalise_region

WRONG_ID_TYPES = frozenset({"wrong_id"})
DUPLICATE_TYPES = frozenset({"possible_duplicate", "duplicate_id", "duplicate_no_id", "duplicate_enrolment"})
_UNIT_KINDS = {2: "province", 4: "city", 6: "county"}


def _rate(part: int, whole: int | None) -> float | None:
    return None if not whole else round(part / whole, 4)


def unit_figures(
    unit: str,
    counts: dict[str, int],
    problems: dict[str, tuple[int, int]],
    expected_count: int | None,
    name: str | None = None,
    review_overdue: int = 0,
) -> UnitQuality:
    """One unit's figures from its counts (``submitted_by_unit``) and open problems by type."""
    submitted = counts.get("submitted", 0)
    checkable = submitted - counts.get("not_applicable", 0)
    wrong = sum(n for kind, (n, _) in problems.items() if kind in WRONG_ID_TYPES)
    duplicates = sum(n for kind, (n, _) in problems.items() if kind in DUPLICATE_TYPES)
    return UnitQuality(
        unit=unit,
        name=name,
        submitted=submitted,
        expected=expected_count,
        completion_rate=_rate(submitted, expected_count),
        completeness={f: _rate(counts.get(f, 0), submitted) for f in COMPLETENESS_FIELDS},
        verified=counts.get("verified", 0),
        verification_rate=_rate(counts.get("verified", 0), checkable),
        wrong_id_open=wrong,
        wrong_id_rate=_rate(wrong, submitted),
        duplicates_open=duplicates,
        duplicate_rate=_rate(duplicates, submitted),
        problems_open=sum(n for n, _ in problems.values()),
        problems_overdue=sum(late for _, late in problems.values()),
        review_steps_overdue=review_overdue,
    )


def lag_order(units: list[UnitQuality]) -> list[UnitQuality]:
    """The units, the most lagging first, each with its rank (see the module docstring)."""

    def key(u: UnitQuality) -> tuple[int, float, float, int, int, str]:
        known = u.completion_rate is not None
        return (
            0 if known else 1,
            u.completion_rate if u.completion_rate is not None else 0.0,
            u.verification_rate if u.verification_rate is not None else 0.0,
            -u.problems_overdue,
            -u.review_steps_overdue,
            u.unit,
        )

    return [u.model_copy(update={"lag_rank": i}) for i, u in enumerate(sorted(units, key=key), start=1)]


def end_of_day(day: str) -> datetime:
    """The first instant after ``day`` (YYYY-MM-DD) in China Standard Time."""
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(errors=[FieldError("date", "invalid", "date must be YYYY-MM-DD")]) from None
    if not 1900 <= parsed.year <= 2099:
        raise InvalidInput(errors=[FieldError("date", "out_of_range", "date must be in 1900-2099")])
    return parsed.replace(tzinfo=CHINA_STANDARD_TIME) + timedelta(days=1)


def _scope(region: str) -> tuple[str, str, str | None, int | None]:
    """(what was asked, region prefix, school, child length or None for schools) of a region or school."""
    text = region.strip().upper()
    if Jurisdiction(text).is_school and text.isdigit() and len(text) == 10:
        return text, "", text, None
    asked = normalise_region(text)
    prefix = "" if asked == COUNTRY else asked
    length = child_length(asked)
    return asked, prefix, None, (None if len(prefix) == 6 else length)


def quality_report(
    session: Session, region: str, *, day: str | None, deadline_days: int, now: datetime | None = None
) -> QualityReport:
    """The figures over ``region`` (CN, a region prefix or a school code) at the end of ``day``
    (default: now). No authorisation here; see ``quality_for_caller``."""
    now = now or utcnow()
    as_of = min(end_of_day(day), now) if day else now
    asked, prefix, school, child_len = _scope(region)
    as_of_utc = as_of.astimezone(UTC)
    overdue_before = as_of_utc - timedelta(days=deadline_days)
    counts = repository.submitted_by_unit(session, prefix, school, child_len, as_of_utc)
    open_problems = repository.open_problems_by_unit(
        session, prefix, school, child_len, as_of_utc, overdue_before
    )
    expected_counts = expected.expected_students(session, prefix, school, child_len)
    review_overdue = collection.overdue_by_unit(
        session, region_prefix=prefix, school_code=school, child_len=child_len, now=as_of_utc
    )
    by_unit: dict[str, dict[str, tuple[int, int]]] = {}
    for (unit, kind), figures in open_problems.items():
        by_unit.setdefault(unit, {})[kind] = figures
    names = sorted(set(counts) | set(by_unit) | set(expected_counts) | set(review_overdue))
    units = [
        unit_figures(
            u,
            counts.get(u, {}),
            by_unit.get(u, {}),
            expected_counts.get(u),
            display_name(u) if child_len is not None else None,
            review_overdue.get(u, 0),
        )
        for u in names
    ]
    total_counts: Counter[str] = Counter()
    for c in counts.values():
        total_counts.update(c)
    total_problems: dict[str, tuple[int, int]] = {}
    for (_, kind), (n, late) in open_problems.items():
        before = total_problems.get(kind, (0, 0))
        total_problems[kind] = (before[0] + n, before[1] + late)
    # The whole's expected figure is known only when every unit's is.
    whole_expected = (
        sum(expected_counts.values()) if names and all(u in expected_counts for u in names) else None
    )
    total = unit_figures(
        asked,
        dict(total_counts),
        total_problems,
        whole_expected,
        display_name(asked) if school is None else None,
        sum(review_overdue.values()),
    )
    kind = "school" if child_len is None else _UNIT_KINDS.get(child_len, "county")
    return QualityReport(
        region=asked,
        unit_kind=kind,
        day=day or as_of.astimezone(CHINA_STANDARD_TIME).date().isoformat(),
        as_of=as_of.astimezone(CHINA_STANDARD_TIME),
        deadline_days=deadline_days,
        units=lag_order(units),
        total=total,
    )


def quality_for_caller(
    session: Session,
    caller: Caller,
    region: str | None,
    *,
    day: str | None,
    deadline_days: int,
    now: datetime | None = None,
) -> QualityReport:
    """The report over ``region`` (default: the caller's whole jurisdiction), if the caller covers it."""
    mine = caller.jurisdiction
    asked = (region or mine.value).strip().upper()
    if mine.is_school:
        inside = asked == mine.value
    elif asked.isdigit() and len(asked) == 10:
        # Where a school lies is the register's to say: below the whole country, ask for its county.
        inside = mine.is_country
    else:
        normal = normalise_region(asked)
        inside = mine.is_country or (normal != COUNTRY and normal.startswith(mine.value))
    if not inside:
        raise Forbidden(f"{asked} lies outside your jurisdiction")
    report = quality_report(session, asked, day=day, deadline_days=deadline_days, now=now)
    audit.record(
        session,
        action="report.quality",
        caller=caller,
        object_type="region",
        object_ref=f"{report.region}/{report.day}",
    )
    return report
