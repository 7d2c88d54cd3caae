"""What administrators' pages need (issue 15): the units and the accounts of a subtree, searched,
filtered and paged; the sheets' templates; and a sheet checked before anything is stored, then
stored with one more request (docs/decisions/0014-checked-sheets-and-admin-lists.md).

Scope as everywhere in accounts: a unit sees itself, administrators and supervisors their subtree,
nobody a sibling's; an account is listed only to those who administer its role there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from chassis.clock import VIETNAM
from chassis.http import CurrentPrincipal
from chassis.sheet_http import read_sheet, streamed
from chassis.sheets import CSV_TYPE, XLSX_TYPE, csv_stream, write_csv, write_xlsx, xlsx_stream

from . import usecases
from .api import _SHEET_BODY, AccountView, Service, caller
from .domain import imports

router = APIRouter()
Role = Literal[
    "central_admin", "province_admin", "province_supervisor", "district_admin", "district_supervisor", "reporting_unit"
]


# the tree, searched -----------------------------------------------------------------------------
class UnitRow(BaseModel):
    unit_id: str
    code: str
    name: str
    level: str
    parent_id: str | None
    path: list[str]
    status: str
    merged_into: str | None
    accounts: int = Field(description="the unit's active accounts")
    children: int = Field(description="the units directly under it, retired ones included")


class UnitRows(BaseModel):
    items: list[UnitRow]
    total: int
    page: int
    page_size: int


@router.get("/units", tags=["units"])
async def search_units(
    principal: CurrentPrincipal,
    svc: Service,
    area: str | None = None,
    parent: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    level: Literal["province", "district", "commune", "agency"] | None = None,
    status: Literal["active", "retired", "all"] = "all",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> UnitRows:
    """The units under an area (the caller's own unit by default), or only those directly under
    `parent`, by code; `q` keeps those whose code or name holds it (case-insensitive). Each with
    its number of active accounts and of units under it."""
    found = await usecases.search_units(
        svc,
        principal,
        area=area,
        parent=parent,
        q=q,
        level=level,
        status=status,
        page=page,
        page_size=page_size,
    )
    return UnitRows(
        items=[
            UnitRow(
                unit_id=u.id,
                code=u.code,
                name=u.name,
                level=u.level,
                parent_id=u.parent_id,
                path=u.path,
                status=u.status,
                merged_into=u.merged_into,
                accounts=found.accounts.get(u.id, 0),
                children=found.children.get(u.id, 0),
            )
            for u in found.units
        ],
        total=found.total,
        page=page,
        page_size=page_size,
    )


# accounts, listed -------------------------------------------------------------------------------
class AccountRow(AccountView):
    unit_code: str
    unit_name: str
    last_sign_in_at: datetime | None = Field(description="the last successful sign-in, if recorded")


class AccountRows(BaseModel):
    items: list[AccountRow]
    total: int
    page: int
    page_size: int


@router.get("/accounts", tags=["accounts"])
async def list_accounts(
    principal: CurrentPrincipal,
    svc: Service,
    area: str | None = None,
    unit: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: Role | None = None,
    status: Literal["active", "revoked"] | None = None,
    locked: bool | None = None,
    never_signed_in: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AccountRows:
    """The accounts an administrator administers in an area (its own subtree by default), by unit
    code then name: `q` in the name, display name or address; `unit` exactly; `locked` those whose
    sign-in from a new address is refused now (throttled); `never_signed_in` those never signed in."""
    shown, total = await usecases.list_accounts(
        svc,
        principal,
        area=area,
        unit=unit,
        q=q,
        role=role,
        status=status,
        locked=locked,
        never_signed_in=never_signed_in,
        page=page,
        page_size=page_size,
    )
    return AccountRows(
        items=[
            AccountRow(
                account_id=f.account.id,
                username=f.account.username,
                unit_id=f.account.unit_id,
                role=f.account.role,
                display_name=f.account.display_name,
                email=f.account.email,
                status=f.account.status,
                locked=f.locked,
                failed_sign_ins=f.counter.failures,
                must_change_password=f.account.must_change_password,
                issued_at=f.account.issued_at,
                assigned_units=f.account.assigned_units,
                unit_code=f.unit.code,
                unit_name=f.unit.name,
                last_sign_in_at=f.last_sign_in_at,
            )
            for f in shown
        ],
        total=total,
        page=page,
        page_size=page_size,
    )


# sheets: templates, checked, then stored ---------------------------------------------------------
UNIT_COLUMNS = ["code", "name", "level", "parent_code"]
ACCOUNT_COLUMNS = ["username", "unit_code", "role", "display_name", "email"]
UNIT_GUIDE = [
    ["Cột", "Ý nghĩa", "Giá trị"],
    ["code", "Mã đơn vị (duy nhất trong cả nước)", "chữ, số, dấu chấm, gạch ngang, gạch dưới; tối đa 32 ký tự"],
    ["name", "Tên đơn vị", "tối đa 300 ký tự"],
    ["level", "Cấp đơn vị", "province (tỉnh), district (huyện), commune (xã), agency (cơ quan, đơn vị)"],
    ["parent_code", "Mã đơn vị cấp trên", "một đơn vị đã có, hoặc một dòng khác của tệp"],
]
ACCOUNT_GUIDE = [
    ["Cột", "Ý nghĩa", "Giá trị"],
    ["username", "Tên đăng nhập", "3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch ngang, gạch dưới"],
    ["unit_code", "Mã đơn vị của tài khoản", "một đơn vị đã có trong phạm vi quản trị của bạn"],
    [
        "role",
        "Vai trò",
        "reporting_unit (đơn vị cung cấp thông tin), district_supervisor, district_admin, "
        "province_supervisor, province_admin",
    ],
    ["display_name", "Tên hiển thị", "tối đa 200 ký tự"],
    ["email", "Thư điện tử (không bắt buộc)", "địa chỉ nhận thông báo"],
]


def _template(name: str, columns: list[str], guide: list[list[str]], fmt: str) -> Response:
    if fmt == "csv":
        data, media = write_csv(columns, []), CSV_TYPE
    else:
        data, media = write_xlsx(name, columns, [], extra_sheets={"Hướng dẫn": guide}), XLSX_TYPE
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="mau-{name}.{fmt}"', "Cache-Control": "no-store"},
    )


@router.get("/units/import/template", tags=["units"])
async def units_template(principal: CurrentPrincipal, format: Literal["xlsx", "csv"] = "xlsx") -> Response:
    """The units sheet to fill: its columns, and a sheet that says what each holds."""
    imports.check_may_import(principal)
    return _template("don-vi", UNIT_COLUMNS, UNIT_GUIDE, format)


@router.get("/accounts/import/template", tags=["accounts"])
async def accounts_template(principal: CurrentPrincipal, format: Literal["xlsx", "csv"] = "xlsx") -> Response:
    imports.check_may_import(principal)
    return _template("tai-khoan", ACCOUNT_COLUMNS, ACCOUNT_GUIDE, format)


class SheetCheck(BaseModel):
    valid: bool
    rows: int = Field(description="data rows read")
    errors: list[dict[str, Any]] = Field(description="every bad row (the first thousand): row, field, message")
    total_errors: int
    preview: list[dict[str, Any]] = Field(description="what storing it would create, when valid")
    staged_id: str | None = Field(
        description="POST …/import/{staged_id}/commit stores it (the issuer, once, within two hours)"
    )


async def _check(request: Request, svc: usecases.AccountsService, principal: Any, kind: str) -> SheetCheck:
    imports.check_may_import(principal)  # before a byte of the sheet is read
    rows = await read_sheet(request)
    try:
        checked = await usecases.check_sheet(svc, principal, kind, rows)
    except imports.ImportRejected as rejected:
        details = rejected.details or {}
        return SheetCheck(
            valid=False,
            rows=len(rows),
            errors=details.get("errors", []),
            total_errors=details.get("total", 0),
            preview=[],
            staged_id=None,
        )
    return SheetCheck(
        valid=True, rows=checked.rows, errors=[], total_errors=0, preview=checked.preview, staged_id=checked.staged_id
    )


@router.post("/units/import/check", tags=["units"], openapi_extra=_SHEET_BODY)
async def check_units_sheet(request: Request, principal: CurrentPrincipal, svc: Service) -> SheetCheck:
    """Check a units sheet exactly as importing it would, and store nothing in the tree: every bad
    row with its reason, or what it would create and the id that stores it."""
    return await _check(request, svc, principal, "units")


@router.post("/accounts/import/check", tags=["accounts"], openapi_extra=_SHEET_BODY)
async def check_accounts_sheet(request: Request, principal: CurrentPrincipal, svc: Service) -> SheetCheck:
    """Check an accounts sheet as issuing would; no account is issued and no password made."""
    return await _check(request, svc, principal, "accounts")


@router.post("/units/import/{staged_id}/commit", status_code=201, tags=["units"])
async def commit_units_sheet(staged_id: str, request: Request, principal: CurrentPrincipal, svc: Service) -> dict:
    """Store a checked units sheet: checked again against the tree as it is now, all or nothing."""
    return await usecases.commit_sheet(svc, caller(request, principal), "units", staged_id)


@router.post("/accounts/import/{staged_id}/commit", status_code=201, tags=["accounts"])
async def commit_accounts_sheet(staged_id: str, request: Request, principal: CurrentPrincipal, svc: Service) -> dict:
    """Issue a checked accounts sheet's accounts; the initial passwords download once from `credentials`."""
    return await usecases.commit_sheet(svc, caller(request, principal), "accounts", staged_id)


# the audit trail, exported ----------------------------------------------------------------------
AUDIT_HEADER = [
    "Thời điểm",
    "Việc",
    "Kết quả",
    "Người thực hiện",
    "Đối tượng",
    "Mã đối tượng",
    "Địa chỉ IP",
    "Chi tiết",
]
MAX_EXPORTED = 50_000


@router.get("/audit/export", tags=["audit"])
async def export_audit(
    request: Request,
    principal: CurrentPrincipal,
    svc: Service,
    format: Literal["csv", "xlsx"] = "xlsx",
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=64)] = None,
    since: date | None = None,
    until: date | None = None,
) -> StreamingResponse:
    """The audit trail as `GET /audit` filters it, newest first (at most 50,000 entries), through
    the one CSV and .xlsx writer (chassis/sheets.py)."""
    filters = await usecases.audit_filters(
        svc, principal, actor=actor, action=action, unit=unit, since=since, until=until, target=target
    )
    await usecases.record_audit_export(svc, caller(request, principal), format)

    async def rows() -> AsyncIterator[list[Any]]:
        for start in range(0, MAX_EXPORTED, 1000):
            entries = await svc.accounts.audit_trail(principal.unit_id, limit=1000, skip=start, **filters)
            labels = await usecases.audit_targets(svc, entries)
            for e in entries:
                yield [
                    e["at"].astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S"),
                    e.get("action"),
                    e.get("outcome"),
                    e.get("actor_username") or e.get("actor_id"),
                    labels.get(e.get("target_id") or "", ""),
                    e.get("target_id"),
                    e.get("ip"),
                    "; ".join(f"{k}: {v}" for k, v in (e.get("details") or {}).items()),
                ]
            if len(entries) < 1000:
                return

    stream = csv_stream(AUDIT_HEADER, rows()) if format == "csv" else xlsx_stream("Nhật ký", AUDIT_HEADER, rows())
    return await streamed(
        stream,
        media_type=CSV_TYPE if format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="nhat-ky.{format}"', "Cache-Control": "no-store"},
    )
