"""Working days (``madoguchi.workdays``): a table of processing times across the days a municipality is closed."""

from __future__ import annotations

from datetime import date

import pytest

from madoguchi import workdays
from madoguchi.workdays import NATIONAL, Calendar, add_working_days, is_working_day, working_days_between

#: 2027-01-07 (木): a fictional town closes for moving its offices.
TOWN = Calendar({date(2027, 1, 7): "庁舎移転"})

# (submitted, working days, due, calendar, why)
TABLE = [
    (date(2026, 12, 28), 3, date(2027, 1, 6), NATIONAL, "年末年始 12/29-1/3 do not count: 1/4, 1/5, 1/6"),
    (date(2026, 12, 28), 1, date(2027, 1, 4), NATIONAL, "the day of receipt never counts, 12/28 itself is open"),
    (date(2026, 12, 25), 2, date(2027, 1, 4), NATIONAL, "Friday before 年末年始: Monday 12/28, then 1/4"),
    (date(2026, 12, 31), 1, date(2027, 1, 4), NATIONAL, "received on a closed day (an online filing on 大晦日)"),
    (date(2027, 1, 2), 5, date(2027, 1, 8), NATIONAL, "received on 1月2日: 1/4 to 1/8"),
    (date(2026, 12, 28), 4, date(2027, 1, 8), TOWN, "the town's closed day 1/7 does not count either"),
    (date(2027, 1, 6), 1, date(2027, 1, 8), TOWN, "the day after receipt is the town's closed day"),
    (date(2026, 12, 28), 4, date(2027, 1, 7), NATIONAL, "... while another municipality is open on 1/7"),
    (date(2026, 4, 30), 1, date(2026, 5, 1), NATIONAL, "Golden Week 2026: 5/1 (金) is a working day"),
    (date(2026, 5, 1), 1, date(2026, 5, 7), NATIONAL, "5/2-5/3 weekend, 5/4-5/5 祝日, 5/6 振替休日 (5/3 was a Sunday)"),
    (date(2026, 9, 18), 1, date(2026, 9, 24), NATIONAL, "Silver Week: 9/21 敬老の日, 9/22 国民の休日, 9/23"),
    (date(2027, 3, 19), 1, date(2027, 3, 23), NATIONAL, "3/21 春分の日 is a Sunday: 3/22 振替休日"),
    (date(2019, 4, 26), 1, date(2019, 5, 7), NATIONAL, "平成31/令和元: 4/29 昭和の日, 4/30 国民の休日, 5/1 即位の日,"),
    (date(2019, 4, 30), 2, date(2019, 5, 8), NATIONAL, "... 5/2 国民の休日, 5/3-5/5, 5/6 振替休日: 10 days closed"),
    (date(2019, 10, 21), 1, date(2019, 10, 23), NATIONAL, "2019-10-22 即位礼正殿の儀 was a holiday that year only"),
    (date(2026, 11, 2), 0, date(2026, 11, 2), NATIONAL, "no days: the day itself"),
    (date(2026, 11, 6), 5, date(2026, 11, 13), NATIONAL, "an ordinary week: Friday to Friday"),
]


@pytest.mark.parametrize(("submitted", "days", "due", "calendar", "why"), TABLE, ids=[row[4][:40] for row in TABLE])
def test_a_processing_time_ends_on_its_last_working_day(
    submitted: date, days: int, due: date, calendar: Calendar, why: str
) -> None:
    assert add_working_days(submitted, days, calendar) == due, why
    # The inverse: the working days from receipt to the due date are the processing time.
    assert working_days_between(submitted, due, calendar) == days


@pytest.mark.parametrize(
    ("day", "open_", "reason"),
    [
        (date(2026, 12, 28), True, None),
        (date(2026, 12, 29), False, "年末年始"),
        (date(2027, 1, 3), False, "年末年始"),
        (date(2027, 1, 4), True, None),
        (date(2026, 5, 6), False, "振替休日"),
        (date(2019, 4, 30), False, "国民の休日"),
        (date(2019, 5, 1), False, "天皇の即位の日"),
        (date(2019, 5, 2), False, "国民の休日"),
        (date(2020, 7, 24), False, "スポーツの日"),  # moved for the Olympics that year
        (date(2020, 10, 12), True, None),  # ... so its usual Monday was a working day
        (date(2026, 11, 7), False, "土曜日"),
        (date(2026, 11, 8), False, "日曜日"),
    ],
)
def test_which_days_are_working_days(day: date, open_: bool, reason: str | None) -> None:
    assert is_working_day(day) is open_
    assert workdays.closed_reason(day) == reason


def test_a_municipality_closed_day_is_closed_with_its_reason_and_only_there() -> None:
    assert not is_working_day(date(2027, 1, 7), TOWN)
    assert workdays.closed_reason(date(2027, 1, 7), TOWN) == "庁舎移転"
    assert workdays.closed_reason(date(2027, 1, 8), Calendar({date(2027, 1, 8): ""})) == "閉庁日"
    assert is_working_day(date(2027, 1, 7))


def test_counts_are_refused_where_they_make_no_sense() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 1, 5), -1)
    assert working_days_between(date(2026, 1, 9), date(2026, 1, 5)) == 0  # an end before the start: none left
