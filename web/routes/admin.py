"""Administrators, the tree (issue 15): the administrative tree as a browsable, searchable list,
each unit with its accounts and state; a unit registered, renamed, moved or retired, each with
its reason. Only within the administrator's subtree: accounts decides, this page asks."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render
from ..format import UNIT_LEVELS, UNIT_STATUS
from ..pages import attempt, base_url, pages, require_admin

router = APIRouter()
Signed = Depends(shared.signed_in)
# Which level may hang under which (accounts' rule, shown as choices; accounts checks it).
CHILD_LEVELS = {
    "central": ["province", "agency"],
    "province": ["district", "commune", "agency"],
    "district": ["commune", "agency"],
    "commune": ["agency"],
    "agency": ["agency"],
}
STATES = {"all": "Tất cả", "active": "Đang hoạt động", "retired": "Đã giải thể, sáp nhập"}


async def unit_of(request: Request, session: Session, unit_id: str) -> dict[str, Any]:
    return await api(request, "accounts", "GET", f"/units/{quote(unit_id)}", session=session)


async def crumbs(request: Request, session: Session, unit: dict[str, Any]) -> list[dict[str, Any]]:
    """The unit's ancestors from the administrator's own unit down (those above it are not its)."""
    path = unit["path"]
    if session.unit_id not in path:
        return []
    chain = path[path.index(session.unit_id) :]
    found = await asyncio.gather(*(unit_of(request, session, u) for u in chain))
    return [{"unit_id": u["unit_id"], "name": u["name"]} for u in found]


def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **u,
            "level_label": UNIT_LEVELS.get(u["level"], u["level"]),
            "status_label": UNIT_STATUS.get(u["status"], (u["status"], ""))[0],
            "status_css": UNIT_STATUS.get(u["status"], ("", "govuk-tag--grey"))[1],
        }
        for u in items
    ]


@router.get("/quan-tri/don-vi")
async def tree(
    request: Request,
    don_vi: str = "",
    q: str = "",
    cap: str = "",
    trang_thai: str = "all",
    page: int = 1,
    session: Session = Signed,
) -> Response:
    require_admin(session)
    here = await unit_of(request, session, don_vi or session.unit_id)
    size = request.app.state.settings.page_size
    params: dict[str, Any] = {
        "page": max(page, 1),
        "page_size": size,
        "status": trang_thai if trang_thai in STATES else "all",
    }
    if cap in UNIT_LEVELS:
        params["level"] = cap
    if q.strip():
        params |= {"area": here["unit_id"], "q": q.strip()}
    else:
        params["parent"] = here["unit_id"]
    found, trail = await asyncio.gather(
        api(request, "accounts", "GET", "/units", session=session, params=params), crumbs(request, session, here)
    )
    return await render(
        request,
        "admin/tree.html",
        title="Đơn vị hành chính",
        current=rows([here])[0],
        crumbs=trail,
        units=rows(found["items"]),
        total=found["total"],
        page=found["page"],
        pages=pages(found["total"], found["page_size"]),
        q=q,
        cap=cap,
        trang_thai=trang_thai,
        levels=UNIT_LEVELS,
        states=STATES,
        own=here["unit_id"] == session.unit_id,
        base=base_url(
            "/quan-tri/don-vi", don_vi=don_vi, q=q, cap=cap, trang_thai="" if trang_thai == "all" else trang_thai
        ),
    )


@router.get("/quan-tri/don-vi/{uid}")
async def unit_page(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    people, children, trail = await asyncio.gather(
        api(request, "accounts", "GET", "/accounts", session=session, params={"unit": uid, "page_size": 200}),
        api(request, "accounts", "GET", "/units", session=session, params={"parent": uid, "page_size": 1}),
        crumbs(request, session, unit),
    )
    merged = await unit_of(request, session, unit["merged_into"]) if unit.get("merged_into") else None
    return await render(
        request,
        "admin/unit.html",
        title=unit["name"],
        unit=rows([unit])[0],
        crumbs=trail[:-1],
        accounts=people["items"],
        children=children["total"],
        merged=merged,
        own=uid == session.unit_id,
        done=request.query_params.get("da_luu"),
    )


# changes ---------------------------------------------------------------------------------------
async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}


@router.get("/quan-tri/don-vi/{uid}/them")
async def add_page(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    parent = await unit_of(request, session, uid)
    return await _add(request, parent, {}, {})


async def _add(
    request: Request, parent: dict[str, Any], values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    levels = [(lv, UNIT_LEVELS[lv]) for lv in CHILD_LEVELS.get(parent["level"], [])]
    return await render(
        request,
        "admin/unit_add.html",
        status,
        title="Thêm đơn vị trực thuộc",
        parent=parent,
        levels=levels,
        values=values,
        errors=errors,
    )


@router.post("/quan-tri/don-vi/{uid}/them")
async def add(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    parent = await unit_of(request, session, uid)
    values = await _form(request)
    errors = {
        k: m
        for k, m in (("code", "Nhập mã đơn vị"), ("name", "Nhập tên đơn vị"), ("level", "Chọn cấp đơn vị"))
        if not values.get(k)
    }
    if not errors:
        unit, errors = await attempt(
            api(
                request,
                "accounts",
                "POST",
                "/units",
                session=session,
                json={"code": values["code"], "name": values["name"], "level": values["level"], "parent_id": uid},
            ),
            {"code": "code", "name": "name", "level": "level"},
            "code",
        )
        if not errors:
            return redirect(f"/quan-tri/don-vi/{quote(unit['unit_id'])}?da_luu=them")
    return await _add(request, parent, values, errors, 422)


@router.get("/quan-tri/don-vi/{uid}/doi-ten")
async def rename_page(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    return await render(
        request, "admin/unit_rename.html", title="Đổi tên đơn vị", unit=unit, values={"name": unit["name"]}
    )


@router.post("/quan-tri/don-vi/{uid}/doi-ten")
async def rename(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    values = await _form(request)
    errors = {k: m for k, m in (("name", "Nhập tên mới"), ("reason", "Ghi lý do đổi tên")) if not values.get(k)}
    if not errors:
        _, errors = await attempt(
            api(
                request,
                "accounts",
                "PUT",
                f"/units/{quote(uid)}/name",
                session=session,
                json={"name": values["name"], "reason": values["reason"]},
            ),
            {"name": "name", "reason": "reason"},
            "name",
        )
        if not errors:
            return redirect(f"/quan-tri/don-vi/{quote(uid)}?da_luu=doi-ten")
    return await render(
        request, "admin/unit_rename.html", 422, title="Đổi tên đơn vị", unit=unit, values=values, errors=errors
    )


async def _candidates(request: Request, session: Session, q: str, exclude: str) -> list[dict[str, Any]]:
    """Units of the administrator's subtree matching a search, to pick one (a new parent, a merger)."""
    if not q.strip():
        return []
    found = await api(
        request,
        "accounts",
        "GET",
        "/units",
        session=session,
        params={"q": q.strip(), "status": "active", "page_size": 20},
    )
    return [u for u in rows(found["items"]) if u["unit_id"] != exclude]


