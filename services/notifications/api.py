"""Notifications' HTTP API: the signed-in account's inbox, notices an administrator sends to its
subtree, and a reminder pass for a given day."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from chassis.http import CurrentPrincipal, client_ip, from_state
from chassis.text import Input, SingleLine

from . import usecases
from .domain.model import notice_state
from .domain.templates import notice_outcome
from .usecases import Notifications

router = APIRouter()


class NoticeView(BaseModel):
    notice_id: str
    title: str
    body: str
    kind: str
    read: bool
    created_at: datetime


class InboxView(BaseModel):
    unread: int
    items: list[NoticeView]


# The one dependency: what bootstrap.py wired; use cases run through it.
Service = Annotated[Notifications, Depends(from_state("notifications"))]
ADMINS = usecases.ADMINS


class Link(Input):
    title: SingleLine = Field(min_length=1, max_length=300)
    url: AnyHttpUrl


class NoticeRequest(Input):
    title: SingleLine = Field(min_length=1, max_length=300)  # the e-mail's subject: one line
    body: str = Field(min_length=1, max_length=20_000)
    links: list[Link] = Field(default_factory=list, max_length=20, description="documents, attached by link")
    area_unit_id: str | None = Field(default=None, description="a unit of the sender's subtree; its own by default")


@router.post("/notices", status_code=202, tags=["notices"])
async def send_notice(
    body: NoticeRequest, request: Request, principal: CurrentPrincipal, svc: Service
) -> dict[str, Any]:
    """A notice (thông báo nghiệp vụ) from an administrator to every account of every unit under
    the area, in the inbox and by e-mail. Sent in the background; GET /notices/{id} follows it."""
    command = usecases.SendNotice(
        by=principal,
        title=body.title,
        body=body.body,
        links=[{"title": link.title, "url": str(link.url)} for link in body.links],
        area_unit_id=body.area_unit_id,
        ip=client_ip(request),
    )
    broadcast = await svc.run(usecases.send_notice, command, tree=svc.units, recipients=svc.notifications)
    # Kept referenced until done; if this process dies first, the scheduler resumes it.
    task = asyncio.create_task(usecases.send_broadcast(svc, broadcast))
    svc.sending.add(task)
    task.add_done_callback(svc.sending.discard)
    return {"notice_id": broadcast.id, "status": "sending"}


@router.get("/notices/{notice_id}", tags=["notices"])
async def notice_status(notice_id: str, principal: CurrentPrincipal, svc: Service) -> dict[str, Any]:
    """Where a notice is: `sending`, `sent` (to `recipients` accounts, `emailed` of them by e-mail
    too) or `no_recipients` (nobody under its area has an account); `message` says it in words."""
    broadcast = await usecases.sent_notice(svc.uow(), notice_id, principal)
    recipients, emailed = broadcast.recipients, broadcast.emailed
    status = notice_state(broadcast.status, recipients)  # also for notices finished before the word existed
    return {
        "notice_id": notice_id,
        "status": status,
        "recipients": recipients,
        "emailed": emailed,
        "message": notice_outcome(status, recipients, emailed),
        "area_unit_id": broadcast.area_unit_id,
        "title": broadcast.title,
    }


class ReminderRun(Input):
    model_config = ConfigDict(str_strip_whitespace=False)
    as_of: date = Field(description="the day whose reminders are due (Vietnam's date)")
    campaign_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="only this campaign's (or survey's) reminders",
    )


@router.post("/reminders/run", tags=["reminders"])
async def run_reminders(
    body: ReminderRun, request: Request, principal: CurrentPrincipal, svc: Service
) -> dict[str, int]:
    """Run the reminder pass of a given day now (central administrators): to catch up a day the
    scheduler missed. A reminder already sent is not sent again."""
    return await usecases.run_reminders(svc, principal, body.as_of, body.campaign_id, client_ip(request))


@router.get("/inbox", tags=["inbox"])
async def inbox(principal: CurrentPrincipal, svc: Service) -> InboxView:
    items, unread = await svc.notifications.inbox(principal.account_id)
    return InboxView(
        unread=unread,
        items=[
            NoticeView(
                notice_id=n["_id"],
                title=n["title"],
                body=n["body"],
                kind=n["kind"],
                read=n["read"],
                created_at=n["created_at"],
            )
            for n in items
        ],
    )


@router.get("/inbox/unread", tags=["inbox"])
async def unread(principal: CurrentPrincipal, svc: Service) -> dict[str, int]:
    """How many notices the account has not read: the count every page's header shows."""
    return {"unread": await svc.notifications.unread(principal.account_id)}


@router.post("/inbox/{notice_id}/read", status_code=204, tags=["inbox"])
async def mark_read(notice_id: str, principal: CurrentPrincipal, svc: Service) -> None:
    await usecases.read_notice(svc.uow(), notice_id, principal)
