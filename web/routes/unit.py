"""Journey 2, the reporting unit: its campaigns, its form section by section (each field checked
by forms as soon as it is left, drafts saved as it types), check your answers, submit, the
confirmation; a returned form revised and sent again; the revision history. And the home page of
every role."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from chassis.clock import today_in_vietnam

from .. import app as shared
from ..answers import from_form, section_applies, section_state, shown, typed
from ..app import Session, api, redirect, render
from ..clients import ApiError
from ..format import SUBMISSION_STATUS, field_id, working_days_left
from ..pages import refusal
from . import signin

router = APIRouter()
Signed = Depends(shared.signed_in)


# home --------------------------------------------------------------------------------------
@router.get("/")
async def home(request: Request, session: Session = Signed) -> Response:
    if session.is_unit:
        # A ministry's focal point holds its unit's account: its survey lists are on its home page.
        found, surveys = await asyncio.gather(
            api(request, "forms", "GET", f"/units/{session.unit_id}/campaigns", session=session),
            api(request, "forms", "GET", "/surveys", session=session),
        )
        rows = [_campaign_row(c) for c in found["items"]]
        today = today_in_vietnam().isoformat()
        return await render(
            request,
            "home_unit.html",
            title="Trang chủ",
            campaigns=[c for c in rows if c["opens_on"] <= today <= c["closes_on"]],
            closed=[c for c in rows if not c["opens_on"] <= today <= c["closes_on"]],
            surveys=[s for s in surveys if s["my_lists"]],
        )
    campaigns = await api(request, "forms", "GET", "/campaigns", session=session)
    queue = None
    if session.is_supervisor:
        queue = await api(request, "approvals", "GET", "/queue", session=session, params={"page_size": 1})
    return await render(request, "home.html", title="Trang chủ", campaigns=campaigns["items"], queue=queue)


def _campaign_row(c: dict[str, Any]) -> dict[str, Any]:
    sub = c.get("submission") or {}
    label, css = SUBMISSION_STATUS.get(sub.get("status"), SUBMISSION_STATUS[None])
    return {**c, "status_label": label, "status_css": css, "days_left": working_days_left(c["deadline"])}


# the form ----------------------------------------------------------------------------------
async def _context(request: Request, session: Session, cid: str) -> dict[str, Any]:
    """The campaign as the unit sees it (deadline, status), its submission, and the definition."""
    if not session.is_unit:
        raise ApiError(404, "not_found", "Trang này dành cho đơn vị cung cấp thông tin")
    found = await api(
        request, "forms", "GET", f"/units/{session.unit_id}/campaigns", session=session, params={"page_size": 200}
    )
    row = next((c for c in found["items"] if c["campaign_id"] == cid), None)
    if row is None:
        raise ApiError(404, "not_found", "Không có đợt thu thập này trong các đợt của đơn vị")
    sub = None
    if row.get("submission"):
        sub = await api(
            request, "forms", "GET", f"/submissions/{quote(row['submission']['submission_id'])}", session=session
        )
    version = (sub or {}).get("definition_version") or None
    definition = await definition_of(request, session, row["form_code"], version)
    return {
        "campaign": _campaign_row(row),
        "submission": sub,
        "definition": definition,
        "answers": (sub or {}).get("answers", {}),
        "version": (sub or {}).get("version", 0),
    }


async def definition_of(request: Request, session: Session, form_code: str, version: int | None) -> dict[str, Any]:
    # Published versions never change: kept in memory once read.
    cache: dict[tuple[str, int | None], Any] = request.app.state._state.setdefault("definitions", {})
    if version is not None and (form_code, version) in cache:
        return cache[(form_code, version)]
    params = {"form_code": form_code, **({"version": version} if version else {})}
    definition = await api(request, "forms", "GET", "/definitions", session=session, params=params)
    cache[(form_code, definition["version"])] = definition
    return definition


def _editable(sub: dict[str, Any] | None) -> bool:
    return sub is None or sub["status"] in ("draft", "returned")


async def _reviewer_name(request: Request, session: Session, account_id: str | None) -> str | None:
    if not account_id:
        return None
    try:
        card = await api(request, "accounts", "GET", f"/accounts/{account_id}/card", session=session)
        return f"{card['display_name']} ({card['unit_name']})"
    except ApiError:
        return None


@router.get("/dot/{cid}")
async def overview(cid: str, request: Request, session: Session = Signed) -> Response:
    ctx = await _context(request, session, cid)
    sub, answers = ctx["submission"], ctx["answers"]
    sections = [{**s, "state": section_state(s, answers)} for s in ctx["definition"]["sections"]]
    returned = None
    if sub and sub["status"] == "returned":
        last: dict[str, Any] = next((h for h in reversed(sub["history"]) if h["action"] == "returned"), {})
        returned = {
            "reason": sub["return_reason"],
            "by": await _reviewer_name(request, session, last.get("by")),
            "at": last.get("at"),
        }
    return await render(
        request,
        "form/overview.html",
        title=ctx["definition"]["title"],
        **ctx,
        sections=sections,
        editable=_editable(sub),
        returned=returned,
    )


def _section(definition: dict[str, Any], code: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    sections = definition["sections"]
    for i, s in enumerate(sections):
        if s["code"] == code:
            return s, sections[i + 1] if i + 1 < len(sections) else None
    raise ApiError(404, "not_found", "Phiếu không có mục này")


@router.get("/dot/{cid}/muc/{code}")
async def section_page(cid: str, code: str, request: Request, session: Session = Signed) -> Response:
    ctx = await _context(request, session, cid)
    if not _editable(ctx["submission"]):
        return redirect(f"/dot/{cid}")
    section, _ = _section(ctx["definition"], code)
    values = {f["code"]: shown(f, ctx["answers"].get(f["code"])) for f in section["fields"]}
    return await render(request, "form/section.html", title=section["title"], **ctx, section=section, values=values)


@router.post("/dot/{cid}/muc/{code}")
async def save_section(cid: str, code: str, request: Request, session: Session = Signed) -> Response:
    form = await request.form()
    posted = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return await _save(request, session, cid, code, posted, autosave=bool(request.headers.get("HX-Request")))


async def _save(
    request: Request,
    session: Session,
    cid: str,
    code: str,
    posted: dict[str, str],
    *,
    autosave: bool = False,
    replayed: bool = False,
) -> Response:
    ctx = await _context(request, session, cid)
    section, following = _section(ctx["definition"], code)
    values = {f["code"]: posted.get(f["code"], "") for f in section["fields"]}
    if not _editable(ctx["submission"]):
        return await _section_again(
            request,
            ctx,
            section,
            values,
            409,
            notice=(
                "Phiếu đã được gửi nên không sửa được nữa. Những gì bạn vừa nhập vẫn hiện dưới đây để bạn đối chiếu."
            ),
        )
    given, blank = from_form(section, posted)
    answers = {k: v for k, v in ctx["answers"].items() if k not in blank} | given
    expected = int(posted.get("version") or 0)
    if replayed:
        expected = ctx["version"]  # saved after signing in again: onto what is stored now
    if expected != ctx["version"]:
        return await _stale(request, ctx, section, values, autosave)
    errors: dict[str, str] = {}
    body = {
        "campaign_id": cid,
        "form_code": ctx["campaign"]["form_code"],
        "unit_id": session.unit_id,
        "answers": answers,
        "expected_version": expected,
    }
    saved, refused = await refusal(
        api(request, "forms", "PUT", "/submissions/draft", session=session, json=body),
        expected=("stale_version", "answers_invalid"),
    )
    if refused is not None:
        if refused.code == "stale_version":
            return await _stale(request, ctx, section, values, autosave)
        errors = {e["field"]: e["message"] for e in refused.errors}
        # Keep what can be kept: everything but the answers forms refused, which stay on the page.
        body["answers"] = {k: v for k, v in answers.items() if k not in errors}
        saved = await api(request, "forms", "PUT", "/submissions/draft", session=session, json=body)
    ctx["version"] = saved["version"]
    if autosave:
        return await render(request, "partials/saved.html", partial=True, version=saved["version"], failed=len(errors))
    action = posted.get("action", "continue")
    if errors:
        return await _section_again(request, ctx, section, values, 422, errors=errors)
    if action == "stay" or replayed:
        return redirect(f"/dot/{cid}/muc/{code}?da_luu=1")
    nxt = following
    while nxt is not None and not section_applies(nxt, saved["answers"]):
        nxt = _section(ctx["definition"], nxt["code"])[1]
    return redirect(f"/dot/{cid}/muc/{nxt['code']}" if nxt else f"/dot/{cid}/kiem-tra")


async def _stale(
    request: Request, ctx: dict[str, Any], section: dict[str, Any], values: dict[str, str], autosave: bool
) -> Response:
    notice = (
        "Phiếu vừa được lưu ở một cửa sổ hoặc máy khác nên bản trên trang này đã cũ. Những gì bạn vừa nhập "
        "vẫn còn dưới đây nhưng chưa được lưu: hãy đối chiếu, rồi bấm “Lưu bản này” để ghi đè, hoặc "
        "tải lại trang để xem bản đã lưu."
    )
    if autosave:
        return await render(request, "partials/saved.html", partial=True, stale=notice, version=None, failed=0)
    return await _section_again(request, ctx, section, values, 409, notice=notice, stale=True)


async def _section_again(
    request: Request, ctx: dict[str, Any], section: dict[str, Any], values: dict[str, str], status: int, **extra: Any
) -> Response:
    return await render(
        request, "form/section.html", status, title=section["title"], **ctx, section=section, values=values, **extra
    )


async def _replay(request: Request, session: Session, path: str, form: list[list[str]]) -> Response:
    """A section's save posted while the session had expired, done now that it is signed in again."""
    parts = path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "dot" and parts[2] == "muc":
        posted = {k: v for k, v in form}
        return await _save(request, session, parts[1], parts[3], posted, replayed=True)
    return redirect(path)


