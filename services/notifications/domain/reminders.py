"""Which reminder is due, for whom, on a given day. Plain Python: no I/O.

Before a unit's deadline it gets the reminder of the nearest configured lead time not yet passed
(by default 5, 2 and 1 days before), and a last call on the day itself; a pass that missed a day
sends only the latest reminder due, never a stale one. After the deadline the supervisors of each
area get, once, the list of their units that have not submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

OVERDUE, LAST_DAY = "overdue", "last-day"


def due_reminder(deadline: date, today: date, days_before: tuple[int, ...]) -> str | None:
    """`before-<k>` while the deadline is ahead, `overdue` once it has passed, None if nothing."""
    left = (deadline - today).days
    if left < 0:
        return OVERDUE
    if left == 0:
        return LAST_DAY  # the last call, whatever the lead times
    ahead = [k for k in days_before if k >= left]
    return f"before-{min(ahead)}" if ahead else None


def reminder_id(campaign_id: str, target_id: str, kind: str, deadline: date) -> str:
    # The deadline is part of the identity: a campaign whose deadline moved reminds again.
    return f"{campaign_id}:{target_id}:{kind}:{deadline.isoformat()}"


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    path: list[str]
    tier: str  # "district" if it sits under a district, else "province"
    area_id: str  # whose supervisors hear it is late: its district, or its province


def area_of(path: list[str], levels: dict[str, str]) -> tuple[str, str]:
    """(tier, area id) of a unit from its ancestors' levels: the nearest district, else the nearest
    province, else the root."""
    for level, tier in (("district", "district"), ("province", "province")):
        for ancestor in reversed(path):
            if levels.get(ancestor) == level:
                return tier, ancestor
    return "province", path[0] if path else ""
