"""What administrators' pages need (issue 15): the units and the accounts of a subtree, searched,
filtered and paged; the sheets' templates; and a sheet checked before anything is stored, then
stored with one more request (docs/decisions/0014-checked-sheets-and-admin-lists.md).

Scope as everywhere in accounts: a unit sees itself, administrators and supervisors their subtree,
nobody a sibling's; an account is listed only to those who administer its role there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from chassis.clock import VIETNAM
from chassis.errors import Forbidden, NotFound
from chassis.http import CurrentPrincipal
from chassis.sheet_http import read_sheet, streamed
from chassis.sheets import CSV_TYPE, XLSX_TYPE, csv_stream, write_csv, write_xlsx, xlsx_stream

from .api import (
    _SHEET_BODY,
    Accounts,
    AccountView,
    Throttle,
    _actor_unit,
    _unit_in_scope,
    audit,
    audit_filters,
    audit_targets,
)
from .domain import imports, model

router = APIRouter()

# How long a checked sheet waits for its issuer to store it.
STAGED_FOR = timedelta(hours=2)
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
    accounts: Accounts,
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
    area_unit = await _unit_in_scope(accounts, principal, area or principal.unit_id)
    if parent is not None:
        parent_unit = await _unit_in_scope(accounts, principal, parent)
        if area_unit.id not in parent_unit.lineage:
            raise NotFound("Không tìm thấy đơn vị")
    needle = (q or "").strip().lower()
    found = [
        u
        for u in await accounts.subtree_units(area_unit.id, parent_id=parent)
        if (status == "all" or u.status == status)
        and (level is None or u.level == level)
        and (not needle or needle in u.code.lower() or needle in u.name.lower())
    ]
    found.sort(key=lambda u: u.code)
    shown = found[(page - 1) * page_size : page * page_size]
    ids = [u.id for u in shown]
    active, children = await accounts.active_accounts_per_unit(ids), await accounts.child_counts(ids)
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
                accounts=active.get(u.id, 0),
                children=children.get(u.id, 0),
            )
            for u in shown
        ],
        total=len(found),
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
    accounts: Accounts,
    throttle: Throttle,
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
    if not principal.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống xem danh sách tài khoản")
    mine = await _actor_unit(accounts, principal)
    area_unit = await _unit_in_scope(accounts, principal, area or principal.unit_id)
    if unit is not None:  # one unit: its accounts alone, if it lies in the area
        one = await accounts.get_unit(unit)
        if one is None or area_unit.id not in one.lineage:
            raise NotFound("Không tìm thấy đơn vị")
        units = {unit: one}
    else:
        units = {area_unit.id: area_unit} | {u.id: u for u in await accounts.subtree_units(area_unit.id)}
    allowed = model.ISSUABLE.get(principal.role, set())
    needle = (q or "").strip().lower()
    found = [
        a
        for a in await accounts.accounts_of_units(list(units))
        if a.role in allowed
        and mine.contains(units[a.unit_id])
        and (role is None or a.role == role)
        and (status is None or a.status == status)
        and (
            not needle or needle in a.username or needle in a.display_name.lower() or needle in (a.email or "").lower()
        )
    ]
    # Counters and sign-ins of every account only to filter by them; else of the page shown.
    counters = await accounts.account_counters([a.id for a in found]) if locked is not None else {}
    signed = await accounts.last_sign_ins([a.id for a in found]) if never_signed_in is not None else {}
    if locked is not None:
        found = [a for a in found if throttle.refused_everywhere(counters[a.id]) == locked]
    if never_signed_in is not None:
        # Before sign-ins were recorded, a changed password still says the holder signed in.
        found = [a for a in found if (a.id not in signed and a.must_change_password) == never_signed_in]
    found.sort(key=lambda a: (units[a.unit_id].code, a.username))
    shown = found[(page - 1) * page_size : page * page_size]
    if locked is None:
        counters = await accounts.account_counters([a.id for a in shown])
    if never_signed_in is None:
        signed = await accounts.last_sign_ins([a.id for a in shown])
    return AccountRows(
        items=[
            AccountRow(
                account_id=a.id,
                username=a.username,
                unit_id=a.unit_id,
                role=a.role,
                display_name=a.display_name,
                email=a.email,
                status=a.status,
                locked=throttle.refused_everywhere(counters[a.id]),
                failed_sign_ins=counters[a.id].failures,
                must_change_password=a.must_change_password,
                issued_at=a.issued_at,
                assigned_units=a.assigned_units,
                unit_code=units[a.unit_id].code,
                unit_name=units[a.unit_id].name,
                last_sign_in_at=signed.get(a.id),
            )
            for a in shown
        ],
        total=len(found),
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


async def _check(request: Request, accounts: Any, principal: Any, kind: str) -> SheetCheck:
    imports.check_may_import(principal)  # before a byte of the sheet is read
    actor_unit = await _actor_unit(accounts, principal)
    rows = await read_sheet(request)
    importer = request.app.state.importer
    try:
        preview = await (importer.check_units if kind == "units" else importer.check_accounts)(
            principal, actor_unit, rows
        )
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
    staged = await accounts.stage_sheet(kind, principal.account_id, rows, STAGED_FOR)
    return SheetCheck(valid=True, rows=len(rows), errors=[], total_errors=0, preview=preview, staged_id=staged)


@router.post("/units/import/check", tags=["units"], openapi_extra=_SHEET_BODY)
async def check_units_sheet(request: Request, principal: CurrentPrincipal, accounts: Accounts) -> SheetCheck:
    """Check a units sheet exactly as importing it would, and store nothing in the tree: every bad
    row with its reason, or what it would create and the id that stores it."""
    return await _check(request, accounts, principal, "units")


@router.post("/accounts/import/check", tags=["accounts"], openapi_extra=_SHEET_BODY)
async def check_accounts_sheet(request: Request, principal: CurrentPrincipal, accounts: Accounts) -> SheetCheck:
    """Check an accounts sheet as issuing would; no account is issued and no password made."""
    return await _check(request, accounts, principal, "accounts")


async def _staged(accounts: Any, principal: Any, staged_id: str, kind: str) -> list[dict[str, str]]:
    imports.check_may_import(principal)
    rows = await accounts.take_staged(staged_id, kind, principal.account_id, STAGED_FOR)
    if rows is None:
        raise NotFound(
            "Không tìm thấy tệp đã kiểm tra (đã được lưu, quá hai giờ, hoặc của người khác); hãy tải tệp lên lại"
        )
    return rows


@router.post("/units/import/{staged_id}/commit", status_code=201, tags=["units"])
async def commit_units_sheet(staged_id: str, request: Request, principal: CurrentPrincipal, accounts: Accounts) -> dict:
    """Store a checked units sheet: checked again against the tree as it is now, all or nothing."""
    rows = await _staged(accounts, principal, staged_id, "units")
    actor_unit = await _actor_unit(accounts, principal)
    return await request.app.state.importer.import_units(
        principal,
        actor_unit,
        rows,
        await audit(request, accounts, "units_imported", actor=principal, target=actor_unit, staged_id=staged_id),
    )


@router.post("/accounts/import/{staged_id}/commit", status_code=201, tags=["accounts"])
async def commit_accounts_sheet(
    staged_id: str, request: Request, principal: CurrentPrincipal, accounts: Accounts
) -> dict:
    """Issue a checked accounts sheet's accounts; the initial passwords download once from `credentials`."""
    rows = await _staged(accounts, principal, staged_id, "accounts")
    actor_unit = await _actor_unit(accounts, principal)
    return await request.app.state.importer.import_accounts(
        principal,
        actor_unit,
        rows,
        await audit(request, accounts, "accounts_imported", actor=principal, target=actor_unit, staged_id=staged_id),
    )


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
    accounts: Accounts,
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
    filters = await audit_filters(principal, accounts, actor, action, unit, since, until, target)
    # An export of the trail is itself in the trail, before a row of it leaves.
    await accounts.record(
        await audit(
            request,
            accounts,
            "audit_exported",
            actor=principal,
            target=await _actor_unit(accounts, principal),
            format=format,
        )
    )

    async def rows() -> AsyncIterator[list[Any]]:
        for start in range(0, MAX_EXPORTED, 1000):
            entries = await accounts.audit_trail(principal.unit_id, limit=1000, skip=start, **filters)
            labels = await audit_targets(accounts, entries)
            for e in entries:
                yield [
                    e["at"].astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S"),
                    e.get("action"),
                    e.get("outcome"),
                    e.get("actor_username") or e.get("actor_id"),
                    labels.get(e.get("target_id"), ""),
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
