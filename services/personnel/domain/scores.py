"""How well each unit keeps its records, for the department's autumn review (seed 003, 3): the
share of its changes entered within 5 working days, how complete its records are, and how many
have not been updated in a year; the same summed over an area. Plain Python: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from chassis.clock import VIETNAM


def year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def is_stale(last_change_at: datetime | None, as_of: date) -> bool:
    """Not updated in a year: nothing entered in it since the same day a year before `as_of`."""
    return last_change_at is None or last_change_at.astimezone(VIETNAM).date() < year_before(as_of)


def autumn_period(year: int) -> tuple[date, date]:
    """The review of `year` (1 to 20 October) looks at the twelve months to 30 September."""
    return date(year - 1, 10, 1), date(year, 9, 30)


@dataclass
class Figures:
    """A unit's (or an area's) counts. Records: the active ones it holds now. Changes: those
    counted by the 5-working-day rule that it entered in the period, wherever the record is now."""

    records: int = 0
    required: int = 0
    filled: int = 0
    complete: int = 0
    stale: int = 0
    timed: int = 0
    on_time: int = 0

    def add_record(self, filled: int, required: int, stale: bool) -> None:
        self.records += 1
        self.required += required
        self.filled += filled
        self.complete += filled == required
        self.stale += stale

    def add_change(self, on_time: bool) -> None:
        self.timed += 1
        self.on_time += on_time

    def __iadd__(self, other: Figures) -> Figures:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def view(self) -> dict[str, Any]:
        on_time_rate = percent(self.on_time, self.timed)
        completeness = percent(self.filled, self.required)
        stale_rate = percent(self.stale, self.records)
        measures = [
            m for m in (on_time_rate, completeness, None if stale_rate is None else 100 - stale_rate) if m is not None
        ]
        return {
            "records": self.records,
            "complete_records": self.complete,
            "stale_records": self.stale,
            "changes": self.timed,
            "on_time": self.on_time,
            "late": self.timed - self.on_time,
            "on_time_rate": on_time_rate,
            "completeness": completeness,
            "stale_rate": stale_rate,
            # The three measures weigh alike; the department may weigh them otherwise in its sheet.
            "score": round(sum(measures) / len(measures), 1) if measures else None,
        }


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def total(items: Iterable[Figures]) -> Figures:
    result = Figures()
    for item in items:
        result += item
    return result
