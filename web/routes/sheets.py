"""Administrators, units and accounts from a sheet (issue 15): download the template, upload the
sheet, see every bad row with its reason before anything is stored (accounts checks it and keeps
the checked sheet for its issuer), then store it with one click; the initial passwords are
downloaded once, as an Excel file, and the page says they cannot be downloaded again."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from .. import app as shared
from ..app import Session, api, redirect, render
from ..clients import ApiError
from ..pages import passed_on, refusal, require_admin

router = APIRouter()
Signed = Depends(shared.signed_in)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The two sheets: their API, and their words.
KINDS = {
    "don-vi": {
        "api": "units",
        "title": "Danh sách đơn vị",
        "what": "đơn vị",
        "store": "Lưu {n} đơn vị",
        "columns": [
            ("row", "Dòng"),
            ("code", "Mã"),
            ("name", "Tên đơn vị"),
            ("level", "Cấp"),
            ("parent_code", "Mã đơn vị cấp trên"),
        ],
    },
    "tai-khoan": {
        "api": "accounts",
        "title": "Danh sách tài khoản",
        "what": "tài khoản",
        "store": "Cấp {n} tài khoản",
        "columns": [
            ("row", "Dòng"),
            ("username", "Tên đăng nhập"),
            ("display_name", "Tên hiển thị"),
            ("role", "Vai trò"),
            ("unit_code", "Mã đơn vị"),
            ("unit_name", "Đơn vị"),
            ("email", "Thư điện tử"),
        ],
    },
}
COLUMN_NAMES = {
    "code": "Mã",
    "name": "Tên",
    "level": "Cấp",
    "parent_code": "Mã đơn vị cấp trên",
    "username": "Tên đăng nhập",
    "unit_code": "Mã đơn vị",
    "role": "Vai trò",
    "display_name": "Tên hiển thị",
    "email": "Thư điện tử",
}
PREVIEW_ROWS = 200


def _kind(kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ApiError(404, "not_found", "Không có loại tệp này")
    return KINDS[kind]


@router.get("/quan-tri/nhap-tep")
async def sheets_page(request: Request, da_luu: str = "", so: int = 0, session: Session = Signed) -> Response:
    require_admin(session)
    return await render(
        request,
        "admin/sheets.html",
        title="Nhập đơn vị và tài khoản từ tệp",
        kinds=KINDS,
        done=da_luu if da_luu in KINDS else "",
        count=so,
    )


@router.get("/quan-tri/nhap-tep/mau/{kind}")
async def template(kind: str, request: Request, format: str = "xlsx", session: Session = Signed) -> Response:
    require_admin(session)
    fmt = "csv" if format == "csv" else "xlsx"
    sheet = await api(
        request,
        "accounts",
        "GET",
        f"/{_kind(kind)['api']}/import/template",
        session=session,
        params={"format": fmt},
        raw=True,
    )
    return passed_on(sheet, f"mau-{kind}.{fmt}")


@router.post("/quan-tri/nhap-tep/{kind}")
async def check(kind: str, request: Request, session: Session = Signed) -> Response:
    """The uploaded sheet, checked by accounts: every bad row, or what storing it would create."""
    require_admin(session)
    what = _kind(kind)
    upload = (await request.form()).get("sheet")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    if not data:
        return await _page(request, kind, 422, errors={f"sheet-{kind}": "Chọn tệp danh sách để tải lên"})
    media = XLSX if data[:2] == b"PK" else "text/csv"
    report, refused = await refusal(
        api(
            request,
            "accounts",
            "POST",
            f"/{what['api']}/import/check",
            session=session,
            content=data,
            headers={"Content-Type": media},
        ),
        raise_also=(401, 403, 404),
    )
    if refused is not None:  # a sheet that cannot be read at all, or is too large
        report = {
            "valid": False,
            "errors": refused.errors,
            "total_errors": len(refused.errors),
            "rows": 0,
            "message": refused.message,
        }
    name = upload.filename if isinstance(upload, UploadFile) else ""
    if not report["valid"]:
        message = report.get("message") or (
            f"Tệp có {report['total_errors']} lỗi; chưa có dòng nào được lưu. Sửa tệp rồi tải lên lại."
        )
        return await _page(request, kind, 422, errors={f"sheet-{kind}": message}, report=report, filename=name)
    return await render(
        request,
        "admin/sheet_check.html",
        title=f"Kiểm tra {what['title'].lower()}",
        kind=kind,
        what=what,
        report=report,
        preview=report["preview"][:PREVIEW_ROWS],
        filename=name,
        store=what["store"].format(n=len(report["preview"])),
    )


async def _page(request: Request, kind: str, status: int, **extra: Any) -> Response:
    return await render(
        request,
        "admin/sheets.html",
        status,
        title="Nhập đơn vị và tài khoản từ tệp",
        kinds=KINDS,
        failed=kind,
        columns=COLUMN_NAMES,
        done="",
        count=0,
        **extra,
    )


@router.post("/quan-tri/nhap-tep/{kind}/luu")
async def store(kind: str, request: Request, session: Session = Signed) -> Response:
    require_admin(session)
    what = _kind(kind)
    staged = str((await request.form()).get("staged_id", ""))
    result, refused = await refusal(
        api(request, "accounts", "POST", f"/{what['api']}/import/{quote(staged)}/commit", session=session),
        raise_also=(401, 403),
    )
    if refused is not None:
        # Gone (stored already, by a double click or another tab) or the tree changed meanwhile.
        report = {"valid": False, "errors": refused.errors, "total_errors": len(refused.errors), "rows": 0}
        return await _page(
            request,
            kind,
            409 if refused.status == 404 else 422,
            errors={f"sheet-{kind}": refused.message},
            report=report if refused.errors else None,
        )
    if kind == "don-vi":
        return redirect(f"/quan-tri/nhap-tep?da_luu=don-vi&so={result['created']}")
    return redirect(f"/quan-tri/nhap-tep/tai-khoan/{quote(result['import_id'])}?so={result['issued']}")


@router.get("/quan-tri/nhap-tep/tai-khoan/{import_id}")
async def issued_page(import_id: str, request: Request, so: int = 0, session: Session = Signed) -> Response:
    require_admin(session)
    return await render(request, "admin/sheet_issued.html", title="Đã cấp tài khoản", import_id=import_id, count=so)


@router.post("/quan-tri/nhap-tep/tai-khoan/{import_id}/mat-khau")
async def passwords(import_id: str, request: Request, session: Session = Signed) -> Response:
    """The initial passwords as an Excel file, once (a POST: a link a browser prefetched would
    take them)."""
    require_admin(session)
    sheet, refused = await refusal(
        api(
            request,
            "accounts",
            "GET",
            f"/accounts/imports/{quote(import_id)}/credentials",
            session=session,
            params={"format": "xlsx"},
            raw=True,
        ),
        expected=(404, 409),  # no such issue, or its passwords taken once already: said on the page
    )
    if refused is not None:
        return await render(
            request,
            "admin/sheet_issued.html",
            refused.status,
            title="Đã cấp tài khoản",
            import_id=import_id,
            count=0,
            gone=refused.message,
        )
    return passed_on(sheet, f"mat-khau-{import_id[:8]}.xlsx")