signin.REPLAYABLE["/dot/"] = _replay


@router.post("/dot/{cid}/o/{field}")
async def check_field(cid: str, field: str, request: Request, session: Session = Signed) -> Response:
    """A field just left: forms' rule engine checks it; the answer is its error slot."""
    ctx = await _context(request, session, cid)
    form = await request.form()
    target = next((f for s in ctx["definition"]["sections"] for f in s["fields"] if f["code"] == field), None)
    if target is None:
        raise ApiError(404, "not_found", "Phiếu không có câu hỏi này")
    text = str(form.get(field, ""))
    message = None
    if text.strip():
        result = await api(
            request,
            "forms",
            "POST",
            "/submissions/validate",
            session=session,
            json={
                "campaign_id": cid,
                "form_code": ctx["campaign"]["form_code"],
                "unit_id": session.unit_id,
                "answers": {field: typed(target, text)},
            },
        )
        message = next((e["message"] for e in result["errors"] if e["field"] == field), None)
    return await render(request, "partials/field.html", partial=True, field=target, value=text, error=message, cid=cid)


# check your answers, submit, confirmation ----------------------------------------------------
@router.get("/dot/{cid}/kiem-tra")
async def check_answers(cid: str, request: Request, session: Session = Signed) -> Response:
    ctx = await _context(request, session, cid)
    if not _editable(ctx["submission"]):
        return redirect(f"/dot/{cid}")
    result = await api(
        request,
        "forms",
        "POST",
        "/submissions/validate",
        session=session,
        json={
            "campaign_id": cid,
            "form_code": ctx["campaign"]["form_code"],
            "unit_id": session.unit_id,
            "answers": ctx["answers"],
            "complete": True,
        },
    )
    where = {f["code"]: s["code"] for s in ctx["definition"]["sections"] for f in s["fields"]}
    errors = {e["field"]: e["message"] for e in result["errors"]}
    hrefs = {f: f"/dot/{cid}/muc/{where.get(f, '')}#{field_id(f)}" for f in errors}
    return await render(request, "form/check.html", title="Kiểm tra trước khi gửi", **ctx, errors=errors, hrefs=hrefs)


