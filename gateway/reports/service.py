"""The monthly progress return (the ministry's 月度进展): what each region did in one month.

Definitions (the month is a calendar month in China Standard Time, UTC+08:00; "the region" of a
figure is the child region one level below the one asked for: provinces under CN, cities under a
province, counties under a city; a county reports itself):

- codes issued: codes whose ``issued_at`` falls in the month, by type (L temporary; G and J
  formal), attributed to the region of the school holding the person when the report is made;
- promotions: code lineage entries in the month that gave a person a G or J code (L→G, L→J, J→G),
  not counting merges and unmerges;
- verification outcomes: verification jobs that finished in the month, by outcome (verified,
  failed, not applicable); pending = jobs created before the month end and not finished by it;
- problem records opened (``opened_at`` in the month) and closed (resolved, ``decided_at`` in the
  month; a record sent back for evidence stays open), by the region of the record;
- backlog: problem records open at the month end (opened before it and not resolved before it),
  by whole days of age then: 0-7, 8-30, 31-90, over 90;
- duplicate enrolments (重复学籍): records of a child registered again in another province while
  enrolled (``duplicate_enrolment``) open at the month end, counted for the region of the school that
  registered them again (filed) and for the region holding the child (held);
- transfers: a cross-province transfer is a ``transferred_in`` status event whose effective date is
  in the month and whose person's latest earlier ``transferred_out`` event was recorded in another
  province; it counts as in for the receiving region and out for the sending one.

"Month end" is the first instant after the month, or now while the month is still running.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import COUNTRY
from gateway.clock import utcnow
from gateway.errors import FieldError, Forbidden, InvalidInput
from gateway.identity.regions import get_region, region_name
from gateway.reports import repository
from gateway.reports.schemas import ProgressReport, RegionFigures

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_REGION = re.compile(r"^(\d{2}|\d{4}|\d{6})$")
# Lower bounds of the backlog age buckets in whole days (0-7, 8-30, 31-90, over 90).
_BUCKET_DAYS = (8, 31, 91)
_BUCKET_FIELDS = ("backlog_0_7", "backlog_8_30", "backlog_31_90", "backlog_over_90")
_OUTCOME_FIELDS = {
    "verified": "verification_verified",
    "failed": "verification_failed",
    "not_applicable": "verification_not_applicable",
}
_TYPE_FIELDS = {"L": "codes_temporary", "G": "codes_formal_g", "J": "codes_formal_j"}


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``month`` (YYYY-MM) and the first instant after it, in CST."""
    match = _MONTH.match(month)
    if match is None:
        raise InvalidInput(errors=[FieldError("month", "invalid", "month must be YYYY-MM")])
    year, number = int(match[1]), int(match[2])
    if not 1900 <= year <= 2099:
        raise InvalidInput(
            errors=[FieldError("month", "out_of_range", "month must be between 1900-01 and 2099-12")]
        )
    start = datetime(year, number, 1, tzinfo=CHINA_STANDARD_TIME)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=CHINA_STANDARD_TIME)
    return start, end


def normalise_region(region: str) -> str:
    """CN, or a 2, 4 or 6-digit prefix; 6-digit codes ending in 00 are shortened (410000 → 41)."""
    text = region.strip().upper()
    if text == COUNTRY:
        return COUNTRY
    if not _REGION.match(text):
        raise InvalidInput(
            errors=[FieldError("region", "invalid", "region must be CN or a 2, 4 or 6-digit prefix")]
        )
    while len(text) > 2 and text.endswith("00"):
        text = text[:-2]
    return text


def child_length(region: str) -> int:
    return 2 if region == COUNTRY else min(len(region) + 2, 6)


def _padded(prefix: str) -> str:
    return prefix.ljust(6, "0")


def known_children(region: str) -> list[str]:
    """Child regions of ``region`` that are in force in the GB/T 2260 table."""
    length = child_length(region)
    if region != COUNTRY and length == len(region):
        return [region]
    parent = "" if region == COUNTRY else region
    children = []
    for number in range(1, 100):
        child = f"{parent}{number:02d}"
        found = get_region(_padded(child))
        if found is not None and not found.abolished:
            children.append(child)
    return children


