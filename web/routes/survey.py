"""The PAR Index survey's respondent pages: the questionnaire an e-mailed link opens, in any
browser, without an account. Forms keeps the survey and checks the answers (its JSON API at
/s/{token}); this page passes on the respondent's address, browser and, if someone is signed in
here, their token, so forms' tamper checks see the respondent, not the web front."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import app as shared
from ..answers import shown, typed
from ..app import api, render
from ..clients import ApiError

router = APIRouter()


def _respondent_headers(request: Request) -> dict[str, str]:
    return {k: v for k in ("user-agent", "accept-language") if (v := request.headers.get(k))}


def _signed_in(request: Request) -> shared.Session | None:
    session = shared.read_session(request)
    return session if session is not None and not session.expired else None


async def _open(request: Request, token: str) -> dict[str, Any] | Response:
    try:
        return await api(
            request, "forms", "GET", f"/s/{token}", session=_signed_in(request), headers=_respondent_headers(request)
        )
    except ApiError as refused:
        return await _message(request, "Đường dẫn không hợp lệ", refused.message, refused.status)


async def _message(request: Request, title: str, message: str, status: int = 200) -> Response:
    return await render(request, "survey/message.html", status, title=title, message=message, public=True)


def _page(
    request: Request, found: dict[str, Any], token: str, values: dict[str, str], status: int = 200, **extra: Any
) -> Any:
    definition = found["questionnaire"]
    return render(
        request,
        "survey/questionnaire.html",
        status,
        title=found["title"],
        survey=found,
        definition=definition,
        token=token,
        values=values,
        deadline=date.fromisoformat(found["answer_deadline"]),
        public=True,
        **extra,
    )


@router.get("/s/{token}")
async def questionnaire(token: str, request: Request) -> Response:
    found = await _open(request, token)
    if isinstance(found, Response):
        return found
    fields = {f["code"]: f for s in found["questionnaire"]["sections"] for f in s["fields"]}
    values = {code: shown(fields[code], v) for code, v in (found.get("saved_answers") or {}).items() if code in fields}
    return await _page(request, found, token, values)


@router.post("/s/{token}")
async def answer(token: str, request: Request) -> Response:
    found = await _open(request, token)
    if isinstance(found, Response):
        return found
    form = await request.form()
    fields = {f["code"]: f for s in found["questionnaire"]["sections"] for f in s["fields"]}
    values = {code: str(form.get(code, "")) for code in fields}
    answers = {code: typed(fields[code], text) for code, text in values.items() if text.strip()}
    draft = form.get("action") == "draft"
    try:
        if draft:
            await api(
                request,
                "forms",
                "PUT",
                f"/s/{token}/draft",
                json={"answers": answers},
                headers=_respondent_headers(request),
            )
        else:
            await api(
                request,
                "forms",
                "POST",
                f"/s/{token}",
                json={"answers": answers},
                session=_signed_in(request),
                headers=_respondent_headers(request),
            )
    except ApiError as refused:
        if refused.code == "answers_invalid":
            errors = {e["field"]: e["message"] for e in refused.errors}
            return await _page(request, found, token, values, 422, errors=errors, notice=refused.message)
        return await _message(request, "Không gửi được phiếu", refused.message, refused.status)
    if draft:
        return await _page(
            request,
            found,
            token,
            values,
            notice="Đã lưu tạm các câu trả lời. Ông/bà có thể quay lại đường dẫn này để trả lời tiếp.",
        )
    return await _message(
        request,
        "Đã nhận phiếu khảo sát",
        "Trân trọng cảm ơn ông/bà đã trả lời phiếu khảo sát. "
        "Câu trả lời đã được ghi nhận và lưu riêng, không kèm "
        "thông tin cá nhân.",
    )