@router.get("/quan-tri/don-vi/{uid}/chuyen")
async def move_page(uid: str, request: Request, q: str = "", session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    return await render(
        request,
        "admin/unit_move.html",
        title="Chuyển đơn vị sang đơn vị cấp trên khác",
        unit=unit,
        q=q,
        candidates=await _candidates(request, session, q, uid),
        values={},
    )


@router.post("/quan-tri/don-vi/{uid}/chuyen")
async def move(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    values = await _form(request)
    errors = {
        k: m
        for k, m in (("parent_id", "Chọn đơn vị cấp trên mới"), ("reason", "Ghi lý do chuyển"))
        if not values.get(k)
    }
    if not errors:
        _, errors = await attempt(
            api(
                request,
                "accounts",
                "POST",
                f"/units/{quote(uid)}/move",
                session=session,
                json={"parent_id": values["parent_id"], "reason": values["reason"]},
            ),
            {"parent_id": "parent_id", "reason": "reason"},
            "parent_id",
        )
        if not errors:
            return redirect(f"/quan-tri/don-vi/{quote(uid)}?da_luu=chuyen")
    q = values.get("q", "")
    return await render(
        request,
        "admin/unit_move.html",
        422,
        title="Chuyển đơn vị sang đơn vị cấp trên khác",
        unit=unit,
        q=q,
        candidates=await _candidates(request, session, q, uid),
        values=values,
        errors=errors,
    )


@router.get("/quan-tri/don-vi/{uid}/giai-the")
async def retire_page(uid: str, request: Request, q: str = "", session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    return await render(
        request,
        "admin/unit_retire.html",
        title="Giải thể hoặc sáp nhập đơn vị",
        unit=unit,
        q=q,
        candidates=await _candidates(request, session, q, uid),
        values={},
    )


@router.post("/quan-tri/don-vi/{uid}/giai-the")
async def retire(uid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, uid)
    values = await _form(request)
    errors = {} if values.get("reason") else {"reason": "Ghi lý do giải thể hoặc sáp nhập"}
    if not errors:
        _, errors = await attempt(
            api(
                request,
                "accounts",
                "POST",
                f"/units/{quote(uid)}/retire",
                session=session,
                json={"reason": values["reason"], "merged_into": values.get("merged_into") or None},
            ),
            {"reason": "reason", "merged_into": "merged_into"},
            "reason",
        )
        if not errors:
            return redirect(f"/quan-tri/don-vi/{quote(uid)}?da_luu=giai-the")
    q = values.get("q", "")
    return await render(
        request,
        "admin/unit_retire.html",
        422,
        title="Giải thể hoặc sáp nhập đơn vị",
        unit=unit,
        q=q,
        candidates=await _candidates(request, session, q, uid),
        values=values,
        errors=errors,
    )
