"""What an administrator's notices page needs (issue 15): the notices it sent, and for each, to
whom it was delivered (in the inbox, and by e-mail: sent, waiting or failed) and who read it.
A sender sees its own notices; the Ministry's central administrators every one (as `GET
/notices/{id}` already decides)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from chassis.errors import Forbidden
from chassis.http import CurrentPrincipal, from_state

from . import usecases
from .api import ADMINS
from .domain.model import notice_state
from .usecases import Notifications

router = APIRouter()
Service = Annotated[Notifications, Depends(from_state("notifications"))]


class SentNotice(BaseModel):
    notice_id: str
    title: str
    area_unit_id: str
    area_name: str | None
    sent_at: datetime
    status: str
    recipients: int
    emailed: int
    read: int
    links: list[dict[str, str]]


class SentNotices(BaseModel):
    items: list[SentNotice]
    total: int
    page: int
    page_size: int


@router.get("/notices", tags=["notices"])
async def sent_notices(
    principal: CurrentPrincipal,
    svc: Service,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> SentNotices:
    """The notices the caller sent, newest first, each with how many it reached and how many read it."""
    if principal.role not in ADMINS:
        raise Forbidden("Chỉ quản trị hệ thống gửi và xem thông báo nghiệp vụ")
    sender = None if principal.role == "central_admin" else principal.account_id
    store, tree = svc.notifications, svc.units
    found, total = await store.broadcasts_sent(sender, (page - 1) * page_size, page_size)
    items = []
    for b in found:
        area = await tree.get(b["area_unit_id"])
        items.append(
            SentNotice(
                notice_id=b["_id"],
                title=b["title"],
                area_unit_id=b["area_unit_id"],
                area_name=area["name"] if area else None,
                sent_at=b["at"],
                status=notice_state(b["status"], b["recipients"]),
                recipients=b["recipients"],
                emailed=b.get("emailed", 0),
                read=await store.broadcast_reads(b["_id"]),
                links=b.get("links", []),
            )
        )
    return SentNotices(items=items, total=total, page=page, page_size=page_size)


class Recipient(BaseModel):
    account_id: str
    display_name: str | None
    role: str | None
    unit_id: str | None
    unit_name: str | None
    read: bool
    read_at: datetime | None
    email: str = "none"  # none (no address), pending, sent, failed
    email_error: str | None = None


class Recipients(BaseModel):
    notice_id: str
    title: str
    status: str
    items: list[Recipient]
    total: int
    page: int
    page_size: int


@router.get("/notices/{notice_id}/recipients", tags=["notices"])
async def notice_recipients(
    notice_id: str,
    principal: CurrentPrincipal,
    svc: Service,
    read: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Recipients:
    """Everyone the notice reached, in the inbox: whether and when they read it, and what became of
    its e-mail. `read` keeps those who did (true) or did not (false)."""
    broadcast = await usecases.sent_notice(svc.uow(), notice_id, principal)
    store, tree = svc.notifications, svc.units
    notices, total = await store.broadcast_notices(notice_id, read, (page - 1) * page_size, page_size)
    people = await store.recipients_by_id([n["account_id"] for n in notices])
    mails = await store.deliveries_of([n["_id"] + ":email" for n in notices])
    unit_ids = list({p["unit_id"] for p in people.values() if p.get("unit_id")})
    units = {u["_id"]: u["name"] async for u in tree.units.find({"_id": {"$in": unit_ids}}, {"name": 1})}
    items = []
    for n in notices:
        person = people.get(n["account_id"], {})
        unit_id = person.get("unit_id")
        mail = mails.get(n["_id"] + ":email")
        items.append(
            Recipient(
                account_id=n["account_id"],
                display_name=person.get("display_name"),
                role=person.get("role"),
                unit_id=unit_id,
                unit_name=units.get(unit_id) if unit_id else None,
                read=n["read"],
                read_at=n.get("read_at"),
                email=mail["status"] if mail else "none",
                email_error=mail.get("last_error") if mail else None,
            )
        )
    return Recipients(
        notice_id=notice_id,
        title=broadcast.title,
        status=notice_state(broadcast.status, broadcast.recipients),
        items=items,
        total=total,
        page=page,
        page_size=page_size,
    )
