"""Notices (issue 15, group 3): an administrator writes a notice to its subtree (or a unit of it),
with links to documents; then sees to whom it was delivered, in the inbox and by e-mail, and who
read it. Notifications sends it and keeps who was told; these pages ask."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render
from ..pages import attempt, base_url, pages, require_admin
from .admin import rows

router = APIRouter()
Signed = Depends(shared.signed_in)
LINKS = 5  # link rows on the form; notifications takes up to twenty
STATUS = {
    "sending": ("Đang gửi", "govuk-tag--blue"),
    "sent": ("Đã gửi", "govuk-tag--green"),
    "no_recipients": ("Không có người nhận", "govuk-tag--red"),
}
EMAIL = {
    "sent": ("Đã gửi thư", "govuk-tag--green"),
    "pending": ("Đang gửi thư", "govuk-tag--blue"),
    "failed": ("Gửi thư lỗi", "govuk-tag--red"),
    "none": ("Không có địa chỉ thư", "govuk-tag--grey"),
}


@router.get("/thong-bao/da-gui")
async def sent(request: Request, page: int = 1, session: Session = Signed) -> Response:
    require_admin(session)
    found = await api(
        request,
        "notifications",
        "GET",
        "/notices",
        session=session,
        params={"page": max(page, 1), "page_size": request.app.state.settings.page_size},
    )
    return await render(
        request,
        "notices/sent.html",
        title="Thông báo đã gửi",
        items=found["items"],
        total=found["total"],
        page=found["page"],
        pages=pages(found["total"], found["page_size"]),
        base="/thong-bao/da-gui?",
        status=STATUS,
    )


async def _areas(request: Request, session: Session, q: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    own = await api(request, "accounts", "GET", f"/units/{quote(session.unit_id)}", session=session)
    found: list[dict[str, Any]] = []
    if q.strip():
        result = await api(
            request,
            "accounts",
            "GET",
            "/units",
            session=session,
            params={"q": q.strip(), "status": "active", "page_size": 20},
        )
        found = rows(result["items"])
    return own, found


async def _compose(
    request: Request, session: Session, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    own, found = await _areas(request, session, values.get("q", ""))
    links = values.get("links") or []
    links = links + [{"title": "", "url": ""}] * (LINKS - len(links))
    return await render(
        request,
        "notices/compose.html",
        status,
        title="Viết thông báo",
        own=own,
        found=found,
        values=values,
        errors=errors,
        links=links[:LINKS],
    )


@router.get("/thong-bao/viet")
async def compose(request: Request, q: str = "", session: Session = Signed) -> Response:
    require_admin(session)
    return await _compose(request, session, {"q": q, "area": ""}, {})


@router.post("/thong-bao/viet")
async def send(request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    form = await request.form()
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("title", "body", "area", "q")}
    titles, urls = form.getlist("link_title"), form.getlist("link_url")
    values["links"] = [
        {"title": str(t).strip(), "url": str(u).strip()}
        for t, u in zip(titles, urls, strict=False)
        if str(t).strip() or str(u).strip()
    ]
    errors = {k: m for k, m in (("title", "Nhập tiêu đề"), ("body", "Nhập nội dung")) if not values[k]}
    for i, link in enumerate(values["links"], start=1):
        if not link["title"] or not link["url"]:
            errors[f"link-{i}"] = f"Liên kết {i}: ghi cả tên tài liệu và địa chỉ"
        elif not link["url"].startswith(("https://", "http://")):
            errors[f"link-{i}"] = f"Liên kết {i}: địa chỉ phải bắt đầu bằng https:// hoặc http://"
    if not errors:
        body = {
            "title": values["title"],
            "body": values["body"],
            "links": values["links"],
            **({"area_unit_id": values["area"]} if values["area"] else {}),
        }
        sent, errors = await attempt(
            api(request, "notifications", "POST", "/notices", session=session, json=body),
            {"title": "title", "body": "body", "area_unit_id": "area", "links": "link-1"},
            "title",
            raise_also=(401, 403),
        )
        if not errors:
            return redirect(f"/thong-bao/da-gui/{quote(sent['notice_id'])}?moi=1")
    return await _compose(request, session, values, errors, 422)


@router.get("/thong-bao/da-gui/{notice_id}")
async def delivery(
    notice_id: str, request: Request, doc: str = "", page: int = 1, session: Session = Signed
) -> Response:
    require_admin(session)
    params: dict[str, Any] = {"page": max(page, 1), "page_size": request.app.state.settings.page_size}
    if doc in ("1", "0"):
        params["read"] = "true" if doc == "1" else "false"
    status, found, listed = await asyncio.gather(
        api(request, "notifications", "GET", f"/notices/{quote(notice_id)}", session=session),
        api(request, "notifications", "GET", f"/notices/{quote(notice_id)}/recipients", session=session, params=params),
        api(
            request,
            "notifications",
            "GET",
            f"/notices/{quote(notice_id)}/recipients",
            session=session,
            params={"read": "true", "page_size": 1},
        ),
    )
    return await render(
        request,
        "notices/delivery.html",
        title=status["title"],
        notice=status,
        people=found["items"],
        read=listed["total"],
        doc=doc,
        page=found["page"],
        pages=pages(found["total"], found["page_size"]),
        base=base_url(f"/thong-bao/da-gui/{quote(notice_id)}", doc=doc),
        status=STATUS,
        email=EMAIL,
        new=bool(request.query_params.get("moi")),
    )
