"""Events notifications consumes: who can be reached (accounts), what to tell them (accounts'
and reviewers' events), and what the reminders need (the tree, campaigns, who submitted)."""

from __future__ import annotations

from chassis import readmodel
from chassis.logging import get_logger
from chassis.messaging import Malformed, Retry
from chassis.runtime import Runtime
from chassis.sealing import SealError
from moha_contracts import (
    AccountIssued,
    AccountRevoked,
    AccountRoleChanged,
    CampaignOpened,
    Envelope,
    FormApproved,
    FormRejected,
    FormSubmitted,
    PasswordReset,
    SurveyInvitationIssued,
    SurveyResponseReceived,
)

from .domain.model import LINK_MARK
from .notifier import Notifier
from .store import NotificationStore

log = get_logger("notifications.handlers")


def subscribe(runtime: Runtime, store: NotificationStore, notifier: Notifier) -> None:
    runtime.units.subscribe(runtime.consumers)
    on = runtime.consumers.on

    @on(AccountIssued)
    async def on_account_issued(envelope: Envelope, event: AccountIssued) -> None:
        await store.upsert_recipient(
            readmodel.event_order(envelope),
            event.account_id,
            event.unit_id,
            role=event.role,
            email=event.email,
            username=event.username,
            display_name=event.display_name,
        )
        recipient = await store.recipient(event.account_id)
        await notifier.tell(envelope.id, recipient, "account_issued", username=event.username)
        notifier.mailer.wake()

    @on(PasswordReset)
    async def on_password_reset(envelope: Envelope, event: PasswordReset) -> None:
        recipient = await store.recipient(event.account_id)
        if recipient is None:
            raise Retry(f"account {event.account_id} not known yet")
        await notifier.tell(
            envelope.id, recipient, "password_reset", username=recipient["username"], reason=event.reason
        )
        notifier.mailer.wake()

    @on(AccountRevoked)
    async def on_account_revoked(envelope: Envelope, event: AccountRevoked) -> None:
        await store.update_recipient(readmodel.event_order(envelope), event.account_id, "status", status="revoked")

    @on(AccountRoleChanged)
    async def on_role_changed(envelope: Envelope, event: AccountRoleChanged) -> None:
        await store.update_recipient(readmodel.event_order(envelope), event.account_id, "role", role=event.role)

    @on(CampaignOpened)
    async def on_campaign_opened(envelope: Envelope, event: CampaignOpened) -> None:
        await store.add_campaign({"_id": event.campaign_id, **event.model_dump(mode="json")})

    @on(FormSubmitted)
    async def on_form_submitted(envelope: Envelope, event: FormSubmitted) -> None:
        await store.mark_submitted(event.campaign_id, event.unit_id)  # no more reminders for it

    @on(SurveyInvitationIssued)
    async def on_survey_invitation(envelope: Envelope, event: SurveyInvitationIssued) -> None:
        try:
            person = notifier.sealer.open(event.sealed)
        except SealError as exc:
            raise Malformed(f"sealed invitation cannot be opened: {exc}") from exc
        await store.add_survey_invite(
            {
                "_id": event.invitation_id,
                "survey_id": event.survey_id,
                "survey_title": event.survey_title,
                "sealed": event.sealed,
                "answer_deadline": event.answer_deadline.isoformat(),
            }
        )
        await notifier.tell(
            envelope.id,
            {"_id": event.invitation_id, "display_name": person["full_name"], "email": person["email"]},
            "survey_invitation",
            in_app=False,
            sealed=event.sealed,
            survey_title=event.survey_title,
            link=LINK_MARK,
            deadline=f"{event.answer_deadline:%d/%m/%Y}",
        )
        notifier.mailer.wake()

    @on(SurveyResponseReceived)
    async def on_survey_response(envelope: Envelope, event: SurveyResponseReceived) -> None:
        await store.survey_answered(event.invitation_id, event.received_at)  # no more reminders

    @on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        # A lower level's approval tells the unit its form went up; the last level's confirms it.
        await notify_unit(
            envelope,
            event.unit_id,
            "form_approved" if event.final else "form_approved_level",
            submission_id=event.submission_id,
            revision=event.revision,
            reason="",
        )

    @on(FormRejected)
    async def on_form_rejected(envelope: Envelope, event: FormRejected) -> None:
        await notify_unit(
            envelope,
            event.unit_id,
            "form_returned",
            submission_id=event.submission_id,
            revision=event.revision,
            reason=event.reason,
        )

    async def notify_unit(envelope: Envelope, unit_id: str, template: str, **values: object) -> None:
        if not await notifier.tell_unit(envelope.id, unit_id, template, ("reporting_unit",), **values):
            log.warning("no account to notify for unit", unit_id=unit_id)
        notifier.mailer.wake()
