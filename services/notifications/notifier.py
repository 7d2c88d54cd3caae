"""Telling people: an in-app notice and, where the account has an address, an e-mail, both with ids
made from the cause (an event, a reminder, a notice) and the account. Whoever tells the same thing
again, a redelivered event or another replica, re-creates nothing: one notice, one e-mail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chassis.sealing import Sealer
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run

from . import usecases
from .domain.model import Delivery, notice_id
from .domain.templates import render
from .mailer import Mailer
from .store import NotificationStore, NotificationsUnitOfWork


class Notifier:
    def __init__(
        self,
        store: NotificationStore,
        mailer: Mailer,
        units: UnitDirectory,
        sealer: Sealer,
        make_uow: Callable[[], NotificationsUnitOfWork],
    ) -> None:
        self.store = store
        self.make_uow = make_uow
        self.mailer = mailer
        self.units = units
        self.sealer = sealer  # opens survey invitations sealed by forms

    async def tell(
        self,
        cause_id: str,
        recipient: dict[str, Any],
        template: str,
        *,
        in_app: bool = True,
        sealed: str | None = None,
        **values: Any,
    ) -> None:
        """`in_app=False` for people without an account (survey respondents): e-mail only. With
        `sealed`, the text holds a mark where the link goes, filled in by the mailer."""
        text = render(template, display_name=recipient["display_name"], **values)
        nid = notice_id(cause_id, recipient["_id"])
        if in_app:
            await self.store.add_notice(nid, recipient["_id"], text.subject, text.body, template, cause_id=cause_id)
        if recipient.get("email"):
            await self.store.add_delivery(
                Delivery(
                    id=nid + ":email",
                    account_id=recipient["_id"],
                    to=recipient["email"],
                    subject=text.subject,
                    body=text.body,
                    template=template,
                    cause_event_id=cause_id,
                    sealed=sealed,
                )
            )

    async def tell_unit(
        self, cause_id: str, unit_id: str, template: str, roles: tuple[str, ...] = (), **values: Any
    ) -> int:
        recipients = await self.store.recipients_of_unit(unit_id, *roles)
        for recipient in recipients:
            await self.tell(cause_id, recipient, template, **values)
        return len(recipients)

    async def send_broadcast(self, broadcast: dict[str, Any]) -> int:
        """A notice to every account of every unit under the area. Resumable: run again after a
        crash, it re-creates nothing already created. Counts who was told, and of them who by
        e-mail too, so that the sender learns when nobody was."""
        area = broadcast["area_unit_id"]
        links = "".join(f"- {link['title']}: {link['url']}\n" for link in broadcast.get("links", []))
        told = emailed = 0
        async for unit in self.units.units.find({"path": area}):
            for recipient in await self.store.recipients_of_unit(unit["_id"]):
                await self.tell(
                    broadcast["_id"],
                    recipient,
                    "notice",
                    title=broadcast["title"],
                    body=broadcast["body"],
                    links=links,
                    sender=broadcast["sender_name"],
                )
                told += 1
                emailed += bool(recipient.get("email"))
        await run(self.make_uow, lambda uow: usecases.finish_broadcast(uow, broadcast["_id"], told, emailed))
        self.mailer.wake()
        return told
