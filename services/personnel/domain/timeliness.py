"""The 5-working-day rule (seed 003, 4): each change is entered within 5 working days of the date
its document was issued, counted in Vietnam's calendar with its public holidays
(chassis/workdays.py, as the rest of the platform counts). Plain Python: no I/O."""

from __future__ import annotations

from datetime import date, datetime

from chassis.clock import today_in_vietnam
from chassis.workdays import working_days_after

WORKING_DAYS_ALLOWED = 5


def count_working_days(document_date: date, entered_at: datetime) -> tuple[int, bool]:
    """(working days from the document's date to the day it was entered, whether within the rule).
    A document issued on a Friday and entered the next Friday took 5: on time; the Monday after, 6."""
    days = working_days_after(document_date, today_in_vietnam(entered_at))
    return days, days <= WORKING_DAYS_ALLOWED
