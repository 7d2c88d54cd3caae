"""Progress of a campaign, unit by unit, and its summary per area. Plain Python: no I/O.

A unit's state is the join of the facts seen about it: each fact has a place (revision, then step
within the revision) and the state is the one at the highest place. The join is commutative,
associative and idempotent, so events seen twice or out of order (an approval before its
submission) give the same state as the true order, and a rebuild from the stored facts gives the
same figures as the live read model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chassis.clock import VIETNAM
from chassis.workdays import effective_deadline, working_days_after
from moha_contracts import DraftStarted, Event, FormApproved, FormRejected, FormSubmitted, ReviewTaskClaimed

NOT_STARTED, DRAFT, SUBMITTED, UNDER_REVIEW = "not_started", "draft", "submitted", "under_review"
APPROVED_LEVEL, RETURNED, CONFIRMED = "approved_level", "returned", "confirmed"
STATES = (NOT_STARTED, DRAFT, SUBMITTED, UNDER_REVIEW, RETURNED, APPROVED_LEVEL, CONFIRMED)
LABELS = {
    NOT_STARTED: "Chưa thực hiện",
    DRAFT: "Đang kê khai",
    SUBMITTED: "Đã gửi, chờ duyệt",
    UNDER_REVIEW: "Đang xem xét",
    RETURNED: "Bị trả lại",
    APPROVED_LEVEL: "Đã duyệt cấp dưới, chờ xác nhận",
    CONFIRMED: "Đã xác nhận",
}
# The step within a revision: a return or the final approval ends it; a resubmission starts the next.
_STEP = {DRAFT: 0, SUBMITTED: 1, UNDER_REVIEW: 2, APPROVED_LEVEL: 3, RETURNED: 4, CONFIRMED: 5}

ON_TIME, LATE, PENDING = "on_time", "late", "pending"
# Units that fill forms; provinces and districts are the areas they are counted in.
REPORTING_LEVELS = ("commune", "agency")


@dataclass(frozen=True)
class Fact:
    """What one event says about a unit's progress."""

    campaign_id: str
    unit_id: str
    state: str
    revision: int
    at: datetime
    submitted_at: datetime | None = None

    def place(self) -> tuple[int, int]:
        return self.revision, _STEP[self.state]


def fact_of(event: Event) -> Fact | None:
    """The progress fact an event carries, or None if it says nothing about progress."""
    match event:
        case DraftStarted():
            return Fact(event.campaign_id, event.unit_id, DRAFT, 0, event.started_at)
        case FormSubmitted():
            return Fact(
                event.campaign_id,
                event.unit_id,
                SUBMITTED,
                event.revision,
                event.submitted_at,
                submitted_at=event.submitted_at,
            )
        case ReviewTaskClaimed():
            return Fact(event.campaign_id, event.unit_id, UNDER_REVIEW, event.revision, event.claimed_at)
        case FormApproved() if event.campaign_id:
            return Fact(
                event.campaign_id,
                event.unit_id,
                CONFIRMED if event.final else APPROVED_LEVEL,
                event.revision,
                event.approved_at,
            )
        case FormRejected() if event.campaign_id:
            return Fact(event.campaign_id, event.unit_id, RETURNED, event.revision, event.rejected_at)
    return None


def progress_id(campaign_id: str, unit_id: str) -> str:
    return f"{campaign_id}:{unit_id}"


@dataclass
class UnitProgress:
    campaign_id: str
    unit_id: str
    state: str = NOT_STARTED
    revision: int = 0
    first_submitted_at: datetime | None = None
    updated_at: datetime | None = None

    def place(self) -> tuple[int, int]:
        return (self.revision, _STEP[self.state]) if self.state != NOT_STARTED else (-1, -1)

    def merge(self, fact: Fact) -> bool:
        """Join the fact in; True if anything changed."""
        changed = False
        if fact.place() > self.place():
            self.state, self.revision, self.updated_at = fact.state, fact.revision, fact.at
            changed = True
        if fact.submitted_at is not None and (
            self.first_submitted_at is None or fact.submitted_at < self.first_submitted_at
        ):
            self.first_submitted_at = fact.submitted_at
            changed = True
        return changed


def fold(facts: Iterable[Fact]) -> dict[tuple[str, str], UnitProgress]:
    units: dict[tuple[str, str], UnitProgress] = {}
    for fact in facts:
        key = (fact.campaign_id, fact.unit_id)
        units.setdefault(key, UnitProgress(*key)).merge(fact)
    return units


@dataclass(frozen=True)
class Timeliness:
    deadline: date
    status: str
    working_days_late: int = 0


def timeliness(deadline: date, first_submitted_at: datetime | None, today: date) -> Timeliness:
    """On time if first sent by the deadline (moved to the next working day when it falls on a
    day off); late by the working days past it, whether sent late or not sent yet."""
    due = effective_deadline(deadline)
    if first_submitted_at is not None:
        late = working_days_after(due, first_submitted_at.astimezone(VIETNAM).date())
        return Timeliness(due, LATE if late else ON_TIME, late)
    if today > due:
        return Timeliness(due, LATE, working_days_after(due, today))
    return Timeliness(due, PENDING)


@dataclass(frozen=True)
class UnitRow:
    unit_id: str
    code: str
    name: str
    state: str
    revision: int
    first_submitted_at: datetime | None
    timeliness: Timeliness

    def view(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "code": self.code,
            "name": self.name,
            "state": self.state,
            "state_label": LABELS[self.state],
            "revision": self.revision,
            "first_submitted_at": self.first_submitted_at.isoformat() if self.first_submitted_at else None,
            "deadline": self.timeliness.deadline.isoformat(),
            "timeliness": self.timeliness.status,
            "working_days_late": self.timeliness.working_days_late,
        }


def summarize(rows: list[UnitRow]) -> dict[str, Any]:
    """Counts and percentages per state, and timeliness, for the units of one area. The score is
    the share of units that sent their form on time."""
    total = len(rows)
    counts = dict.fromkeys(STATES, 0)
    punctual = dict.fromkeys((ON_TIME, LATE, PENDING), 0)
    for row in rows:
        counts[row.state] += 1
        punctual[row.timeliness.status] += 1
    return {
        "units": total,
        "counts": counts,
        "percent": {s: round(100 * n / total, 1) if total else 0.0 for s, n in counts.items()},
        "labels": LABELS,
        "timeliness": {**punctual, "score": round(100 * punctual[ON_TIME] / total, 1) if total else None},
        "late_units": [r.view() for r in rows if r.timeliness.status == LATE],
    }
