"""Working days in Vietnam: Monday to Friday, less the public holidays of the Labour Code 2019
(art. 112: New Year, Tết, Hùng Kings, 30/4, 1/5, National Day), with the days the Government
moves or adds each year, as the `holidays` package publishes them. Plain Python: no I/O."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.Vietnam(years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _public_holidays(day.year)


def effective_deadline(deadline: date) -> date:
    """A deadline falling on a weekend or holiday ends with the next working day (Civil Code 2015,
    art. 148)."""
    while not is_working_day(deadline):
        deadline += timedelta(days=1)
    return deadline


def working_days_after(start: date, end: date) -> int:
    """Working days in (start, end]: how many working days `end` is past `start`; 0 if not after."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count
