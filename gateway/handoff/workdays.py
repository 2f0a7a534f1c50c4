"""Working days as Chinese administrations count them: the State Council's public holidays are not
working days, and the weekend days it moves to make up for them (调休) are.

The official calendar comes from the chinesecalendar package, which carries each year once it is
announced (usually in the November before). For a year it does not know yet, Monday to Friday is
used and a warning logged, so a deadline is never refused for want of a calendar. Days are the
days of Beijing time, whatever the time zone of the moment given.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

logger = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")


@cache
def _warn_unknown_year(year: int) -> None:
    logger.warning("no official working-day calendar for %s; counting Monday to Friday", year)


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package does not carry yet
        _warn_unknown_year(day.year)
        return day.weekday() < 5


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` moved forward by ``days`` working days (in Beijing), at the same time of day."""
    moved, counted = start, 0
    while counted < days:
        moved += timedelta(days=1)
        local_day = moved.astimezone(BEIJING).date() if moved.tzinfo else moved.date()
        if is_working_day(local_day):
            counted += 1
    return moved