def display_name(prefix: str) -> str | None:
    if prefix == COUNTRY:
        return "全国"
    return region_name(_padded(prefix))


def progress_report(
    session: Session, month: str, region: str, *, now: datetime | None = None
) -> ProgressReport:
    """Compute the return for ``month`` over ``region`` (no authorisation here; see below)."""
    region = normalise_region(region)
    start, end = month_bounds(month)
    now = now or utcnow()
    if now < start:
        raise InvalidInput(errors=[FieldError("month", "in_future", "that month has not begun")])
    as_of = min(end, now)
    prefix = "" if region == COUNTRY else region
    length = child_length(region)
    # Parameters go to the database in UTC: SQLite compares the stored UTC text.
    start_utc, end_utc, as_of_utc = (t.astimezone(UTC) for t in (start, end, as_of))
    counts: dict[str, Counter[str]] = {}

    def add(child: str, field: str, n: int) -> None:
        counts.setdefault(child, Counter())[field] += n

    for (child, kind), n in repository.codes_issued(session, prefix, length, start_utc, end_utc).items():
        if kind in _TYPE_FIELDS:
            add(child, _TYPE_FIELDS[kind], n)
    for child, n in repository.promotions(session, prefix, length, start_utc, end_utc).items():
        add(child, "promotions", n)
    outcomes = repository.verification_outcomes(session, prefix, length, start_utc, end_utc)
    for (child, outcome), n in outcomes.items():
        if outcome in _OUTCOME_FIELDS:
            add(child, _OUTCOME_FIELDS[outcome], n)
    for child, n in repository.verification_pending(session, prefix, length, as_of_utc).items():
        add(child, "verification_pending", n)
    for child, n in repository.problems_opened(session, prefix, length, start_utc, end_utc).items():
        add(child, "problems_opened", n)
    for child, n in repository.problems_closed(session, prefix, length, start_utc, end_utc).items():
        add(child, "problems_closed", n)
    bucket_starts = [as_of_utc - timedelta(days=d) for d in _BUCKET_DAYS]
    for (child, bucket), n in repository.open_backlog(
        session, prefix, length, as_of_utc, bucket_starts
    ).items():
        add(child, _BUCKET_FIELDS[int(bucket)], n)
    for (child, side), n in repository.duplicate_enrolments_open(session, prefix, length, as_of_utc).items():
        add(child, f"duplicate_enrolments_{side}", n)
    first_day, last_day = start.date(), (end - timedelta(days=1)).date()
    for receiving, sending in repository.transfers_in_period(session, first_day, last_day):
        if sending is None or receiving[:2] == sending[:2]:
            continue
        if receiving.startswith(prefix):
            add(receiving[:length], "transfers_in", 1)
        if sending.startswith(prefix):
            add(sending[:length], "transfers_out", 1)

    children = sorted(set(known_children(region)) | set(counts))
    rows = [RegionFigures(region=c, name=display_name(c), **counts.get(c, Counter())) for c in children]
    total = Counter[str]()
    for figures in counts.values():
        total.update(figures)
    return ProgressReport(
        month=month,
        region=region,
        period_start=start,
        period_end=end,
        as_of=as_of.astimezone(CHINA_STANDARD_TIME),
        regions=rows,
        total=RegionFigures(region=region, name=display_name(region), **total),
    )


def current_month(now: datetime | None = None) -> str:
    return (now or utcnow()).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m")


def report_for_caller(
    session: Session, caller: Caller, month: str, region: str | None, *, now: datetime | None = None
) -> ProgressReport:
    """The return over ``region`` (default: the caller's whole jurisdiction), if the caller covers it."""
    prefix = caller.jurisdiction.region_prefix
    if prefix is None:
        raise Forbidden("progress reports are by region; a school's client cannot read them")
    asked = normalise_region(region) if region else (prefix or COUNTRY)
    if (asked == COUNTRY and prefix != "") or (asked != COUNTRY and not asked.startswith(prefix)):
        raise Forbidden(f"region {asked} lies outside your jurisdiction")
    report = progress_report(session, month, asked, now=now)
    audit.record(
        session, action="report.progress", caller=caller, object_type="region", object_ref=f"{asked}/{month}"
    )
    return report
