"""Administrators, the audit trail (issue 15): what was done in their subtree, filtered by who,
what, which unit and which days, paged, and exported as Excel or CSV (accounts' `GET /audit` and
`GET /audit/export`, written by chassis/sheets.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, render
from ..format import AUDIT_ACTIONS, OUTCOMES
from ..pages import base_url, pages, passed_on, require_admin, vn_day

router = APIRouter()
Signed = Depends(shared.signed_in)


async def _filters(
    request: Request, session: Session, nguoi: str, viec: str, don_vi: str, tu: str, den: str, doi_tuong: str = ""
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any] | None]:
    """The API's filters from the page's, with a message beside each one that cannot be read."""
    params: dict[str, Any] = {"target": doi_tuong} if doi_tuong else {}
    errors: dict[str, str] = {}
    if nguoi.strip():
        params["actor"] = nguoi.strip()
    if viec:
        params["action"] = viec
    unit = None
    if don_vi.strip():
        found = await api(
            request, "accounts", "GET", "/units", session=session, params={"q": don_vi.strip(), "page_size": 50}
        )
        unit = next((u for u in found["items"] if u["code"].lower() == don_vi.strip().lower()), None)
        if unit is None:
            errors["don_vi"] = f"Không có đơn vị mã '{don_vi.strip()}' trong phạm vi của bạn"
        else:
            params["unit"] = unit["unit_id"]
    for key, name, text in (("since", "tu", tu), ("until", "den", den)):
        try:
            day = vn_day(text)
        except ValueError:
            errors[name] = "Ngày phải viết dạng ngày/tháng/năm, ví dụ 05/03/2026"
            continue
        if day:
            params[key] = day.isoformat()
    return {k: v for k, v in params.items() if v}, errors, unit


@router.get("/quan-tri/nhat-ky")
async def trail(
    request: Request,
    nguoi: str = "",
    viec: str = "",
    don_vi: str = "",
    tu: str = "",
    den: str = "",
    doi_tuong: str = "",
    page: int = 1,
    session: Session = Signed,
) -> Response:
    require_admin(session)
    params, errors, _ = await _filters(request, session, nguoi, viec, don_vi, tu, den, doi_tuong)
    size = request.app.state.settings.page_size
    entries: list[dict[str, Any]] = []
    total = 0
    if not errors:
        found = await api(
            request,
            "accounts",
            "GET",
            "/audit",
            session=session,
            raw=True,
            params={**params, "page": max(page, 1), "page_size": size},
        )
        entries, total = found.json(), int(found.headers.get("x-total-count", "0"))
    query: dict[str, Any] = {
        "nguoi": nguoi,
        "viec": viec,
        "don_vi": don_vi,
        "tu": tu,
        "den": den,
        "doi_tuong": doi_tuong,
    }
    target = (
        next((e["target_label"] for e in entries if e.get("target_id") == doi_tuong), doi_tuong) if doi_tuong else ""
    )
    return await render(
        request,
        "admin/audit.html",
        422 if errors else 200,
        title="Nhật ký hệ thống",
        entries=[
            {
                **e,
                "action_label": AUDIT_ACTIONS.get(e["action"], e["action"]),
                "outcome_label": OUTCOMES.get(e["outcome"], e["outcome"]),
            }
            for e in entries
        ],
        total=total,
        page=max(page, 1),
        pages=pages(total, size),
        errors=errors,
        actions=AUDIT_ACTIONS,
        base=base_url("/quan-tri/nhat-ky", **query),
        export=base_url("/quan-tri/nhat-ky/tai-xuong", **query),
        target=target,
        **query,
    )


@router.get("/quan-tri/nhat-ky/tai-xuong")
async def download(
    request: Request,
    format: str = "xlsx",
    nguoi: str = "",
    viec: str = "",
    don_vi: str = "",
    tu: str = "",
    den: str = "",
    doi_tuong: str = "",
    session: Session = Signed,
) -> Response:
    require_admin(session)
    params, errors, _ = await _filters(request, session, nguoi, viec, don_vi, tu, den, doi_tuong)
    fmt = "csv" if format == "csv" else "xlsx"
    if errors:
        return await render(
            request, "error.html", 422, title="Không tải được nhật ký", message=" ".join(errors.values())
        )
    sheet = await api(
        request, "accounts", "GET", "/audit/export", session=session, raw=True, params={**params, "format": fmt}
    )
    return passed_on(sheet, f"nhat-ky.{fmt}")
