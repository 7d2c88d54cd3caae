"""Events notifications consumes: who can be reached (AccountIssued) and what to tell them."""

from __future__ import annotations

from chassis.logging import get_logger
from chassis.runtime import Runtime
from moha_contracts import AccountIssued, AccountRevoked, AccountRoleChanged, Envelope, FormApproved, FormRejected

from .domain.model import Delivery, notice_id
from .domain.templates import render
from .mailer import Mailer
from .store import NotificationStore

log = get_logger("notifications.handlers")


def subscribe(runtime: Runtime, store: NotificationStore, mailer: Mailer) -> None:
    @runtime.consumers.on(AccountIssued)
    async def on_account_issued(envelope: Envelope, event: AccountIssued) -> None:
        await store.upsert_recipient(
            event.account_id, event.unit_id, role=event.role, email=event.email,
            username=event.username, display_name=event.display_name,
        )

    @runtime.consumers.on(AccountRevoked)
    async def on_account_revoked(envelope: Envelope, event: AccountRevoked) -> None:
        await store.update_recipient(event.account_id, status="revoked")

    @runtime.consumers.on(AccountRoleChanged)
    async def on_role_changed(envelope: Envelope, event: AccountRoleChanged) -> None:
        await store.update_recipient(event.account_id, role=event.role)

    @runtime.consumers.on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        # A lower level's approval tells the unit its form went up; the last level's confirms it.
        await notify_unit(envelope, event.unit_id, "form_approved" if event.final else "form_approved_level",
                          submission_id=event.submission_id, revision=event.revision, reason="")

    @runtime.consumers.on(FormRejected)
    async def on_form_rejected(envelope: Envelope, event: FormRejected) -> None:
        await notify_unit(envelope, event.unit_id, "form_returned", submission_id=event.submission_id,
                          revision=event.revision, reason=event.reason)

    async def notify_unit(envelope: Envelope, unit_id: str, template: str, **values: object) -> None:
        recipients = await store.recipients_of_unit(unit_id, "reporting_unit")
        if not recipients:
            log.warning("no account to notify for unit", unit_id=unit_id)
        for r in recipients:
            text = render(template, display_name=r["display_name"], **values)
            nid = notice_id(envelope.id, r["_id"])
            # Both writes have ids made from the event: a redelivery re-creates nothing.
            await store.add_notice(nid, r["_id"], text.subject, text.body, template)
            if r.get("email"):
                await store.add_delivery(Delivery(id=nid + ":email", account_id=r["_id"], to=r["email"],
                                                  subject=text.subject, body=text.body, template=template,
                                                  cause_event_id=envelope.id))
        mailer.wake()
