"""Review tasks: one per submitted revision and level of its chain. The chain comes from the unit's
place in the tree and the campaign's review levels (a district's unit: the district, then the
province confirms). Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, NotFound
from moha_contracts import (
    Event,
    FormApproved,
    FormRejected,
    ReviewTaskClaimed,
    ReviewTaskOpened,
    SubmissionFinalized,
)

OPEN, APPROVED, RETURNED = "open", "approved", "returned"
AREA_LEVELS = ("central", "province", "district")


class ReasonRequired(DomainError):
    code = "reason_required"


def task_id(submission_id: str, revision: int, level: int) -> str:
    # Deterministic: a FormSubmitted delivered twice opens the same task, not a second one.
    return f"{submission_id}:r{revision}:l{level}"


def review_chain(ancestors: list[tuple[str, str]], review_levels: list[str]) -> list[str]:
    """The reviewing units, nearest first. `ancestors`: (unit id, level) from the root down to the
    unit's parent. Each review level the unit has an ancestor at is one step; a unit with none of
    them (a province's own department when only districts review) goes to its nearest area, so
    every form has a reviewer."""
    nearest = {level: unit_id for unit_id, level in ancestors}
    chain = [nearest[level] for level in review_levels if level in nearest]
    if chain:
        return chain
    areas = [unit_id for unit_id, level in ancestors if level in AREA_LEVELS]
    return [areas[-1] if areas else ancestors[-1][0]]


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
    reviewer_unit_id: str = ""
    chain: list[str] = field(default_factory=list)
    review_levels: list[str] = field(default_factory=list)
    # The lower levels' approvals of this revision: who, when; handed up the chain.
    approvals: list[dict[str, Any]] = field(default_factory=list)
    status: str = OPEN
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decided_from: str | None = None
    reason: str | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        submission_id: str,
        campaign_id: str,
        unit_id: str,
        unit_lineage: list[str],
        revision: int,
        submitted_at: datetime,
        chain: list[str],
        review_levels: list[str],
        level: int = 1,
        approvals: list[dict[str, Any]] | None = None,
    ) -> ReviewTask:
        if not chain:
            raise ValueError("a review chain has at least one level")
        level = min(level, len(chain))
        task = cls(
            task_id(submission_id, revision, level),
            submission_id,
            campaign_id,
            unit_id,
            unit_lineage,
            revision,
            level=level,
            final=level == len(chain),
            submitted_at=submitted_at,
            reviewer_unit_id=chain[level - 1],
            chain=chain,
            review_levels=review_levels,
            approvals=list(approvals or []),
        )
        task.events.append(
            ReviewTaskOpened(
                task_id=task.id,
                submission_id=submission_id,
                unit_id=unit_id,
                revision=revision,
                level=level,
                submitted_at=submitted_at,
                campaign_id=campaign_id,
                reviewer_unit_id=task.reviewer_unit_id,
                final=task.final,
            )
        )
        return task

    def next_level(self) -> ReviewTask:
        """The task of the level above, once this one approved (not final)."""
        if self.status != APPROVED or self.final:
            raise ValueError(f"task {self.id} does not lead to another level")
        return ReviewTask.open(
            submission_id=self.submission_id,
            campaign_id=self.campaign_id,
            unit_id=self.unit_id,
            unit_lineage=self.unit_lineage,
            revision=self.revision,
            submitted_at=self.submitted_at,
            chain=self.chain,
            review_levels=self.review_levels,
            level=self.level + 1,
            approvals=[*self.approvals, self._approval()],
        )

    def follow_move(self, lineage: list[str], chain: list[str]) -> bool:
        """The unit moved while the task was open: it goes to the new reviewers of the same level.
        Returns False if nothing changes."""
        if self.status != OPEN or (lineage == self.unit_lineage and chain == self.chain):
            return False
        self.unit_lineage, self.chain = lineage, chain
        self.level = min(self.level, len(chain))
        self.reviewer_unit_id = chain[self.level - 1]
        self.final = self.level == len(chain)
        self.claimed_by = self.claimed_at = None
        return True

    def visible_to(self, who: Principal) -> bool:
        """Supervisors and administrators above the unit read its tasks; the central level reads all."""
        if who.role == "central_admin":
            return True
        return who.role != "reporting_unit" and who.unit_id in self.unit_lineage and who.unit_id != self.unit_id

    def reviewable_by(self, who: Principal, assigned: list[str] | None = None) -> bool:
        """The supervisors of this level's reviewing unit decide: those the unit is assigned to (an
        assigned unit covers its descendants), or, with no assignment, any of them."""
        if not who.is_supervisor or who.unit_id != self.reviewer_unit_id or who.unit_id == self.unit_id:
            return False
        return not assigned or any(unit in self.unit_lineage for unit in assigned)

    def claim(self, by: Principal, now: datetime | None = None, assigned: list[str] | None = None) -> bool:
        """A supervisor takes the form up (đang xem xét). Claiming again is a no-op; it does not
        lock the others out of deciding, it tells them someone is on it."""
        if not self.reviewable_by(by, assigned):
            raise NotFound("Không tìm thấy nhiệm vụ duyệt")
        if self.status != OPEN:
            raise Conflict("Nhiệm vụ duyệt này đã có quyết định", code="already_decided")
        if self.claimed_by == by.account_id:
            return False
        if self.claimed_by is not None:
            raise Conflict("Phiếu đang được một giám sát viên khác xem xét", code="already_claimed")
        self.claimed_by, self.claimed_at = by.account_id, now or datetime.now(UTC)
        self.events.append(
            ReviewTaskClaimed(
                task_id=self.id,
                submission_id=self.submission_id,
                campaign_id=self.campaign_id,
                unit_id=self.unit_id,
                revision=self.revision,
                level=self.level,
                claimed_by=by.account_id,
                claimed_at=self.claimed_at,
            )
        )
        return True

    def approve(
        self,
        by: Principal,
        revision: int,
        now: datetime | None = None,
        assigned: list[str] | None = None,
        ip: str | None = None,
    ) -> None:
        self._check_decision(by, revision, assigned)
        self._decide(APPROVED, by, now, ip)
        self.events.append(
            FormApproved(
                task_id=self.id,
                submission_id=self.submission_id,
                unit_id=self.unit_id,
                revision=self.revision,
                level=self.level,
                final=self.final,
                approved_by=by.account_id,
                approved_at=self.decided_at,
                campaign_id=self.campaign_id,
            )
        )
        if self.final:
            self.events.append(
                SubmissionFinalized(
                    submission_id=self.submission_id,
                    campaign_id=self.campaign_id,
                    unit_id=self.unit_id,
                    revision=self.revision,
                    approvals=[*self.approvals, self._approval()],
                    finalized_at=self.decided_at,
                )
            )

    def return_to_unit(
        self,
        by: Principal,
        revision: int,
        reason: str,
        now: datetime | None = None,
        assigned: list[str] | None = None,
        ip: str | None = None,
    ) -> None:
        self._check_decision(by, revision, assigned)
        if not reason.strip():
            raise ReasonRequired("Phải ghi rõ lý do trả lại phiếu")
        self._decide(RETURNED, by, now, ip)
        self.reason = reason.strip()
        self.events.append(
            FormRejected(
                task_id=self.id,
                submission_id=self.submission_id,
                unit_id=self.unit_id,
                revision=self.revision,
                level=self.level,
                reason=self.reason,
                rejected_by=by.account_id,
                rejected_at=self.decided_at,
                campaign_id=self.campaign_id,
            )
        )

    def _approval(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "reviewer_unit_id": self.reviewer_unit_id,
            "by": self.decided_by,
            "at": self.decided_at.isoformat() if self.decided_at else None,
        }

    def _check_decision(self, by: Principal, revision: int, assigned: list[str] | None) -> None:
        if not self.reviewable_by(by, assigned):
            raise NotFound("Không tìm thấy nhiệm vụ duyệt")
        if revision != self.revision:
            raise Conflict(f"Phiếu đang ở lần gửi {self.revision}, không phải lần {revision}", code="stale_revision")
        if self.status != OPEN:
            raise Conflict("Nhiệm vụ duyệt này đã có quyết định", code="already_decided")

    def _decide(self, status: str, by: Principal, now: datetime | None, ip: str | None) -> None:
        self.status = status
        self.decided_by = by.account_id
        self.decided_at = now or datetime.now(UTC)
        self.decided_from = ip
