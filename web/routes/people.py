"""Administrators, the accounts (issue 15): a list with search and filters (role, state, unit,
locked, never signed in); issuing one; resetting a password, revoking, unlocking (which issues a
new password: decision 0010), changing a role, each with its reason; assigning units to a
supervisor, picked from the tree. A new password is shown once, on the page that made it."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render
from ..clients import ApiError
from ..format import ROLES, UNIT_LEVELS
from ..pages import attempt, base_url, pages, refusal, require_admin
from .admin import rows, unit_of

router = APIRouter()
Signed = Depends(shared.signed_in)
# The roles each administrator may give (accounts' rule, DESIGN §2; accounts checks it again).
ISSUABLE = {
    "central_admin": [
        "reporting_unit",
        "district_supervisor",
        "district_admin",
        "province_supervisor",
        "province_admin",
        "central_admin",
    ],
    "province_admin": ["reporting_unit", "district_supervisor", "district_admin", "province_supervisor"],
    "district_admin": ["reporting_unit", "district_supervisor"],
}
SIGN_IN_STATES = {"": "Tất cả", "khoa": "Bị khóa tạm (đăng nhập sai nhiều lần)", "chua": "Chưa đăng nhập lần nào"}
SUPERVISORS = ("district_supervisor", "province_supervisor")


def _roles(session: Session) -> list[tuple[str, str]]:
    return [(r, ROLES[r]) for r in ISSUABLE.get(session.role, [])]


@router.get("/quan-tri/tai-khoan")
async def accounts(
    request: Request,
    q: str = "",
    vai_tro: str = "",
    trang_thai: str = "",
    don_vi: str = "",
    dang_nhap: str = "",
    page: int = 1,
    session: Session = Signed,
) -> Response:
    require_admin(session)
    size = request.app.state.settings.page_size
    params: dict[str, Any] = {"page": max(page, 1), "page_size": size}
    if q.strip():
        params["q"] = q.strip()
    if vai_tro in ROLES:
        params["role"] = vai_tro
    if trang_thai in ("active", "revoked"):
        params["status"] = trang_thai
    if don_vi:
        params["unit"] = don_vi
    if dang_nhap == "khoa":
        params["locked"] = "true"
    elif dang_nhap == "chua":
        params["never_signed_in"] = "true"
    found = await api(request, "accounts", "GET", "/accounts", session=session, params=params)
    unit = await unit_of(request, session, don_vi) if don_vi else None
    return await render(
        request,
        "admin/accounts.html",
        title="Tài khoản",
        items=found["items"],
        total=found["total"],
        page=found["page"],
        pages=pages(found["total"], found["page_size"]),
        q=q,
        vai_tro=vai_tro,
        trang_thai=trang_thai,
        dang_nhap=dang_nhap,
        unit=unit,
        roles=_roles(session),
        sign_in_states=SIGN_IN_STATES,
        base=base_url(
            "/quan-tri/tai-khoan", q=q, vai_tro=vai_tro, trang_thai=trang_thai, don_vi=don_vi, dang_nhap=dang_nhap
        ),
    )


# issuing one ------------------------------------------------------------------------------------
@router.get("/quan-tri/tai-khoan/cap-moi")
async def issue_page(request: Request, don_vi: str = "", session: Session = Signed) -> Response:
    require_admin(session)
    unit = await unit_of(request, session, don_vi or session.unit_id)
    return await render(
        request, "admin/account_issue.html", title="Cấp tài khoản", unit=unit, roles=_roles(session), values={}
    )


@router.post("/quan-tri/tai-khoan/cap-moi")
async def issue(request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    values = {k: str(v).strip() for k, v in (await request.form()).items() if isinstance(v, str)}
    unit = await unit_of(request, session, values.get("unit_id") or session.unit_id)
    errors = {
        k: m
        for k, m in (
            ("username", "Nhập tên đăng nhập"),
            ("display_name", "Nhập tên hiển thị"),
            ("role", "Chọn vai trò"),
        )
        if not values.get(k)
    }
    if not errors:
        issued, errors = await attempt(
            api(
                request,
                "accounts",
                "POST",
                "/accounts",
                session=session,
                json={
                    "username": values["username"],
                    "unit_id": unit["unit_id"],
                    "role": values["role"],
                    "display_name": values["display_name"],
                    "email": values.get("email") or None,
                },
            ),
            {"username": "username", "display_name": "display_name", "role": "role", "email": "email"},
            "username",
        )
        if not errors:
            return await _password_once(request, issued, unit, "issued")
    return await render(
        request,
        "admin/account_issue.html",
        422,
        title="Cấp tài khoản",
        unit=unit,
        roles=_roles(session),
        values=values,
        errors=errors,
    )


async def _password_once(request: Request, issued: dict[str, Any], unit: dict[str, Any], why: str) -> Response:
    """The page that shows a new initial password, the only time it is shown."""
    return await render(
        request, "admin/password_once.html", title="Mật khẩu ban đầu", issued=issued, unit=unit, why=why
    )


# one account ------------------------------------------------------------------------------------
async def _account(request: Request, session: Session, aid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    account = await api(request, "accounts", "GET", f"/accounts/{quote(aid)}", session=session)
    return account, await unit_of(request, session, account["unit_id"])


@router.get("/quan-tri/tai-khoan/{aid}")
async def account_page(aid: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    account, unit = await _account(request, session, aid)
    return await render(
        request,
        "admin/account.html",
        title=account["username"],
        account=account,
        unit=unit,
        supervisor=account["role"] in SUPERVISORS,
        done=request.query_params.get("da_luu"),
        mine=aid == session.account_id,
    )


ACTIONS = {
    "cap-lai-mat-khau": (
        "reset-password",
        "Cấp lại mật khẩu",
        "Cấp lại mật khẩu",
        "Mật khẩu hiện tại của tài khoản hết hiệu lực ngay; người dùng đăng nhập bằng mật khẩu mới "
        "và phải đổi nó ở lần đăng nhập đầu.",
    ),
    "mo-khoa": (
        "unlock",
        "Mở khóa đăng nhập",
        "Mở khóa và cấp mật khẩu mới",
        "Tài khoản đăng nhập được lại ngay, bằng một mật khẩu mới: mật khẩu cũ là thứ các lần thử sai "
        "nhắm tới, nên không dùng tiếp.",
    ),
    "thu-hoi": (
        "revoke",
        "Thu hồi tài khoản",
        "Thu hồi tài khoản",
        "Tài khoản không đăng nhập được nữa và mọi phiên đang mở của nó chấm dứt ngay. Không hoàn tác được.",
    ),
}


@router.get("/quan-tri/tai-khoan/{aid}/{action}")
async def action_page(
    aid: str, action: str, request: Request, q: str = "", don_vi: str = "", session: Session = Signed
) -> Response:
    require_admin(session)
    account, unit = await _account(request, session, aid)
    if action == "doi-vai-tro":
        return await render(
            request,
            "admin/account_role.html",
            title="Đổi vai trò",
            account=account,
            unit=unit,
            roles=[r for r in _roles(session) if r[0] != account["role"]],
            values={},
        )
    if action == "giao-don-vi":
        return await _assign_page(request, session, account, unit, q, don_vi, {})
    if action not in ACTIONS:
        raise ApiError(404, "not_found", "Không có thao tác này")
    _, title, button, explain = ACTIONS[action]
    return await render(
        request,
        "admin/account_action.html",
        title=title,
        account=account,
        unit=unit,
        action=action,
        button=button,
        explain=explain,
        values={},
    )


@router.post("/quan-tri/tai-khoan/{aid}/{action}")
async def act(aid: str, action: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    account, unit = await _account(request, session, aid)
    if action == "giao-don-vi":
        return await _assign(request, session, account, unit, form)
    if action == "doi-vai-tro":
        errors = {
            k: m for k, m in (("role", "Chọn vai trò mới"), ("reason", "Ghi lý do đổi vai trò")) if not values.get(k)
        }
        if not errors:
            _, errors = await attempt(
                api(
                    request,
                    "accounts",
                    "PUT",
                    f"/accounts/{quote(aid)}/role",
                    session=session,
                    json={"role": values["role"], "reason": values["reason"]},
                ),
                {"role": "role", "reason": "reason"},
                "role",
            )
            if not errors:
                return redirect(f"/quan-tri/tai-khoan/{quote(aid)}?da_luu=doi-vai-tro")
        return await render(
            request,
            "admin/account_role.html",
            422,
            title="Đổi vai trò",
            account=account,
            unit=unit,
            roles=[r for r in _roles(session) if r[0] != account["role"]],
            values=values,
            errors=errors,
        )
    if action not in ACTIONS:
        raise ApiError(404, "not_found", "Không có thao tác này")
    path, title, button, explain = ACTIONS[action]
    errors = {} if values.get("reason") else {"reason": "Ghi lý do"}
    if not errors:
        done, errors = await attempt(
            api(
                request,
                "accounts",
                "POST",
                f"/accounts/{quote(aid)}/{path}",
                session=session,
                json={"reason": values["reason"]},
            ),
            {"reason": "reason"},
            "reason",
        )
        if not errors:
            if action == "thu-hoi":
                return redirect(f"/quan-tri/tai-khoan/{quote(aid)}?da_luu=thu-hoi")
            return await _password_once(request, done, unit, action)
    return await render(
        request,
        "admin/account_action.html",
        422,
        title=title,
        account=account,
        unit=unit,
        action=action,
        button=button,
        explain=explain,
        values=values,
        errors=errors,
    )


# a supervisor's units, picked from the tree ------------------------------------------------------
async def _subtree(request: Request, session: Session, area: str) -> dict[str, dict[str, Any]]:
    """Every unit under the supervisor's own (500 a page), to name its assigned units."""
    first = await api(request, "accounts", "GET", "/units", session=session, params={"area": area, "page_size": 500})
    found = list(first["items"])
    more = [
        api(request, "accounts", "GET", "/units", session=session, params={"area": area, "page_size": 500, "page": p})
        for p in range(2, pages(first["total"], 500) + 1)
    ]
    for page in await asyncio.gather(*more):
        found += page["items"]
    return {u["unit_id"]: u for u in rows(found)}


