"""The Ministry (issue 15, group 2): form definitions, their versions side by side and what
changed; campaigns opened with their scope, window, review levels and the deadline of each level
of unit, and the half-yearly periodic reports; the official code lists. Forms keeps all of it and
decides who may do what; these pages ask."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from chassis.clock import today_in_vietnam

from .. import app as shared
from ..app import Session, api, redirect, render
from ..clients import ApiError
from ..compare import LABELS, PROPERTIES, compare, describe
from ..pages import attempt, base_url, pages, require_admin, vn_day

router = APIRouter()
Signed = Depends(shared.signed_in)
REVIEW_LEVELS = [
    ("district", "Cấp huyện (giám sát viên cấp huyện)"),
    ("province", "Cấp tỉnh (giám sát viên cấp tỉnh)"),
    ("central", "Cấp Trung ương (Bộ Nội vụ)"),
]
TIERS = [("province", "Đơn vị trực thuộc tỉnh (sở, ngành; xã trực thuộc tỉnh)"), ("district", "Đơn vị thuộc huyện")]
CODES_PER_PAGE = 50


def require_campaigns(session: Session) -> None:
    if session.role not in ("central_admin", "province_admin"):
        raise ApiError(404, "not_found", "Trang này dành cho quản trị hệ thống cấp Trung ương hoặc cấp tỉnh")


# form definitions -------------------------------------------------------------------------------
@router.get("/bo/mau-phieu")
async def definitions(request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    found = await api(request, "forms", "GET", "/definitions/versions", session=session)
    forms: dict[str, dict[str, Any]] = {}
    for v in found:
        entry = forms.setdefault(v["form_code"], {"form_code": v["form_code"], "versions": []})
        entry["versions"].append(v)
        entry["title"] = v["title"]
    return await render(request, "ministry/definitions.html", title="Mẫu phiếu", forms=list(forms.values()))


async def _definition(request: Request, session: Session, code: str, version: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"form_code": code, **({"version": version} if version else {})}
    return await api(request, "forms", "GET", "/definitions", session=session, params=params)


@router.get("/bo/mau-phieu/xem")
async def definition(request: Request, ma: str, phien_ban: int | None = None, session: Session = Signed) -> Response:
    require_admin(session)
    found = await _definition(request, session, ma, phien_ban)
    versions = await api(request, "forms", "GET", "/definitions/versions", session=session, params={"form_code": ma})
    return await render(
        request,
        "ministry/definition.html",
        title=found["title"],
        definition=found,
        versions=versions,
        describe=describe,
    )


@router.get("/bo/mau-phieu/so-sanh")
async def side_by_side(request: Request, ma: str, tu: int = 0, den: int = 0, session: Session = Signed) -> Response:
    require_admin(session)
    versions = await api(request, "forms", "GET", "/definitions/versions", session=session, params={"form_code": ma})
    numbers = [v["version"] for v in versions]
    if len(numbers) < 2:
        raise ApiError(404, "not_found", "Mẫu phiếu này mới có một phiên bản")
    den = den if den in numbers else numbers[-1]
    tu = tu if tu in numbers and tu != den else next((n for n in reversed(numbers) if n < den), numbers[0])
    before, after = await asyncio.gather(_definition(request, session, ma, tu), _definition(request, session, ma, den))
    return await render(
        request,
        "ministry/compare.html",
        title=f"So sánh phiên bản {tu} và {den}",
        form_code=ma,
        before=before,
        after=after,
        result=compare(before, after),
        labels=LABELS,
        numbers=numbers,
        describe=describe,
        properties=PROPERTIES,
    )


# code lists -------------------------------------------------------------------------------------
@router.get("/bo/danh-muc")
async def code_lists(request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    found = await api(request, "forms", "GET", "/codelists", session=session)
    return await render(request, "ministry/codelists.html", title="Danh mục mã", lists=found)


@router.get("/bo/danh-muc/{name}")
async def code_list(
    name: str, request: Request, q: str = "", cap: str = "", page: int = 1, session: Session = Signed
) -> Response:
    require_admin(session)
    params: dict[str, Any] = {"q": q.strip()}
    if cap.isdigit():
        params["level"] = int(cap)
    found = await api(request, "forms", "GET", f"/codelists/{quote(name)}", session=session, params=params)
    entries, page = found["entries"], max(page, 1)
    return await render(
        request,
        "ministry/codelist.html",
        title=found["title"],
        found=found,
        name=name,
        q=q,
        cap=cap,
        entries=entries[(page - 1) * CODES_PER_PAGE : page * CODES_PER_PAGE],
        total=len(entries),
        page=page,
        pages=pages(len(entries), CODES_PER_PAGE),
        base=base_url(f"/bo/danh-muc/{quote(name)}", q=q, cap=cap),
    )


# campaigns --------------------------------------------------------------------------------------
@router.get("/bo/dot-thu-thap")
async def campaigns(request: Request, session: Session = Signed) -> Response:
    require_campaigns(session)
    found = await api(request, "forms", "GET", "/campaigns", session=session, params={"page_size": 200})
    return await render(
        request,
        "ministry/campaigns.html",
        title="Đợt thu thập",
        campaigns=found["items"],
        opened=request.query_params.get("da_mo", ""),
    )


async def _form_choices(
    request: Request, session: Session
) -> tuple[list[tuple[str, str]], list[dict[str, Any]], dict[str, Any]]:
    """The forms one may collect, and the units a scope is made of: one's own, or units under it."""
    versions, own, children = await asyncio.gather(
        api(request, "forms", "GET", "/definitions/versions", session=session),
        api(request, "accounts", "GET", f"/units/{quote(session.unit_id)}", session=session),
        api(
            request,
            "accounts",
            "GET",
            "/units",
            session=session,
            params={"parent": session.unit_id, "status": "active", "page_size": 500},
        ),
    )
    forms = [(v["form_code"], f"{v['form_code']} – {v['title']}") for v in versions if v["latest"]]
    return forms, children["items"], own


