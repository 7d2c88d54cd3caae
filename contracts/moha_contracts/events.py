"""The platform's published events. A change that breaks a consumer is a new class with `.v2`,
published beside the old one; adding an optional field is a minor version."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from .envelope import Event

UnitLevel = Literal["central", "province", "district", "commune", "agency"]
Role = Literal[
    "central_admin",
    "province_admin",
    "district_admin",
    "province_supervisor",
    "district_supervisor",
    "reporting_unit",
]


# accounts ---------------------------------------------------------------------------------
class UnitRegistered(Event):
    """A unit joined the administrative tree. `path` lists its ancestors from the root down."""

    routing_key = "accounts.unit.registered.v1"

    unit_id: str
    code: str
    name: str
    level: UnitLevel
    parent_id: str | None
    path: list[str] = Field(default_factory=list)

    def subject(self) -> str:
        return self.unit_id


class UnitRenamed(Event):
    routing_key = "accounts.unit.renamed.v1"

    unit_id: str
    name: str
    previous_name: str
    reason: str
    renamed_at: datetime

    def subject(self) -> str:
        return self.unit_id


class UnitMoved(Event):
    """The unit hangs under another parent now (e.g. a commune under the province once the
    district level is gone); `path` is its new line of ancestors. Each moved descendant gets its own."""

    routing_key = "accounts.unit.moved.v1"

    unit_id: str
    parent_id: str
    path: list[str]
    previous_parent_id: str | None
    reason: str
    moved_at: datetime

    def subject(self) -> str:
        return self.unit_id


class UnitRetired(Event):
    """The unit no longer exists as such (dissolved, or merged into `merged_into`); its data and
    history stay, and it can no longer submit."""

    routing_key = "accounts.unit.retired.v1"

    unit_id: str
    merged_into: str | None
    reason: str
    retired_at: datetime

    def subject(self) -> str:
        return self.unit_id


class AccountIssued(Event):
    routing_key = "accounts.account.issued.v1"

    account_id: str
    username: str
    unit_id: str
    role: Role
    email: str | None = None
    display_name: str
    issued_by: str | None

    def subject(self) -> str:
        return self.account_id


class AccountActivated(Event):
    """The holder replaced the issued password at first login; the account may now be used."""

    routing_key = "accounts.account.activated.v1"

    account_id: str
    unit_id: str
    activated_at: datetime

    def subject(self) -> str:
        return self.account_id


class AccountRevoked(Event):
    """The account may no longer be used; tokens already issued to it stop working at once."""

    routing_key = "accounts.account.revoked.v1"

    account_id: str
    unit_id: str
    reason: str
    revoked_by: str
    revoked_at: datetime

    def subject(self) -> str:
        return self.account_id


class PasswordChanged(Event):
    """The holder replaced its own password (at first login or later); tokens issued before
    `changed_at` stop working, those of the session that changed it included (it gets a new one).
    Added in contracts 1.1."""

    routing_key = "accounts.account.password_changed.v1"

    account_id: str
    unit_id: str
    changed_at: datetime

    def subject(self) -> str:
        return self.account_id


class PasswordReset(Event):
    """An administrator issued a new initial password; tokens issued before `reset_at` stop working."""

    routing_key = "accounts.account.password_reset.v1"

    account_id: str
    unit_id: str
    reason: str
    reset_by: str
    reset_at: datetime

    def subject(self) -> str:
        return self.account_id


class AccountRoleChanged(Event):
    """The account's role changed; tokens issued before `changed_at` stop working, so the new role
    applies from the next sign-in."""

    routing_key = "accounts.account.role_changed.v1"

    account_id: str
    unit_id: str
    role: Role
    previous_role: Role
    reason: str
    changed_by: str
    changed_at: datetime

    def subject(self) -> str:
        return self.account_id


class SupervisorAssigned(Event):
    """The units a supervisor reviews, as a whole set (an assignment of a unit covers its
    descendants). A later `assignment_version` replaces an earlier one; an empty set returns the
    supervisor to its whole subtree."""

    routing_key = "accounts.supervisor.assigned.v1"

    supervisor_id: str
    unit_ids: list[str]
    assignment_version: int
    assigned_by: str
    assigned_at: datetime

    def subject(self) -> str:
        return self.supervisor_id


# forms ------------------------------------------------------------------------------------
class CampaignOpened(Event):
    """A data collection opens: which form, which units (with everything under them), when, and
    the deadline of units directly under a province and of units under a district."""

    routing_key = "forms.campaign.opened.v1"
    schema_version = "1.1"

    campaign_id: str
    form_code: str
    title: str
    scope_unit_ids: list[str]
    opens_on: date
    closes_on: date
    province_deadline: date
    district_deadline: date
    # Added in 1.1: the levels whose supervisors review a form, nearest first. A unit's chain is
    # the ancestors it has at these levels (a territory without districts has one level fewer).
    review_levels: list[UnitLevel] = Field(default_factory=lambda: list[UnitLevel](["district", "province"]))

    def subject(self) -> str:
        return self.campaign_id


class DraftStarted(Event):
    """A unit began filling its form: the first draft saved. Later drafts raise nothing."""

    routing_key = "forms.submission.draft_started.v1"

    submission_id: str
    campaign_id: str
    form_code: str
    unit_id: str
    started_by: str
    started_at: datetime

    def subject(self) -> str:
        return self.submission_id


class FormSubmitted(Event):
    routing_key = "forms.submission.submitted.v1"
    schema_version = "1.1"

    submission_id: str
    campaign_id: str
    form_code: str
    unit_id: str
    revision: int
    submitted_by: str
    submitted_at: datetime
    answers: dict[str, Any]
    # Added in 1.1: the version of the form definition the answers were checked against.
    form_version: int | None = None

    def subject(self) -> str:
        return self.submission_id


# forms: the PAR Index survey ----------------------------------------------------------------
class RespondentListSubmitted(Event):
    """A ministry or a province sent its respondent list to the Ministry; it is locked until the
    Ministry reopens it. Counts per group only: the people stay in forms."""

    routing_key = "forms.respondent_list.submitted.v1"

    survey_id: str
    owner_unit_id: str
    owner_kind: Literal["ministry", "province"]
    counts: dict[str, int]
    submitted_by: str
    submitted_at: datetime

    def subject(self) -> str:
        return f"{self.survey_id}:{self.owner_unit_id}"


class SurveyInvitationIssued(Event):
    """A respondent's personal questionnaire link was made. The address, the name and the link are
    `sealed` with notifications' public key (X25519, AES-256-GCM; only notifications can open it):
    subscribers see that an invitation went out, to which group, never to whom or the link."""

    routing_key = "forms.survey_invitation.issued.v1"

    invitation_id: str
    survey_id: str
    survey_title: str
    owner_unit_id: str
    group: str
    answer_deadline: date
    sealed: str
    issued_at: datetime

    def subject(self) -> str:
        return self.invitation_id


class SurveyResponseReceived(Event):
    """The respondent of an invitation answered. Nothing here leads to the answers."""

    routing_key = "forms.survey_response.received.v1"

    invitation_id: str
    survey_id: str
    owner_unit_id: str
    group: str
    received_at: datetime

    def subject(self) -> str:
        return self.invitation_id


class SurveyResponseVoided(Event):
    """The Ministry voided a response (tampering, seed 002), with the reason."""

    routing_key = "forms.survey_response.voided.v1"

    response_id: str
    survey_id: str
    owner_unit_id: str
    group: str
    reason: str
    voided_by: str
    voided_at: datetime

    def subject(self) -> str:
        return self.response_id


# approvals --------------------------------------------------------------------------------
class ReviewTaskOpened(Event):
    """A revision waits for the supervisors of `reviewer_unit_id` (level 1 first, then upwards)."""

    routing_key = "approvals.review_task.opened.v1"
    schema_version = "1.1"

    task_id: str
    submission_id: str
    unit_id: str
    revision: int
    level: int
    submitted_at: datetime
    # Added in 1.1.
    campaign_id: str | None = None
    reviewer_unit_id: str | None = None
    final: bool | None = None

    def subject(self) -> str:
        return self.submission_id


class ReviewTaskClaimed(Event):
    """A supervisor took the task up: the form is under review (đang xem xét)."""

    routing_key = "approvals.review_task.claimed.v1"

    task_id: str
    submission_id: str
    campaign_id: str
    unit_id: str
    revision: int
    level: int
    claimed_by: str
    claimed_at: datetime

    def subject(self) -> str:
        return self.submission_id


class FormApproved(Event):
    """One level approved a revision; `final` when it was the last level of the chain."""

    routing_key = "approvals.form.approved.v1"
    schema_version = "1.1"

    task_id: str
    submission_id: str
    unit_id: str
    revision: int
    level: int
    final: bool
    approved_by: str
    approved_at: datetime
    # Added in 1.1.
    campaign_id: str | None = None

    def subject(self) -> str:
        return self.submission_id


class FormRejected(Event):
    """A level returned the revision to the unit, with the reason; the unit revises and resubmits."""

    routing_key = "approvals.form.rejected.v1"
    schema_version = "1.1"

    task_id: str
    submission_id: str
    unit_id: str
    revision: int
    level: int
    reason: str
    rejected_by: str
    rejected_at: datetime
    # Added in 1.1.
    campaign_id: str | None = None

    def subject(self) -> str:
        return self.submission_id


class SubmissionFinalized(Event):
    """The whole chain approved the revision: the unit's answers for the campaign are final.
    This is the event to build on for statistics."""

    routing_key = "approvals.submission.finalized.v1"

    submission_id: str
    campaign_id: str
    unit_id: str
    revision: int
    approvals: list[dict[str, Any]] = Field(description="each level's decision: level, reviewer_unit_id, by, at")
    finalized_at: datetime

    def subject(self) -> str:
        return self.submission_id


class MoveApproved(Event):
    """The level that must decide approved moving a record to another unit (`decider_unit_id`: the
    units' common parent, or the province's Department of Home Affairs); personnel moves it."""

    routing_key = "approvals.move.approved.v1"

    task_id: str
    move_id: str
    record_id: str
    from_unit_id: str
    to_unit_id: str
    decider_unit_id: str
    approved_by: str
    approved_at: datetime

    def subject(self) -> str:
        return self.record_id


class MoveReturned(Event):
    """The level that must decide refused the move; the record stays where it is. The reason is read
    from approvals (`GET /moves/{task_id}`) by those who may: free text may name people."""

    routing_key = "approvals.move.returned.v1"

    task_id: str
    move_id: str
    record_id: str
    from_unit_id: str
    to_unit_id: str
    decider_unit_id: str
    returned_by: str
    returned_at: datetime

    def subject(self) -> str:
        return self.record_id


# personnel --------------------------------------------------------------------------------
# Officials' records are personal data (Decree 13/2023/NĐ-CP): these events carry ids, units and
# kinds of change, never a name, a date of birth, an ID number or any value of a record.
RecordChange = Literal["opened", "imported", "entered", "corrected", "moved_out", "moved_in"]


class RecordChanged(Event):
    """A record changed: an entry (`process`, a code of the record kind's definition) was added to
    it, by or for `unit_id`. A record moving between units raises two: `moved_out` for the unit it
    left, `moved_in` for the unit it joined. `on_time`: for a change counted by the 5-working-day
    rule, whether it was entered within 5 working days of its document (for a correction, of the
    entry it corrects, re-counted)."""

    routing_key = "personnel.record.changed.v1"

    record_id: str
    record_kind: str
    unit_id: str
    entry_id: str
    seq: int
    change: RecordChange
    process: str
    changed_at: datetime
    corrects: str | None = None
    timed: bool = False
    working_days: int | None = None
    on_time: bool | None = None

    def subject(self) -> str:
        return self.record_id


class MoveRequested(Event):
    """A unit asks to move one of its records to a unit outside its own scope: approvals opens a
    task for the level that must decide."""

    routing_key = "personnel.move.requested.v1"

    move_id: str
    record_id: str
    record_kind: str
    from_unit_id: str
    to_unit_id: str
    process: str
    requested_by: str
    requested_at: datetime

    def subject(self) -> str:
        return self.record_id


# notifications ----------------------------------------------------------------------------
class NotificationDelivered(Event):
    routing_key = "notifications.delivery.delivered.v1"

    delivery_id: str
    account_id: str
    channel: Literal["email"]
    template: str
    cause_event_id: str
    delivered_at: datetime

    def subject(self) -> str:
        return self.delivery_id


class NotificationFailed(Event):
    routing_key = "notifications.delivery.failed.v1"

    delivery_id: str
    account_id: str
    channel: Literal["email"]
    template: str
    cause_event_id: str
    error: str
    attempts: int

    def subject(self) -> str:
        return self.delivery_id


ALL_EVENTS: tuple[type[Event], ...] = (
    UnitRegistered,
    UnitRenamed,
    UnitMoved,
    UnitRetired,
    AccountIssued,
    AccountActivated,
    AccountRevoked,
    PasswordChanged,
    PasswordReset,
    AccountRoleChanged,
    SupervisorAssigned,
    CampaignOpened,
    DraftStarted,
    FormSubmitted,
    RespondentListSubmitted,
    SurveyInvitationIssued,
    SurveyResponseReceived,
    SurveyResponseVoided,
    ReviewTaskOpened,
    ReviewTaskClaimed,
    FormApproved,
    FormRejected,
    SubmissionFinalized,
    MoveApproved,
    MoveReturned,
    NotificationDelivered,
    NotificationFailed,
    RecordChanged,
    MoveRequested,
)

BY_TYPE: dict[str, type[Event]] = {e.event_type(): e for e in ALL_EVENTS}
