"""Notifications' HTTP API: the signed-in account's inbox, notices an administrator sends to its
subtree, and a reminder pass for a given day."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from chassis import audit as audit_log
from chassis.clock import today_in_vietnam
from chassis.errors import DomainError, Forbidden, NotFound
from chassis.http import CurrentPrincipal, from_state
from chassis.text import Input, SingleLine
from chassis.tree import UnitDirectory

from .domain.model import notice_state
from .domain.templates import notice_outcome
from .store import NotificationStore

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


Notifications = Annotated[NotificationStore, Depends(from_state("notifications"))]
Units = Annotated[UnitDirectory, Depends(from_state("units"))]
ADMINS = ("central_admin", "province_admin", "district_admin")


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
    body: NoticeRequest, request: Request, principal: CurrentPrincipal, store: Notifications, tree: Units
) -> dict[str, Any]:
    """A notice (thông báo nghiệp vụ) from an administrator to every account of every unit under
    the area, in the inbox and by e-mail. Sent in the background; GET /notices/{id} follows it."""
    if principal.role not in ADMINS:
        raise Forbidden("Chỉ quản trị hệ thống gửi thông báo nghiệp vụ")
    area = body.area_unit_id or principal.unit_id
    if not await tree.can_see(principal, area) or (lineage := await tree.lineage(area)) is None:
        raise NotFound("Không tìm thấy đơn vị này trong phạm vi của bạn")
    sender = await store.recipient(principal.account_id)
    broadcast = {
        "_id": uuid.uuid4().hex,
        "area_unit_id": area,
        "title": body.title,
        "body": body.body,
        "links": [{"title": link.title, "url": str(link.url)} for link in body.links],
        "sender_id": principal.account_id,
        "sender_name": sender["display_name"] if sender else principal.username,
        "at": datetime.now(UTC),
    }
    await store.add_broadcast(
        broadcast,
        audit_log.entry(
            request,
            "notice_sent",
            actor=principal,
            target_id=broadcast["_id"],
            unit_lineage=lineage,
            area=area,
            links=len(body.links),
        ),
    )
    # Kept referenced until done; if this process dies first, the scheduler resumes it.
    task = asyncio.create_task(request.app.state.notifier.send_broadcast(broadcast))
    request.app.state.sending.add(task)
    task.add_done_callback(request.app.state.sending.discard)
    return {"notice_id": broadcast["_id"], "status": "sending"}


@router.get("/notices/{notice_id}", tags=["notices"])
async def notice_status(notice_id: str, principal: CurrentPrincipal, store: Notifications) -> dict[str, Any]:
    """Where a notice is: `sending`, `sent` (to `recipients` accounts, `emailed` of them by e-mail
    too) or `no_recipients` (nobody under its area has an account); `message` says it in words."""
    broadcast = await store.broadcast(notice_id)
    if broadcast is None or (broadcast["sender_id"] != principal.account_id and principal.role != "central_admin"):
        raise NotFound("Không tìm thấy thông báo")
    recipients, emailed = broadcast["recipients"], broadcast.get("emailed", 0)
    status = notice_state(broadcast["status"], recipients)  # also for notices finished before the word existed
    return {
        "notice_id": notice_id,
        "status": status,
        "recipients": recipients,
        "emailed": emailed,
        "message": notice_outcome(status, recipients, emailed),
        "area_unit_id": broadcast["area_unit_id"],
        "title": broadcast["title"],
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
async def run_reminders(body: ReminderRun, request: Request, principal: CurrentPrincipal) -> dict[str, int]:
    """Run the reminder pass of a given day now (central administrators): to catch up a day the
    scheduler missed. A reminder already sent is not sent again."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương chạy lại việc nhắc hạn")
    if body.as_of > today_in_vietnam() and not request.app.state.settings.reminders_any_day:
        # A future day would send its overdue lists early and mark them sent.
        raise DomainError("Không chạy việc nhắc hạn cho một ngày chưa tới", code="future_day")
    await audit_log.record(
        request,
        audit_log.entry(
            request,
            "reminders_run",
            actor=principal,
            target_id=body.campaign_id,
            unit_lineage=[principal.unit_id],
            as_of=str(body.as_of),
        ),
    )
    return await request.app.state.scheduler.run_pass(body.as_of, body.campaign_id)


@router.get("/inbox", tags=["inbox"])
async def inbox(principal: CurrentPrincipal, store: Notifications) -> InboxView:
    items, unread = await store.inbox(principal.account_id)
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
async def unread(principal: CurrentPrincipal, store: Notifications) -> dict[str, int]:
    """How many notices the account has not read: the count every page's header shows."""
    return {"unread": await store.unread(principal.account_id)}


@router.post("/inbox/{notice_id}/read", status_code=204, tags=["inbox"])
async def mark_read(notice_id: str, principal: CurrentPrincipal, store: Notifications) -> None:
    # Only the owner's notices match: another account's id answers as unknown.
    if not await store.mark_read(notice_id, principal.account_id):
        raise NotFound("Không tìm thấy thông báo")
