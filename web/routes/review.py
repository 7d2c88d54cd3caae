"""Journeys 3 and 4, supervisors: the queue of review tasks (filtered, paged), a submission with
its answers and the result of every rule, coding (ghi mã) with the code-list picker, approving or
returning with a reason, and the review trail. A district supervisor approves its units' forms; a
province supervisor confirms what districts approved and the provincial units' forms."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import app as shared
from ..app import Session, api, redirect, render
from ..clients import ApiError
from ..format import TASK_STATUS
from ..pages import refusal
from .unit import definition_of

router = APIRouter()
Signed = Depends(shared.signed_in)

# The reasons supervisors give most often (seed 001's checks); the free text says the rest.
COMMON_REASONS = [
    "Số liệu lao động không khớp (tổng số phải bằng biên chế cộng hợp đồng)",
    "Thiếu thông tin bắt buộc",
    "Mã ngành kinh tế hoặc mã sản phẩm chưa đúng",
    "Số liệu tinh giản biên chế không khớp giữa các năm",
    "Thông tin tài sản, đất đai chưa đúng với sổ kế toán",
]
STATES = {"open": "Chờ duyệt", "approved": "Đã duyệt", "returned": "Đã trả lại", "all": "Tất cả"}


def _supervisor(session: Session) -> None:
    if not session.is_supervisor:
        raise ApiError(404, "not_found", "Trang này dành cho giám sát viên")


@router.get("/duyet")
async def queue(
    request: Request, status: str = "open", unit: str = "", late: str = "", page: int = 1, session: Session = Signed
) -> Response:
    _supervisor(session)
    status = status if status in STATES else "open"
    params: dict[str, Any] = {"status": status, "page": max(page, 1), "page_size": request.app.state.settings.page_size}
    if unit.strip():
        params["unit"] = unit.strip()
    if late in ("true", "false"):
        params["late"] = late
    found = await api(request, "approvals", "GET", "/queue", session=session, params=params)
    pages = max(1, math.ceil(found["total"] / found["page_size"]))
    query = urlencode({k: v for k, v in (("status", status), ("unit", unit), ("late", late)) if v})
    rows = [
        {
            **t,
            "status_label": TASK_STATUS.get(t["status"], (t["status"], ""))[0],
            "status_css": TASK_STATUS.get(t["status"], ("", "govuk-tag--grey"))[1],
        }
        for t in found["items"]
    ]
    return await render(
        request,
        "review/queue.html",
        title="Phiếu chờ duyệt",
        tasks=rows,
        total=found["total"],
        page=found["page"],
        pages=pages,
        base=f"/duyet?{query}&" if query else "/duyet?",
        status=status,
        unit=unit,
        late=late,
        states=STATES,
    )


async def _task(request: Request, session: Session, task_id: str) -> dict[str, Any]:
    task = await api(request, "approvals", "GET", f"/tasks/{quote(task_id)}", session=session)
    sid = quote(task["submission_id"])
    # What does not depend on each other is asked at once.
    sub, checks, trail, unit = await asyncio.gather(
        api(request, "forms", "GET", f"/submissions/{sid}", session=session),
        api(request, "forms", "GET", f"/submissions/{sid}/checks", session=session),
        api(request, "approvals", "GET", f"/submissions/{sid}/reviews", session=session),
        api(request, "accounts", "GET", f"/units/{task['unit_id']}", session=session),
    )
    definition = await definition_of(request, session, sub["form_code"], sub["definition_version"] or 1)
    coding = {c["field"]: c for c in sub.get("coding", [])}
    people = {who for t in [*trail, task] for who in (t.get("decided_by"), t.get("claimed_by")) if who}
    people |= {c["by"] for c in coding.values() if c.get("by")}
    found = await asyncio.gather(*(_name(request, session, who) for who in people))
    names = dict(zip(people, found, strict=True))
    return {
        "task": task,
        "submission": sub,
        "checks": checks,
        "definition": definition,
        "trail": trail,
        "unit": unit,
        "names": names,
        "coding": coding,
        "field_errors": {e["field"]: e["message"] for e in checks["field_errors"]},
    }


async def _name(request: Request, session: Session, account_id: str) -> str:
    try:
        card = await api(request, "accounts", "GET", f"/accounts/{account_id}/card", session=session)
        return f"{card['display_name']} ({card['unit_name']})"
    except ApiError:
        return "một tài khoản khác"


@router.get("/duyet/{task_id}")
async def task_page(task_id: str, request: Request, session: Session = Signed) -> Response:
    _supervisor(session)
    ctx = await _task(request, session, task_id)
    return await render(
        request,
        "review/task.html",
        title=f"Phiếu của {ctx['unit']['name']}",
        **ctx,
        reasons=COMMON_REASONS,
        decidable=ctx["task"]["status"] == "open",
    )


@router.post("/duyet/{task_id}/nhan")
async def claim(task_id: str, request: Request, session: Session = Signed) -> Response:
    """Take the form up: the unit and those above see it as under review (đang xem xét)."""
    _supervisor(session)
    _, refused = await refusal(
        api(request, "approvals", "POST", f"/tasks/{quote(task_id)}/claim", session=session),
        expected=("already_claimed", "already_decided"),
    )
    if refused is not None:
        ctx = await _task(request, session, task_id)
        return await render(
            request,
            "review/task.html",
            409,
            title=f"Phiếu của {ctx['unit']['name']}",
            **ctx,
            reasons=COMMON_REASONS,
            decidable=ctx["task"]["status"] == "open",
            errors={"claim": refused.message},
        )
    return redirect(f"/duyet/{quote(task_id)}#quyet-dinh")


@router.post("/duyet/{task_id}/quyet-dinh")
async def decide(task_id: str, request: Request, session: Session = Signed) -> Response:
    _supervisor(session)
    form = await request.form()
    decision = str(form.get("decision", ""))
    revision = int(str(form.get("revision") or 0))
    picked = [str(v) for v in form.getlist("reason_common") if str(v) in COMMON_REASONS]
    free = str(form.get("reason", "")).strip()
    errors: dict[str, str] = {}
    if decision not in ("approve", "return"):
        errors["decision"] = "Chọn duyệt phiếu hoặc trả lại phiếu"
    reason = "; ".join([*picked, *([free] if free else [])])
    if decision == "return" and not reason:
        errors["reason"] = "Chọn hoặc ghi lý do trả lại phiếu"
    if not errors:
        path = f"/tasks/{quote(task_id)}/{'approve' if decision == 'approve' else 'return'}"
        body: dict[str, Any] = {"revision": revision, **({"reason": reason} if decision == "return" else {})}
        _, refused = await refusal(
            api(request, "approvals", "POST", path, session=session, json=body),
            expected=("already_decided", "stale_revision", "reason_required"),
        )
        if refused is None:
            return redirect(f"/duyet/{quote(task_id)}?da_quyet_dinh={decision}")
        errors["decision"] = refused.message
    ctx = await _task(request, session, task_id)
    return await render(
        request,
        "review/task.html",
        422,
        title=f"Phiếu của {ctx['unit']['name']}",
        **ctx,
        reasons=COMMON_REASONS,
        decidable=ctx["task"]["status"] == "open",
        errors=errors,
        picked=picked,
        free=free,
        decision=decision,
    )


@router.post("/duyet/{task_id}/ghi-ma")
async def code_answer(task_id: str, request: Request, session: Session = Signed) -> Response:
    _supervisor(session)
    form = await request.form()
    field, code = str(form.get("field", "")), str(form.get("code", "")).strip()
    task = await api(request, "approvals", "GET", f"/tasks/{quote(task_id)}", session=session)
    errors: dict[str, str] = {}
    if not code:
        errors[f"code-{field}"] = "Nhập mã"
    else:
        try:
            await api(
                request,
                "forms",
                "PUT",
                f"/submissions/{quote(task['submission_id'])}/coding",
                session=session,
                json={"field": field, "code": code},
            )
        except ApiError as refused:
            errors[f"code-{field}"] = refused.errors[0]["message"] if refused.errors else refused.message
        else:
            return redirect(f"/duyet/{quote(task_id)}?da_ghi_ma={quote(field)}#ghi-ma")
    ctx = await _task(request, session, task_id)
    return await render(
        request,
        "review/task.html",
        422,
        title=f"Phiếu của {ctx['unit']['name']}",
        **ctx,
        reasons=COMMON_REASONS,
        decidable=ctx["task"]["status"] == "open",
        errors=errors,
        typed_codes={field: code},
    )
