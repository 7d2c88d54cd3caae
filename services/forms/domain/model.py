"""A unit's submission of a form in a campaign, and how it moves: submitted, returned, approved.
Plain Python: no I/O. Each method checks its rule and records the event it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chassis.auth import Principal
from chassis.errors import Conflict, Forbidden
from moha_contracts import DraftStarted, Event, FormSubmitted

DRAFT, SUBMITTED, RETURNED, APPROVED = "draft", "submitted", "returned", "approved"


class InconsistentDecision(Exception):
    """A reviewer's decision about a revision this submission never had: not a late event, a wrong one."""


def submission_id(campaign_id: str, unit_id: str) -> str:
    # One submission per unit per campaign: the identity itself forbids a second one.
    return f"{campaign_id}:{unit_id}"


@dataclass
class Submission:
    id: str
    campaign_id: str
    form_code: str
    unit_id: str
    status: str = DRAFT
    revision: int = 0
    answers: dict[str, Any] = field(default_factory=dict)
    return_reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # The form definition's version, fixed at the first submit: a later version of the form
    # never changes what this submission is checked against.
    definition_version: int = 0
    # Supervisors' coding (ghi mã): codes set on the unit's answers, kept beside them, not over them.
    coding: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def start(cls, campaign_id: str, form_code: str, unit_id: str) -> Submission:
        return cls(submission_id(campaign_id, unit_id), campaign_id, form_code, unit_id)

    def save_draft(
        self, by: Principal, answers: dict[str, Any], definition_version: int, now: datetime | None = None
    ) -> None:
        """Keep what the unit has filled so far. Only the first draft is told (progress counts the
        unit as started); later ones change nothing anyone else sees."""
        self._check_editable_by(by)
        if not self.definition_version:
            self.definition_version = definition_version
        if self.version == 0 and self.revision == 0:
            self.events.append(
                DraftStarted(
                    submission_id=self.id,
                    campaign_id=self.campaign_id,
                    form_code=self.form_code,
                    unit_id=self.unit_id,
                    started_by=by.account_id,
                    started_at=now or datetime.now(UTC),
                )
            )
        self.answers = answers

    def _check_editable_by(self, by: Principal, action: str = "kê khai") -> None:
        if by.role != "reporting_unit" or by.unit_id != self.unit_id:
            raise Forbidden(f"Chỉ đơn vị cung cấp thông tin được {action} phiếu của chính mình")
        if self.status == SUBMITTED:
            raise Conflict("Phiếu đã được gửi và đang chờ duyệt", code="already_submitted")
        if self.status == APPROVED:
            raise Conflict(f"Phiếu đã được duyệt, không {action} lại được nữa", code="already_approved")

    def submit(
        self, by: Principal, answers: dict[str, Any], now: datetime | None = None, definition_version: int | None = None
    ) -> None:
        self._check_editable_by(by, "gửi")
        now = now or datetime.now(UTC)
        if definition_version is not None:
            self.definition_version = definition_version
        self.revision += 1
        self.status = SUBMITTED
        self.answers = answers
        self.return_reason = None
        self.history.append({"revision": self.revision, "action": "submitted", "by": by.account_id, "at": now})
        self.events.append(
            FormSubmitted(
                submission_id=self.id,
                campaign_id=self.campaign_id,
                form_code=self.form_code,
                unit_id=self.unit_id,
                revision=self.revision,
                submitted_by=by.account_id,
                submitted_at=now,
                answers=answers,
                form_version=self.definition_version or None,
            )
        )

    def _check_decided_revision(self, revision: int) -> None:
        if not 1 <= revision <= self.revision:
            raise InconsistentDecision(
                f"submission {self.id} has no submitted revision {revision} (latest: {self.revision})"
            )

    def code_answer(self, by: Principal, field_code: str, code: str, now: datetime | None = None) -> None:
        """A supervisor above the unit sets the official code of an answer (e.g. the economic
        sector of the activity the unit described); the latest coding of a field stands."""
        if not by.is_supervisor or by.unit_id == self.unit_id:
            raise Forbidden("Chỉ giám sát viên cấp trên ghi mã cho phiếu")
        if self.status not in (SUBMITTED, APPROVED):
            raise Conflict("Chỉ ghi mã cho phiếu đã gửi", code="not_submitted")
        self.coding = [c for c in self.coding if c["field"] != field_code]
        self.coding.append(
            {
                "field": field_code,
                "code": code,
                "by": by.account_id,
                "at": now or datetime.now(UTC),
                "revision": self.revision,
            }
        )

    def approve(self, revision: int, *, final: bool, by: str, at: datetime) -> bool:
        """Returns False when the decision is about an earlier revision (late or repeated): no change."""
        self._check_decided_revision(revision)
        if revision != self.revision or self.status != SUBMITTED:
            return False
        if final:
            self.status = APPROVED
        self.history.append(
            {"revision": revision, "action": "approved" if final else "approved_level", "by": by, "at": at}
        )
        return True

    def return_to_unit(self, revision: int, *, reason: str, by: str, at: datetime) -> bool:
        self._check_decided_revision(revision)
        if revision != self.revision or self.status != SUBMITTED:
            return False
        self.status = RETURNED
        self.return_reason = reason
        self.history.append({"revision": revision, "action": "returned", "by": by, "at": at, "reason": reason})
        return True