async def _assign_page(
    request: Request,
    session: Session,
    account: dict[str, Any],
    unit: dict[str, Any],
    q: str,
    browse: str,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    if account["role"] not in SUPERVISORS:
        raise ApiError(404, "not_found", "Chỉ giao đơn vị cho giám sát viên")
    area = await _subtree(request, session, unit["unit_id"])
    here = area.get(browse) or unit
    if q.strip():
        needle = q.strip().lower()
        shown = [u for u in area.values() if needle in u["code"].lower() or needle in u["name"].lower()][:100]
    else:
        shown = [u for u in area.values() if u["parent_id"] == here["unit_id"]]
    shown.sort(key=lambda u: u["code"])
    assigned = [area[u] for u in account["assigned_units"] if u in area]
    path = ([unit] if here is not unit else []) + [area[u] for u in here.get("path", []) if u in area]
    return await render(
        request,
        "admin/account_assign.html",
        status,
        title="Giao đơn vị cho giám sát viên",
        account=account,
        unit=unit,
        current=here,
        trail=path,
        shown=shown,
        assigned=assigned,
        q=q,
        errors=errors,
        levels=UNIT_LEVELS,
    )


async def _assign(
    request: Request, session: Session, account: dict[str, Any], unit: dict[str, Any], form: Any
) -> Response:
    """The whole set: those kept from the assigned list, plus those ticked among the units shown."""
    kept = {str(v) for v in form.getlist("keep")}
    shown = {str(v) for v in form.getlist("shown")}
    ticked = {str(v) for v in form.getlist("unit")}
    units = sorted((kept - shown) | ticked)
    _, refused = await refusal(
        api(
            request,
            "accounts",
            "PUT",
            f"/accounts/{quote(account['account_id'])}/assignments",
            session=session,
            json={"unit_ids": units},
        )
    )
    if refused is not None:
        return await _assign_page(
            request,
            session,
            account,
            unit,
            str(form.get("q", "")),
            str(form.get("don_vi", "")),
            {"unit": refused.message},
            422,
        )
    return redirect(f"/quan-tri/tai-khoan/{quote(account['account_id'])}?da_luu=giao-don-vi")
