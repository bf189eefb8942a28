"""Working days of a municipality (開庁日): which days its offices are open, and counting a processing time in them.

Pure: no I/O, no clock. A :class:`Calendar` is closed on

* Saturdays and Sundays,
* national holidays (国民の祝日に関する法律: 振替休日 and 国民の休日 included), from the ``holidays`` package,
* 年末年始, 12月29日 to 1月3日 (行政機関の休日に関する法律 1条; municipalities close the same days by
  their own 休日条例, as 地方自治法 4条の2 lets them),
* and the municipality's own closed days (a 臨時閉庁日), which it configures.

Counting follows the 標準処理期間 practice of the 行政手続法 (6条): the day an application arrives is not
counted (初日不算入, 民法 140条) and closed days are not counted, so a period of ``n`` working days ends on the
``n``-th working day *after* the day of arrival, whatever day that was (decision 0034).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import holidays

__all__ = [
    "NATIONAL",
    "Calendar",
    "add_working_days",
    "closed_reason",
    "is_working_day",
    "national_holidays",
    "working_days_between",
]

#: 年末年始 (month, day): closed in every year.
YEAR_END_HOLIDAYS = frozenset({(12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3)})

#: How far a count may run before it is a programming error (no calendar closes a whole year).
_MAX_SPAN = timedelta(days=3660)


@lru_cache(maxsize=64)
def national_holidays(year: int) -> dict[date, str]:
    """Japan's national holidays of ``year`` with their Japanese names (computed once per year: the package
    expands its own tables lazily, which is not something to share between threads)."""
    return dict(holidays.country_holidays("JP", years=year, language="ja").items())


@dataclass(frozen=True)
class Calendar:
    """The days a municipality is closed beyond the law's (its own closed days, each with an optional reason)."""

    closed_days: dict[date, str] = field(default_factory=dict)

    @classmethod
    def of(cls, days: Iterable[tuple[date, str | None]]) -> Calendar:
        return cls({day: reason or "" for day, reason in days})


#: The calendar of a municipality with no closed days of its own.
NATIONAL = Calendar()


def closed_reason(day: date, calendar: Calendar = NATIONAL) -> str | None:
    """Why ``day`` is closed (土曜日, a holiday's name, 年末年始, the municipality's reason), or None if open."""
    if day in calendar.closed_days:
        return calendar.closed_days[day] or "閉庁日"
    if (day.month, day.day) in YEAR_END_HOLIDAYS:
        return "年末年始"
    holiday = national_holidays(day.year).get(day)
    if holiday:
        return holiday
    if day.weekday() >= 5:
        return "土曜日" if day.weekday() == 5 else "日曜日"
    return None


def is_working_day(day: date, calendar: Calendar = NATIONAL) -> bool:
    """Whether the municipality's offices are open on ``day``."""
    if day.weekday() >= 5 or (day.month, day.day) in YEAR_END_HOLIDAYS or day in calendar.closed_days:
        return False
    return day not in national_holidays(day.year)


def add_working_days(start: date, n: int, calendar: Calendar = NATIONAL) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself never counts, open or not); ``start`` for 0.

    Submitted on 2026-12-28 with 3 days: 12/29-1/3 are 年末年始, so 1/4, 1/5, 1/6 count and it is due 2027-01-06.
    """
    if n < 0:
        raise ValueError("a number of working days cannot be negative")
    day = start
    while n:
        day += timedelta(days=1)
        if day - start > _MAX_SPAN:
            raise ValueError("no working day in ten years: the calendar closes every day")
        if is_working_day(day, calendar):
            n -= 1
    return day


def working_days_between(start: date, end: date, calendar: Calendar = NATIONAL) -> int:
    """How many working days come after ``start`` up to and including ``end`` (0 when ``end`` is not after it):
    the inverse of :func:`add_working_days`, ``working_days_between(s, add_working_days(s, n)) == n``."""
    if end - start > _MAX_SPAN:
        raise ValueError("a span of more than ten years is not a processing time")
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day, calendar)
    return count