TEMPLATES = {
    "open": ("ministry/campaign_open.html", "Mở đợt thu thập"),
    "periodic": ("ministry/campaign_periodic.html", "Mở báo cáo định kỳ 6 tháng"),
}


async def _campaign_form(
    request: Request, session: Session, kind: str, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    forms, units, own = await _form_choices(request, session)
    template, title = TEMPLATES[kind]
    return await render(
        request,
        template,
        status,
        title=title,
        forms=forms,
        units=units,
        own=own,
        values=values,
        errors=errors,
        review_levels=REVIEW_LEVELS,
        tiers=TIERS,
    )


@router.get("/bo/dot-thu-thap/mo")
async def open_page(request: Request, session: Session = Signed) -> Response:
    require_campaigns(session)
    return await _campaign_form(request, session, "open", {"review_levels": ["district", "province"], "scope": []}, {})


def _scope(form: Any, session: Session) -> list[str]:
    picked = [str(v) for v in form.getlist("scope")]
    return [session.unit_id] if "__own__" in picked else picked


@router.post("/bo/dot-thu-thap/mo")
async def open_campaign(request: Request, session: Session = Signed) -> Response:
    require_campaigns(session)
    form = await request.form()
    values: dict[str, Any] = {
        k: str(form.get(k, "")).strip()
        for k in (
            "campaign_id",
            "title",
            "form_code",
            "opens_on",
            "closes_on",
            "deadline_province",
            "deadline_district",
        )
    }
    values["review_levels"] = [str(v) for v in form.getlist("review_levels")]
    values["scope"] = [str(v) for v in form.getlist("scope")]
    errors = {
        k: m
        for k, m in (
            ("campaign_id", "Nhập mã đợt thu thập"),
            ("title", "Nhập tên đợt thu thập"),
            ("form_code", "Chọn mẫu phiếu"),
            ("opens_on", "Nhập ngày bắt đầu"),
            ("closes_on", "Nhập ngày kết thúc"),
        )
        if not values[k]
    }
    if not values["scope"]:
        errors["scope"] = "Chọn phạm vi: toàn bộ địa bàn hoặc ít nhất một đơn vị"
    if not values["review_levels"]:
        errors["review_levels"] = "Chọn ít nhất một cấp duyệt"
    days: dict[str, str] = {}
    for key in ("opens_on", "closes_on", "deadline_province", "deadline_district"):
        try:
            day = vn_day(values[key])
        except ValueError:
            errors[key] = "Ngày phải viết dạng ngày/tháng/năm, ví dụ 12/04/2026"
        else:
            if day:
                days[key] = day.isoformat()
    if not errors:
        body = {
            "campaign_id": values["campaign_id"],
            "form_code": values["form_code"],
            "title": values["title"],
            "scope_unit_ids": _scope(form, session),
            "opens_on": days["opens_on"],
            "closes_on": days["closes_on"],
            "deadlines": {t: days[f"deadline_{t}"] for t in ("province", "district") if f"deadline_{t}" in days},
            "review_levels": [lv for lv, _ in REVIEW_LEVELS if lv in values["review_levels"]],
        }
        _, errors = await attempt(
            api(request, "forms", "POST", "/campaigns", session=session, json=body),
            {
                "campaign_id": "campaign_id",
                "title": "title",
                "form_code": "form_code",
                "opens_on": "opens_on",
                "closes_on": "closes_on",
                "scope_unit_ids": "scope",
                "review_levels": "review_levels",
                "deadlines": "deadline_province",
            },
            "campaign_id",
        )
        if not errors:
            return redirect(f"/bo/dot-thu-thap/{quote(values['campaign_id'])}?da_mo=1")
    return await _campaign_form(request, session, "open", values, errors, 422)


@router.get("/bo/dot-thu-thap/dinh-ky")
async def periodic_page(request: Request, session: Session = Signed) -> Response:
    require_campaigns(session)
    return await _campaign_form(request, session, "periodic", {"year": str(today_in_vietnam().year), "scope": []}, {})


@router.post("/bo/dot-thu-thap/dinh-ky")
async def open_periodic(request: Request, session: Session = Signed) -> Response:
    require_campaigns(session)
    form = await request.form()
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("base_id", "title", "form_code", "year")}
    values["scope"] = [str(v) for v in form.getlist("scope")]
    errors = {
        k: m
        for k, m in (("base_id", "Nhập mã báo cáo"), ("title", "Nhập tên báo cáo"), ("form_code", "Chọn mẫu phiếu"))
        if not values[k]
    }
    if not values["year"].isdigit():
        errors["year"] = "Nhập năm, ví dụ 2026"
    if not values["scope"]:
        errors["scope"] = "Chọn phạm vi: toàn bộ địa bàn hoặc ít nhất một đơn vị"
    if not errors:
        opened, errors = await attempt(
            api(
                request,
                "forms",
                "POST",
                "/campaigns/periodic",
                session=session,
                json={
                    "base_id": values["base_id"],
                    "form_code": values["form_code"],
                    "title": values["title"],
                    "scope_unit_ids": _scope(form, session),
                    "year": int(values["year"]),
                },
            ),
            {
                "base_id": "base_id",
                "title": "title",
                "form_code": "form_code",
                "year": "year",
                "scope_unit_ids": "scope",
            },
            "base_id",
        )
        if not errors:
            return redirect("/bo/dot-thu-thap?da_mo=" + quote(",".join(c["campaign_id"] for c in opened)))
    return await _campaign_form(request, session, "periodic", values, errors, 422)


@router.get("/bo/dot-thu-thap/{cid}")
async def campaign(cid: str, request: Request, session: Session = Signed) -> Response:
    require_campaigns(session)
    found = await api(request, "forms", "GET", f"/campaigns/{quote(cid)}", session=session)

    async def name(unit_id: str) -> str:
        try:
            return (await api(request, "accounts", "GET", f"/units/{quote(unit_id)}", session=session))["name"]
        except ApiError:
            return unit_id

    scope = await asyncio.gather(*(name(u) for u in found["scope_unit_ids"][:30]))
    return await render(
        request,
        "ministry/campaign.html",
        title=found["title"],
        campaign=found,
        scope=scope,
        levels=dict(REVIEW_LEVELS),
        tiers=dict(TIERS),
        opened=bool(request.query_params.get("da_mo")),
    )
