"""Journey 6: the in-app inbox (notifications' API); the header of every page shows the unread count."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render

router = APIRouter()
Signed = Depends(shared.signed_in)


@router.get("/thong-bao")
async def inbox(request: Request, session: Session = Signed) -> Response:
    found = await api(request, "notifications", "GET", "/inbox", session=session)
    return await render(request, "inbox.html", title="Thông báo", items=found["items"], unread_here=found["unread"])


@router.post("/thong-bao/{notice_id}/da-doc")
async def mark_read(notice_id: str, request: Request, session: Session = Signed) -> Response:
    await api(request, "notifications", "POST", f"/inbox/{notice_id}/read", session=session)
    return redirect(f"/thong-bao#n-{notice_id}")