@router.post("/dot/{cid}/gui")
async def submit(cid: str, request: Request, session: Session = Signed) -> Response:
    form = await request.form()
    ctx = await _context(request, session, cid)
    sub = ctx["submission"]
    expected = int(str(form.get("version") or 0))
    if sub is not None and sub["status"] in ("submitted", "approved") and expected < sub["version"]:
        # The second click of a double click (or a resent form): the first one was stored.
        return redirect(f"/dot/{cid}/da-gui")
    _, refused = await refusal(
        api(
            request,
            "forms",
            "POST",
            "/submissions",
            session=session,
            json={
                "campaign_id": cid,
                "form_code": ctx["campaign"]["form_code"],
                "unit_id": session.unit_id,
                "answers": ctx["answers"],
                "expected_version": expected,
            },
        ),
        expected=("already_submitted", "stale_version", "answers_invalid"),
    )
    if refused is None:
        return redirect(f"/dot/{cid}/da-gui")
    if refused.code == "answers_invalid":
        return redirect(f"/dot/{cid}/kiem-tra")
    # Already submitted or changed elsewhere: where the stored form now stands says which page.
    fresh = await _context(request, session, cid)
    if fresh["submission"] and fresh["submission"]["status"] == "submitted":
        return redirect(f"/dot/{cid}/da-gui")
    return redirect(f"/dot/{cid}/kiem-tra")


@router.get("/dot/{cid}/da-gui")
async def confirmation(cid: str, request: Request, session: Session = Signed) -> Response:
    ctx = await _context(request, session, cid)
    if ctx["submission"] is None or ctx["submission"]["status"] not in ("submitted", "approved"):
        return redirect(f"/dot/{cid}")
    return await render(request, "form/done.html", title="Đã gửi phiếu", **ctx)


@router.get("/dot/{cid}/lich-su")
async def history(cid: str, request: Request, session: Session = Signed) -> Response:
    ctx = await _context(request, session, cid)
    entries = []
    for h in reversed((ctx["submission"] or {}).get("history", [])):
        who = (
            session.display_name
            if h.get("by") == session.account_id
            else await _reviewer_name(request, session, h.get("by"))
        )
        entries.append({**h, "who": who})
    return await render(request, "form/history.html", title="Lịch sử phiếu", **ctx, entries=entries)


# code lists --------------------------------------------------------------------------------
@router.get("/ma/{name}")
async def code_search(
    name: str, request: Request, q: str = "", level: int | None = None, field: str = "", session: Session = Signed
) -> Response:
    """A code list searched by code or name: options for the field's picker (htmx), or a page of
    results for a browser without script."""
    params: dict[str, Any] = {"q": q.strip()}
    if level is not None:
        params["level"] = level
    found = await api(request, "forms", "GET", f"/codelists/{quote(name)}", session=session, params=params)
    entries = found["entries"][:30] if q.strip() else []
    if request.headers.get("HX-Request"):
        return await render(request, "partials/code_options.html", partial=True, entries=entries, field=field)
    return await render(
        request,
        "codes.html",
        title=f"Tra cứu: {found['title']}",
        entries=entries,
        q=q,
        code_list=found,
        name=name,
        level=level,
    )
