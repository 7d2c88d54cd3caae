"""Events notifications consumes: who can be reached (accounts), what to tell them (accounts'
and reviewers' events), and what the reminders need (the tree, campaigns, who submitted). Each
subscriber is an adapter over a use case (usecases.py)."""

from __future__ import annotations

from chassis import readmodel
from chassis.runtime import Runtime
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

from . import usecases
from .usecases import Notifications


def subscribe(runtime: Runtime, svc: Notifications) -> None:
    runtime.units.subscribe(runtime.consumers)
    on = runtime.consumers.on

    @on(AccountIssued)
    async def on_account_issued(envelope: Envelope, event: AccountIssued) -> None:
        await usecases.account_issued(svc.uow(), event, envelope.id, readmodel.event_order(envelope))
        svc.wake_mailer()

    @on(PasswordReset)
    async def on_password_reset(envelope: Envelope, event: PasswordReset) -> None:
        await usecases.password_reset(svc.uow(), event, envelope.id)
        svc.wake_mailer()

    @on(AccountRevoked)
    async def on_account_revoked(envelope: Envelope, event: AccountRevoked) -> None:
        order = readmodel.event_order(envelope)
        await usecases.recipient_changed(svc.uow(), order, event.account_id, "status", status="revoked")

    @on(AccountRoleChanged)
    async def on_role_changed(envelope: Envelope, event: AccountRoleChanged) -> None:
        order = readmodel.event_order(envelope)
        await usecases.recipient_changed(svc.uow(), order, event.account_id, "role", role=event.role)

    @on(CampaignOpened)
    async def on_campaign_opened(envelope: Envelope, event: CampaignOpened) -> None:
        await usecases.campaign_opened(svc.uow(), event)

    @on(FormSubmitted)
    async def on_form_submitted(envelope: Envelope, event: FormSubmitted) -> None:
        await usecases.form_submitted(svc.uow(), event.campaign_id, event.unit_id)

    @on(SurveyInvitationIssued)
    async def on_survey_invitation(envelope: Envelope, event: SurveyInvitationIssued) -> None:
        await usecases.survey_invitation_issued(svc.uow(), event, envelope.id, sealer=svc.sealer)
        svc.wake_mailer()

    @on(SurveyResponseReceived)
    async def on_survey_response(envelope: Envelope, event: SurveyResponseReceived) -> None:
        await usecases.survey_answered(svc.uow(), event.invitation_id, event.received_at)

    @on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        # A lower level's approval tells the unit its form went up; the last level's confirms it.
        template = "form_approved" if event.final else "form_approved_level"
        await usecases.unit_told(
            svc.uow,
            envelope.id,
            event.unit_id,
            template,
            submission_id=event.submission_id,
            revision=event.revision,
            reason="",
        )
        svc.wake_mailer()

    @on(FormRejected)
    async def on_form_rejected(envelope: Envelope, event: FormRejected) -> None:
        await usecases.unit_told(
            svc.uow,
            envelope.id,
            event.unit_id,
            "form_returned",
            submission_id=event.submission_id,
            revision=event.revision,
            reason=event.reason,
        )
        svc.wake_mailer()
