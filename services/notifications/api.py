"""Notifications' HTTP API: the signed-in account's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from chassis.errors import NotFound
from chassis.http import CurrentPrincipal
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

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


def notifications(request: Request) -> NotificationStore:
    return request.app.state.notifications


Notifications = Annotated[NotificationStore, Depends(notifications)]


@router.get("/inbox", tags=["inbox"])
async def inbox(principal: CurrentPrincipal, store: Notifications) -> InboxView:
    items, unread = await store.inbox(principal.account_id)
    return InboxView(unread=unread, items=[
        NoticeView(notice_id=n["_id"], title=n["title"], body=n["body"], kind=n["kind"], read=n["read"],
                   created_at=n["created_at"]) for n in items
    ])


@router.post("/inbox/{notice_id}/read", status_code=204, tags=["inbox"])
async def mark_read(notice_id: str, principal: CurrentPrincipal, store: Notifications) -> None:
    # Only the owner's notices match: another account's id answers as unknown.
    if not await store.mark_read(notice_id, principal.account_id):
        raise NotFound("Không tìm thấy thông báo")
