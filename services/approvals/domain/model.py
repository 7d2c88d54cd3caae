"""Review tasks: one per submitted revision and review level; a supervisor above the unit approves
or returns it. Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, NotFound
from moha_contracts import Event, FormApproved, FormRejected, ReviewTaskOpened

OPEN, APPROVED, RETURNED = "open", "approved", "returned"


class ReasonRequired(DomainError):
    code = "reason_required"


def task_id(submission_id: str, revision: int, level: int) -> str:
    # Deterministic: a FormSubmitted delivered twice opens the same task, not a second one.
    return f"{submission_id}:r{revision}:l{level}"


@dataclass
class ReviewTask:
    id: str
    submission_id: str
    campaign_id: str
    unit_id: str
    unit_lineage: list[str]
    revision: int
    level: int
    final: bool
    submitted_at: datetime
    status: str = OPEN
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def open(
        cls, *, submission_id: str, campaign_id: str, unit_id: str, unit_lineage: list[str], revision: int,
        submitted_at: datetime,
    ) -> ReviewTask:
        # One level for now; the chain from the tree and the campaign comes with the approvals issue.
        task = cls(task_id(submission_id, revision, 1), submission_id, campaign_id, unit_id, unit_lineage,
                   revision, level=1, final=True, submitted_at=submitted_at)
        task.events.append(ReviewTaskOpened(task_id=task.id, submission_id=submission_id, unit_id=unit_id,
                                            revision=revision, level=1, submitted_at=submitted_at))
        return task

    def reviewable_by(self, who: Principal, assigned: list[str] | None = None) -> bool:
        """Supervisors above the unit (never the unit itself) review it: those the unit is assigned
        to (an assigned unit covers its descendants), or, for a supervisor with no assignment,
        anyone whose area holds the unit."""
        if not who.is_supervisor or who.unit_id not in self.unit_lineage or who.unit_id == self.unit_id:
            return False
        return not assigned or any(unit in self.unit_lineage for unit in assigned)

    def approve(self, by: Principal, revision: int, now: datetime | None = None,
                assigned: list[str] | None = None) -> None:
        self._check_decision(by, revision, assigned)
        self._decide(APPROVED, by, now)
        self.events.append(FormApproved(
            task_id=self.id, submission_id=self.submission_id, unit_id=self.unit_id, revision=self.revision,
            level=self.level, final=self.final, approved_by=by.account_id, approved_at=self.decided_at,
        ))

    def return_to_unit(self, by: Principal, revision: int, reason: str, now: datetime | None = None,
                       assigned: list[str] | None = None) -> None:
        self._check_decision(by, revision, assigned)
        if not reason.strip():
            raise ReasonRequired("Phải ghi rõ lý do trả lại phiếu")
        self._decide(RETURNED, by, now)
        self.reason = reason.strip()
        self.events.append(FormRejected(
            task_id=self.id, submission_id=self.submission_id, unit_id=self.unit_id, revision=self.revision,
            level=self.level, reason=self.reason, rejected_by=by.account_id, rejected_at=self.decided_at,
        ))

    def _check_decision(self, by: Principal, revision: int, assigned: list[str] | None) -> None:
        if not self.reviewable_by(by, assigned):
            raise NotFound("Không tìm thấy nhiệm vụ duyệt")
        if revision != self.revision:
            raise Conflict(f"Phiếu đang ở lần gửi {self.revision}, không phải lần {revision}", code="stale_revision")
        if self.status != OPEN:
            raise Conflict("Nhiệm vụ duyệt này đã có quyết định", code="already_decided")

    def _decide(self, status: str, by: Principal, now: datetime | None) -> None:
        self.status = status
        self.decided_by = by.account_id
        self.decided_at = now or datetime.now(UTC)
