"""Journey 1: sign in, change the issued password at first sign-in, sign out; and signing in
again after the session expired, back to the page with what was typed kept."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render, safe_next
from ..clients import ApiError

router = APIRouter()

REASONS = {
    "het-han": "Phiên đăng nhập đã hết hạn. Hãy đăng nhập lại để tiếp tục.",
    "da-dang-xuat": "Bạn đã đăng xuất.",
}
PASSWORD_RULES = [
    "Có ít nhất 10 ký tự.",
    "Có ít nhất 3 trong 4 loại ký tự: chữ thường, chữ hoa, chữ số, ký tự đặc biệt (ví dụ ! @ # -).",
    "Khác mật khẩu được cấp.",
]
# Posted values carried through sign-in: which pages may have a save replayed after it.
REPLAYABLE: dict[str, Any] = {}


@router.get("/dang-nhap")
async def sign_in_page(request: Request, next: str | None = None, ly_do: str | None = None) -> Response:
    return await render(
        request, "signin.html", title="Đăng nhập", next=safe_next(next), notice=REASONS.get(ly_do or ""), username=""
    )


@router.post("/dang-nhap")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    pending = str(form.get("pending", "")) or None
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = "Nhập tên đăng nhập"
    if not password:
        errors["password"] = "Nhập mật khẩu"
    if not errors:
        try:
            token = await api(
                request, "accounts", "POST", "/auth/token", json={"username": username, "password": password}
            )
        except ApiError as refused:
            # Accounts words the refusal (a wrong password, a locked or revoked account): shown as it says.
            errors["password"] = refused.message if refused.status < 500 else "Hệ thống chưa đăng nhập được"
        else:
            session = await _session(request, token["access_token"])
            if session.password_change:
                # Typed values carried through sign-in wait for the password change too.
                response = redirect(
                    "/doi-mat-khau?" + urlencode({"next": target, **({"pending": pending} if pending else {})})
                )
            else:
                response = await _after_sign_in(request, session, target, pending)
            shared.store_session(request, response, session)
            return response
    return await render(
        request,
        "signin.html",
        200 if not errors else 422,
        title="Đăng nhập",
        next=target,
        username=username,
        errors=errors,
        pending=pending,
        notice=REASONS["het-han"] if pending else None,
    )


async def sign_in_again(request: Request) -> Response:
    """A save posted after the session expired: the sign-in page, with the values carried sealed
    (the browser cannot read or change them) to be saved once the person has signed in."""
    form = await request.form()
    values = [(k, v) for k, v in form.multi_items() if isinstance(v, str) and k != shared.CSRF_FIELD]
    here = request.url.path
    pending = shared.sealer(request).seal({"path": here, "form": values}, "pending")
    request.state.session = None  # the page is for someone signed out: no name, no menu
    # Back to the page the form was on (its Referer, from this site only), or the form's own address.
    back = urlsplit(request.headers.get("referer", ""))
    target = (
        safe_next(back.path + (f"?{back.query}" if back.query else "")) if back.netloc == request.url.netloc else here
    )
    response = await render(
        request,
        "signin.html",
        401,
        title="Đăng nhập",
        next=target,
        username="",
        pending=pending,
        notice="Phiên đăng nhập đã hết hạn. Hãy đăng nhập lại: những gì bạn vừa nhập sẽ được lưu ngay sau đó.",
    )
    shared.end_session(request, response)
    return response


async def _after_sign_in(request: Request, session: Session, target: str, pending: str | None) -> Response:
    carried = shared.sealer(request).open(pending, "pending") if pending else None
    if isinstance(carried, dict):
        for prefix, replay in REPLAYABLE.items():
            if carried.get("path", "").startswith(prefix):
                request.state.session = session
                try:
                    return await replay(request, session, carried["path"], carried.get("form", []))
                except ApiError:
                    break  # e.g. the campaign closed meanwhile: signed in all the same, on the page

    return redirect(target)


async def _session(request: Request, token: str) -> Session:
    session = Session.from_token(token)
    session.started_at = time.time()
    if not session.password_change:
        await _describe(request, session)
    return session


async def _describe(request: Request, session: Session) -> None:
    """The name and unit shown in the header, read once at sign-in."""
    try:
        me = await api(request, "accounts", "GET", f"/accounts/{session.account_id}", session=session)
        unit = await api(request, "accounts", "GET", f"/units/{session.unit_id}", session=session)
        session.display_name, session.unit_name = me["display_name"], unit["name"]
    except ApiError:
        pass


@router.get("/doi-mat-khau")
async def password_page(request: Request, next: str | None = None, pending: str | None = None) -> Response:
    session = shared.read_session(request)
    if session is None:
        raise shared.NotSignedIn()
    return await render(
        request,
        "password.html",
        title="Đổi mật khẩu",
        rules=PASSWORD_RULES,
        next=safe_next(next),
        forced=session.password_change,
        pending=pending,
    )


@router.post("/doi-mat-khau")
async def change_password(request: Request) -> Response:
    session = shared.read_session(request)
    if session is None:
        raise shared.NotSignedIn()
    form = await request.form()
    current, new, again = (str(form.get(k, "")) for k in ("current_password", "new_password", "confirm_password"))
    target = safe_next(str(form.get("next", "/")))
    pending = str(form.get("pending", "")) or None
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Nhập mật khẩu hiện tại"
    if not new:
        errors["new_password"] = "Nhập mật khẩu mới"
    elif new != again:
        errors["confirm_password"] = "Mật khẩu nhập lại không khớp với mật khẩu mới"
    if not errors:
        try:
            token = await api(
                request,
                "accounts",
                "POST",
                "/auth/password",
                session=session,
                json={"current_password": current, "new_password": new},
            )
        except ApiError as refused:
            field = "current_password" if refused.code == "invalid_credentials" else "new_password"
            errors[field] = refused.message
        else:
            fresh = await _session(request, token["access_token"])
            response = await _after_sign_in(request, fresh, target, pending)
            shared.store_session(request, response, fresh)
            return response
    return await render(
        request,
        "password.html",
        422,
        title="Đổi mật khẩu",
        rules=PASSWORD_RULES,
        next=target,
        forced=session.password_change,
        errors=errors,
        pending=pending,
    )


@router.post("/dang-xuat")
async def sign_out(request: Request) -> Response:
    response = redirect("/dang-nhap?ly_do=da-dang-xuat")
    shared.end_session(request, response)
    return response
