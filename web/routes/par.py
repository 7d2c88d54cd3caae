"""The PAR Index survey (issue 15, group 4; seed 002, decisions 0006 and 0013): the Ministry opens
a survey and follows the lists of every ministry and province; each of them downloads its
template, uploads its respondents, sees the refused rows and why and its counts per group beside
what the seed requires, and sends the list; the Ministry reopens one, dispatches the links,
reviews tamper flags and voids responses with a reason; everyone follows progress per group
(sent, opened, answered), never the answers. Forms keeps all of it and decides who may do what."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from .. import app as shared
from ..app import Session, api, redirect, render
from ..pages import attempt, passed_on, refusal, require_central, vn_day

router = APIRouter()
Signed = Depends(shared.signed_in)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LIST_STATUS = {
    "none": ("Chưa nhập", "govuk-tag--grey"),
    "draft": ("Đang lập", "govuk-tag--light-blue"),
    "submitted": ("Đã gửi Bộ Nội vụ", "govuk-tag--green"),
}
KINDS = {"province": "Tỉnh", "ministry": "Bộ"}
COLUMNS = {
    "full_name": "Họ và tên",
    "email": "Thư điện tử",
    "group": "Nhóm đối tượng",
    "position": "Chức vụ",
    "organisation": "Cơ quan, đơn vị",
}


def _status(lst: dict[str, Any]) -> str:
    return lst["status"] if lst.get("listed", True) or lst["status"] != "draft" else "none"


@router.get("/khao-sat")
async def surveys(request: Request, session: Session = Signed) -> Response:
    found = await api(request, "forms", "GET", "/surveys", session=session)
    return await render(request, "par/surveys.html", title="Khảo sát Chỉ số cải cách hành chính", surveys=found)


# opening one ------------------------------------------------------------------------------------
async def _owners(request: Request, session: Session) -> list[dict[str, Any]]:
    """Who may be surveyed: the provinces, and the ministries (agencies directly under the Ministry)."""
    found = await api(
        request,
        "accounts",
        "GET",
        "/units",
        session=session,
        params={"parent": "root", "status": "active", "page_size": 500},
    )
    return [
        {**u, "kind": "province" if u["level"] == "province" else "ministry"}
        for u in found["items"]
        if u["level"] in ("province", "agency")
    ]


async def _open_page(
    request: Request, session: Session, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    return await render(
        request,
        "par/open.html",
        status,
        title="Mở cuộc khảo sát",
        owners=await _owners(request, session),
        values=values,
        errors=errors,
        kinds=KINDS,
    )


@router.get("/khao-sat/mo")
async def open_page(request: Request, session: Session = Signed) -> Response:
    require_central(session)
    return await _open_page(request, session, {"owners": []}, {})


@router.post("/khao-sat/mo")
async def open_survey(request: Request, session: Session = Signed) -> Response:
    require_central(session)
    form = await request.form()
    values: dict[str, Any] = {
        k: str(form.get(k, "")).strip() for k in ("survey_id", "title", "list_deadline", "answer_deadline")
    }
    values["owners"] = [str(v) for v in form.getlist("owners")]
    errors = {
        k: m
        for k, m in (
            ("survey_id", "Nhập mã cuộc khảo sát"),
            ("title", "Nhập tên cuộc khảo sát"),
            ("list_deadline", "Nhập hạn gửi danh sách"),
            ("answer_deadline", "Nhập hạn trả lời phiếu"),
        )
        if not values[k]
    }
    if not values["owners"]:
        errors["owners"] = "Chọn ít nhất một bộ hoặc một tỉnh"
    days = {}
    for key in ("list_deadline", "answer_deadline"):
        try:
            day = vn_day(values[key])
        except ValueError:
            errors[key] = "Ngày phải viết dạng ngày/tháng/năm, ví dụ 13/02/2026"
        else:
            if day:
                days[key] = day.isoformat()
    if not errors:
        _, errors = await attempt(
            api(
                request,
                "forms",
                "POST",
                "/surveys",
                session=session,
                json={
                    "survey_id": values["survey_id"],
                    "title": values["title"],
                    "owner_unit_ids": values["owners"],
                    **days,
                },
            ),
            {
                "survey_id": "survey_id",
                "title": "title",
                "list_deadline": "list_deadline",
                "answer_deadline": "answer_deadline",
                "owner_unit_ids": "owners",
            },
            "survey_id",
        )
        if not errors:
            return redirect(f"/khao-sat/{quote(values['survey_id'])}?da_mo=1")
    return await _open_page(request, session, values, errors, 422)


# the Ministry's view of every list --------------------------------------------------------------
async def _survey(request: Request, session: Session, sid: str) -> dict[str, Any]:
    return await api(request, "forms", "GET", f"/surveys/{quote(sid)}", session=session)


@router.get("/khao-sat/{sid}")
async def survey(sid: str, request: Request, session: Session = Signed) -> Response:
    found, lists = await asyncio.gather(
        _survey(request, session, sid), api(request, "forms", "GET", f"/surveys/{quote(sid)}/lists", session=session)
    )
    if session.role != "central_admin":
        if len(lists) == 1:
            return redirect(f"/khao-sat/{quote(sid)}/danh-sach/{quote(lists[0]['owner_unit_id'])}")
        return redirect(f"/khao-sat/{quote(sid)}/tien-do")
    rows = [
        {
            **lst,
            "state": _status(lst),
            "met": sum(1 for r in lst["requirements"] if r["met"]),
            "groups": len(lst["requirements"]),
        }
        for lst in lists
    ]
    sent = request.query_params.get("da_gui", "")
    return await render(
        request,
        "par/survey.html",
        title=found["title"],
        survey=found,
        lists=rows,
        status=LIST_STATUS,
        kinds=KINDS,
        opened=bool(request.query_params.get("da_mo")),
        dispatched=sent.split(",") if sent else None,
        submitted=sum(1 for r in rows if r["state"] == "submitted"),
    )


@router.post("/khao-sat/{sid}/gui-phieu")
async def dispatch(sid: str, request: Request, session: Session = Signed) -> Response:
    require_central(session)
    result = await api(request, "forms", "POST", f"/surveys/{quote(sid)}/dispatch", session=session)
    return redirect(f"/khao-sat/{quote(sid)}?da_gui={result['issued']},{result['already_invited']}")


# one ministry's or province's list --------------------------------------------------------------
async def _list_page(
    request: Request, session: Session, sid: str, owner: str, status: int = 200, **extra: Any
) -> Response:
    found, lst, lists = await asyncio.gather(
        _survey(request, session, sid),
        api(request, "forms", "GET", f"/surveys/{quote(sid)}/lists/{quote(owner)}", session=session),
        api(request, "forms", "GET", f"/surveys/{quote(sid)}/lists", session=session),
    )
    name = next((x["owner_name"] for x in lists if x["owner_unit_id"] == owner), owner)
    groups = found["groups"][lst["kind"]]
    people = [{**p, "group_label": groups.get(p["group"], p["group"])} for p in lst["respondents"]]
    return await render(
        request,
        "par/list.html",
        status,
        title=f"Danh sách đối tượng khảo sát: {name}",
        survey=found,
        lst=lst,
        owner=owner,
        owner_name=name,
        people=people,
        state=LIST_STATUS[lst["status"]],
        columns=COLUMNS,
        central=session.role == "central_admin",
        editable=lst["status"] == "draft",
        **extra,
    )


@router.get("/khao-sat/{sid}/danh-sach/{owner}")
async def list_page(sid: str, owner: str, request: Request, session: Session = Signed) -> Response:
    done = request.query_params.get("da_luu", "")
    return await _list_page(request, session, sid, owner, done=done)


@router.get("/khao-sat/{sid}/danh-sach/{owner}/mau")
async def template(sid: str, owner: str, request: Request, format: str = "xlsx", session: Session = Signed) -> Response:
    fmt = "csv" if format == "csv" else "xlsx"
    sheet = await api(
        request,
        "forms",
        "GET",
        f"/surveys/{quote(sid)}/lists/{quote(owner)}/template",
        session=session,
        params={"format": fmt},
        raw=True,
    )
    return passed_on(sheet, f"danh-sach-{sid}.{fmt}")


@router.post("/khao-sat/{sid}/danh-sach/{owner}/tai-len")
async def upload(sid: str, owner: str, request: Request, session: Session = Signed) -> Response:
    file = (await request.form()).get("sheet")
    data = await file.read() if isinstance(file, UploadFile) else b""
    name = file.filename if isinstance(file, UploadFile) else ""
    if not data:
        return await _list_page(request, session, sid, owner, 422, errors={"sheet": "Chọn tệp danh sách để tải lên"})
    imported, refused = await refusal(
        api(
            request,
            "forms",
            "POST",
            f"/surveys/{quote(sid)}/lists/{quote(owner)}/import",
            session=session,
            content=data,
            headers={"Content-Type": XLSX if data[:2] == b"PK" else "text/csv"},
        ),
        raise_also=(401, 403, 404),
    )
    if refused is not None:
        total = refused.body.get("total", len(refused.errors))
        return await _list_page(
            request,
            session,
            sid,
            owner,
            422,
            errors={"sheet": refused.message},
            refused=refused.errors,
            refused_total=total,
            filename=name,
        )
    return await _list_page(
        request, session, sid, owner, imported_rows=imported["total"], merged=imported["merged"], filename=name
    )


@router.post("/khao-sat/{sid}/danh-sach/{owner}/gui")
async def submit(sid: str, owner: str, request: Request, session: Session = Signed) -> Response:
    _, refused = await refusal(
        api(request, "forms", "POST", f"/surveys/{quote(sid)}/lists/{quote(owner)}/submit", session=session),
        raise_also=(401, 403, 404),
    )
    if refused is not None:
        return await _list_page(request, session, sid, owner, refused.status, errors={"submit": refused.message})
    return redirect(f"/khao-sat/{quote(sid)}/danh-sach/{quote(owner)}?da_luu=gui")


@router.post("/khao-sat/{sid}/danh-sach/{owner}/mo-lai")
async def reopen(sid: str, owner: str, request: Request, session: Session = Signed) -> Response:
    require_central(session)
    reason = str((await request.form()).get("reason", "")).strip()
    errors = {} if reason else {"reason": "Ghi lý do mở lại danh sách"}
    if not errors:
        _, refused = await refusal(
            api(
                request,
                "forms",
                "POST",
                f"/surveys/{quote(sid)}/lists/{quote(owner)}/reopen",
                session=session,
                json={"reason": reason},
            ),
            raise_also=(401, 403, 404),
        )
        if refused is None:
            return redirect(f"/khao-sat/{quote(sid)}/danh-sach/{quote(owner)}?da_luu=mo-lai")
        errors = {"reason": refused.message}
    return await _list_page(request, session, sid, owner, 422, errors=errors, reason=reason)


# progress, flags, voiding -----------------------------------------------------------------------
@router.get("/khao-sat/{sid}/tien-do")
async def progress(sid: str, request: Request, owner: str = "", session: Session = Signed) -> Response:
    params = {"owner": owner} if owner else {}
    found, view, lists = await asyncio.gather(
        _survey(request, session, sid),
        api(request, "forms", "GET", f"/surveys/{quote(sid)}/progress", session=session, params=params),
        api(request, "forms", "GET", f"/surveys/{quote(sid)}/lists", session=session),
    )
    names = {x["owner_unit_id"]: x["owner_name"] for x in lists}
    owners = []
    for o in view["owners"]:
        totals = {k: sum(g[k] for g in o["groups"]) for k in ("sent", "opened", "answered", "voided")}
        owners.append({**o, "name": names.get(o["owner_unit_id"], o["owner_unit_id"]), "totals": totals})
    return await render(
        request,
        "par/progress.html",
        title=f"Tiến độ khảo sát: {found['title']}",
        survey=found,
        owners=owners,
        kinds=KINDS,
        central=session.role == "central_admin",
    )


@router.get("/khao-sat/{sid}/dau-hieu")
async def flags(sid: str, request: Request, session: Session = Signed) -> Response:
    require_central(session)
    found, listed = await asyncio.gather(
        _survey(request, session, sid), api(request, "forms", "GET", f"/surveys/{quote(sid)}/flags", session=session)
    )
    return await render(
        request,
        "par/flags.html",
        title=f"Dấu hiệu can thiệp: {found['title']}",
        survey=found,
        flags=listed,
        voided=request.query_params.get("da_huy", ""),
        errors={},
    )


@router.post("/khao-sat/{sid}/phieu/{rid}/huy")
async def void(sid: str, rid: str, request: Request, session: Session = Signed) -> Response:
    require_central(session)
    reason = str((await request.form()).get("reason", "")).strip()
    errors: dict[str, str] = {}
    if not reason:
        errors[f"reason-{rid[:12]}"] = "Ghi lý do hủy kết quả phiếu"
    else:
        _, refused = await refusal(
            api(
                request,
                "forms",
                "POST",
                f"/surveys/{quote(sid)}/responses/{quote(rid)}/void",
                session=session,
                json={"reason": reason},
            ),
            raise_also=(401, 403),
        )
        if refused is None:
            return redirect(f"/khao-sat/{quote(sid)}/dau-hieu?da_huy={quote(rid[:12])}")
        errors[f"reason-{rid[:12]}"] = refused.message
    found, listed = await asyncio.gather(
        _survey(request, session, sid), api(request, "forms", "GET", f"/surveys/{quote(sid)}/flags", session=session)
    )
    return await render(
        request,
        "par/flags.html",
        422,
        title=f"Dấu hiệu can thiệp: {found['title']}",
        survey=found,
        flags=listed,
        voided="",
        errors=errors,
    )
