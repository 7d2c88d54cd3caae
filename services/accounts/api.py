"""Accounts' HTTP API: the tree, issuing and administering accounts, signing in, the key set,
and the audit trail. Thin adapters: each route parses its request, calls a use case
(usecases.py) with the caller, and shapes the answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, EmailStr, Field

from chassis.auth import Principal
from chassis.http import CurrentPrincipal, SignedInBeforePasswordChange, client_ip, from_state
from chassis.sheet_http import read_sheet
from chassis.sheets import CSV_TYPE, XLSX_TYPE
from chassis.text import Input, SingleLine

from . import usecases
from .domain import imports, model
from .domain.model import Account
from .usecases import AccountsService, Caller, SignedIn

router = APIRouter()


class Strict(Input):
    """Request bodies: no unknown field, no control character (chassis.text)."""


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    must_change_password: bool


class PasswordChangeRequest(Strict):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class ReasonRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class UnitRequest(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    name: SingleLine = Field(min_length=1, max_length=300)
    level: Literal["province", "district", "commune", "agency"]
    parent_id: str = Field(min_length=1, max_length=64)


class UnitResponse(BaseModel):
    unit_id: str
    code: str
    name: str
    level: str
    parent_id: str | None
    path: list[str]
    status: str
    merged_into: str | None
    history: list[dict[str, Any]]


class RenameRequest(Strict):
    name: SingleLine = Field(min_length=1, max_length=300)
    reason: str = Field(min_length=1, max_length=1000)


class RetireRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)
    merged_into: str | None = Field(default=None, description="the unit it is merged into, if any")


class AccountRequest(Strict):
    username: str = Field(min_length=3, max_length=64)
    unit_id: str = Field(min_length=1, max_length=64)
    role: Literal[
        "central_admin",
        "province_admin",
        "province_supervisor",
        "district_admin",
        "district_supervisor",
        "reporting_unit",
    ]
    display_name: SingleLine = Field(min_length=1, max_length=200)
    email: EmailStr | None = None


class IssuedAccount(BaseModel):
    account_id: str
    username: str
    unit_id: str
    role: str
    initial_password: str = Field(description="shown once; the holder must change it at first login")


class AccountView(BaseModel):
    account_id: str
    username: str
    unit_id: str
    role: str
    display_name: str
    email: str | None
    status: str
    locked: bool = Field(
        description="sign-in from an address the account never signed in from is refused "
        "now (too many failures); its known addresses stay open"
    )
    failed_sign_ins: int = Field(description="consecutive failed sign-ins from anywhere")
    must_change_password: bool
    issued_at: datetime
    assigned_units: list[str]


class AuditEntry(BaseModel):
    at: datetime
    action: str
    outcome: str
    actor_id: str | None
    actor_username: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]
    target_label: str | None = Field(default=None, description="the target's name, for people to read")


# The one dependency: what bootstrap.py wired.
Service = Annotated[AccountsService, Depends(from_state("service"))]

_BUSY: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "too many sign-ins waiting (overall, or from this address): retry after "
        "the `Retry-After` seconds"
    }
}


def caller(request: Request, principal: Principal) -> Caller:
    return Caller(principal, client_ip(request))


def _token(signed: SignedIn) -> TokenResponse:
    return TokenResponse(
        access_token=signed.token, expires_in=signed.expires_in, must_change_password=signed.must_change_password
    )


# signing in -------------------------------------------------------------------------------
@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(svc: Service) -> dict:
    return svc.tokens.jwks()


@router.post("/auth/token", tags=["auth"], responses=_BUSY)
async def login(body: LoginRequest, request: Request, svc: Service) -> TokenResponse:
    """A wrong name, a wrong password and an attempt refused by the throttle (too many failures
    on the account or from the address: docs/decisions/0010) all answer the same 401, in the same
    time: the answer never tells whether the password was right."""
    ip = client_ip(request)
    return _token(
        await usecases.sign_in(svc, username=body.username, password=body.password, address=ip or "unknown", ip=ip)
    )


@router.post("/auth/password", tags=["auth"], responses=_BUSY)
async def change_password(
    body: PasswordChangeRequest, principal: SignedInBeforePasswordChange, request: Request, svc: Service
) -> TokenResponse:
    """The one thing a freshly issued account may do: replace its initial password. The current
    password is a guess like any sign-in (whoever holds a token may not know it): counted and
    throttled with the same counters."""
    signed = await usecases.change_password(
        svc, caller(request, principal), current=body.current_password, new=body.new_password
    )
    return _token(signed)


@router.post("/auth/refresh", tags=["auth"])
async def refresh_token(principal: CurrentPrincipal, request: Request, svc: Service) -> TokenResponse:
    """A fresh token for an account whose token is still valid, so that a person at work in the
    web front is not signed out mid-form. A revoked or reset account gets none (its token was
    already refused, or is refused here)."""
    return _token(await usecases.refresh(svc, caller(request, principal)))


# the tree ---------------------------------------------------------------------------------
@router.post("/units", status_code=201, tags=["units"])
async def register_unit(body: UnitRequest, principal: CurrentPrincipal, request: Request, svc: Service) -> UnitResponse:
    unit = await usecases.register_unit(
        svc, caller(request, principal), code=body.code, name=body.name, level=body.level, parent_id=body.parent_id
    )
    return _unit_response(unit)


@router.get("/units/{unit_id}", tags=["units"])
async def get_unit(unit_id: str, principal: CurrentPrincipal, svc: Service) -> UnitResponse:
    return _unit_response(await usecases.get_unit(svc, principal, unit_id))


_SHEET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post("/units/import", status_code=201, tags=["units"], openapi_extra=_SHEET_BODY)
async def import_units(request: Request, principal: CurrentPrincipal, svc: Service) -> dict:
    """A sheet (CSV or .xlsx) with columns code, name, level, parent_code. Every row is checked
    first; one bad row rejects the sheet with a report of every bad row, and nothing is stored."""
    imports.check_may_import(principal)  # before a byte of the sheet is read
    return await usecases.import_units(svc, caller(request, principal), await read_sheet(request))


@router.post("/accounts/import", status_code=201, tags=["accounts"], openapi_extra=_SHEET_BODY)
async def import_accounts(request: Request, principal: CurrentPrincipal, svc: Service) -> dict:
    """A sheet with columns username, unit_code, role, display_name, email: accounts issued all or
    none. The initial passwords come back once, from the `credentials` address in the answer."""
    imports.check_may_import(principal)  # before a byte of the sheet is read
    return await usecases.import_accounts(svc, caller(request, principal), await read_sheet(request))


@router.get("/accounts/imports/{import_id}/credentials", tags=["accounts"])
async def import_credentials(
    import_id: str,
    request: Request,
    principal: CurrentPrincipal,
    svc: Service,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """The initial passwords of an issuance sheet, for the issuer, once."""
    data = await usecases.import_credentials(svc, caller(request, principal), import_id, format)
    media = CSV_TYPE if format == "csv" else XLSX_TYPE
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="tai-khoan-{import_id[:8]}.{format}"',
            "Cache-Control": "no-store",
        },
    )


@router.put("/units/{unit_id}/name", tags=["units"])
async def rename_unit(
    unit_id: str, body: RenameRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> UnitResponse:
    unit = await usecases.rename_unit(svc, caller(request, principal), unit_id, name=body.name, reason=body.reason)
    return _unit_response(unit)


@router.post("/units/{unit_id}/retire", tags=["units"])
async def retire_unit(
    unit_id: str, body: RetireRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> UnitResponse:
    """Dissolve a unit, or merge it into another: its data and history stay, it submits no more."""
    unit = await usecases.retire_unit(
        svc, caller(request, principal), unit_id, reason=body.reason, merged_into=body.merged_into
    )
    return _unit_response(unit)


class MoveRequest(Strict):
    parent_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/units/{unit_id}/move", tags=["units"])
async def move_unit(
    unit_id: str, body: MoveRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> dict:
    """Hang a unit, with everything under it, under another parent (e.g. communes under the
    province once the district level is gone)."""
    return await usecases.move_unit(
        svc, caller(request, principal), unit_id, parent_id=body.parent_id, reason=body.reason
    )


# accounts ---------------------------------------------------------------------------------
@router.post("/accounts", status_code=201, tags=["accounts"])
async def issue_account(
    body: AccountRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> IssuedAccount:
    issued = await usecases.issue_account(
        svc,
        caller(request, principal),
        username=body.username,
        unit_id=body.unit_id,
        role=body.role,
        display_name=body.display_name,
        email=str(body.email) if body.email else None,
    )
    return _issued(issued)


@router.get("/accounts/{account_id}", tags=["accounts"])
async def get_account(account_id: str, principal: CurrentPrincipal, svc: Service) -> AccountView:
    return await account_view(svc, await usecases.get_account(svc, principal, account_id))


@router.post("/accounts/{account_id}/reset-password", tags=["accounts"])
async def reset_password(
    account_id: str, body: ReasonRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> IssuedAccount:
    """A new initial password, shown once; the holder must change it at its next sign-in. The
    account's sign-in failures are forgotten: they were guesses at the old password."""
    return _issued(await usecases.reset_password(svc, caller(request, principal), account_id, reason=body.reason))


@router.post("/accounts/{account_id}/revoke", tags=["accounts"])
async def revoke(
    account_id: str, body: ReasonRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> AccountView:
    account = await usecases.revoke(svc, caller(request, principal), account_id, reason=body.reason)
    return await account_view(svc, account)


class RoleChangeRequest(Strict):
    role: Literal[
        "central_admin",
        "province_admin",
        "province_supervisor",
        "district_admin",
        "district_supervisor",
        "reporting_unit",
    ]
    reason: str = Field(min_length=1, max_length=1000)


@router.put("/accounts/{account_id}/role", tags=["accounts"])
async def change_role(
    account_id: str, body: RoleChangeRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> AccountView:
    """Tokens issued before the change stop working at once: the new role holds from the next sign-in."""
    account = await usecases.change_role(
        svc, caller(request, principal), account_id, role=body.role, reason=body.reason
    )
    return await account_view(svc, account)


class AssignmentRequest(Strict):
    unit_ids: list[str] = Field(max_length=2000)


@router.put("/accounts/{account_id}/assignments", tags=["accounts"])
async def assign_units(
    account_id: str, body: AssignmentRequest, principal: CurrentPrincipal, request: Request, svc: Service
) -> AccountView:
    """The units a supervisor reviews (the whole set; an empty set means its whole area)."""
    account = await usecases.assign_units(svc, caller(request, principal), account_id, unit_ids=body.unit_ids)
    return await account_view(svc, account)


class UnlockRequest(Strict):
    reason: str = Field(default="Quản trị viên mở khóa đăng nhập", min_length=1, max_length=1000)


@router.post("/accounts/{account_id}/unlock", tags=["accounts"])
async def unlock(
    account_id: str,
    principal: CurrentPrincipal,
    request: Request,
    svc: Service,
    body: Annotated[UnlockRequest | None, Body()] = None,
) -> IssuedAccount:
    """Let a throttled account sign in again at once: its failures are forgotten and it gets a new
    initial password, shown once, that the holder must change at its next sign-in (the old one is
    what the guesses were after). Tokens issued before stop working."""
    reason = (body or UnlockRequest()).reason
    return _issued(await usecases.unlock(svc, caller(request, principal), account_id, reason=reason))


@router.get("/me", tags=["accounts"])
async def me(principal: CurrentPrincipal) -> dict:
    return {
        "account_id": principal.account_id,
        "username": principal.username,
        "unit_id": principal.unit_id,
        "role": principal.role,
    }


@router.get("/audit", tags=["audit"])
async def audit_trail(
    principal: CurrentPrincipal,
    svc: Service,
    response: Response,
    actor: Annotated[str | None, Query(max_length=64, description="a username or account id")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    unit: Annotated[str | None, Query(max_length=64, description="within this unit's subtree")] = None,
    target: Annotated[str | None, Query(max_length=64, description="an account or unit id")] = None,
    since: date | None = None,
    until: date | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEntry]:
    """Administrators see what was done in their subtree, newest first; narrowed by who, what,
    which unit's subtree and which days (Vietnam's dates, both included). `X-Total-Count` says
    how many entries match."""
    filters = await usecases.audit_filters(
        svc, principal, actor=actor, action=action, unit=unit, since=since, until=until, target=target
    )
    response.headers["X-Total-Count"] = str(await svc.accounts.audit_count(principal.unit_id, **filters))
    found = await svc.accounts.audit_trail(principal.unit_id, limit=page_size, skip=(page - 1) * page_size, **filters)
    labels = await usecases.audit_targets(svc, found)
    return [
        AuditEntry(
            **{k: e.get(k) for k in AuditEntry.model_fields} | {"target_label": labels.get(e.get("target_id") or "")}
        )
        for e in found
    ]


# answers ----------------------------------------------------------------------------------
def _unit_response(unit: model.Unit) -> UnitResponse:
    return UnitResponse(
        unit_id=unit.id,
        code=unit.code,
        name=unit.name,
        level=unit.level,
        parent_id=unit.parent_id,
        path=unit.path,
        status=unit.status,
        merged_into=unit.merged_into,
        history=[{k: v.isoformat() if isinstance(v, datetime) else v for k, v in h.items()} for h in unit.history],
    )


def _issued(issued: usecases.Issued) -> IssuedAccount:
    a = issued.account
    return IssuedAccount(
        account_id=a.id, username=a.username, unit_id=a.unit_id, role=a.role, initial_password=issued.initial_password
    )


async def account_view(svc: AccountsService, a: Account) -> AccountView:
    locked, counter = await usecases.throttle_state(svc, a)
    return AccountView(
        account_id=a.id,
        username=a.username,
        unit_id=a.unit_id,
        role=a.role,
        display_name=a.display_name,
        email=a.email,
        status=a.status,
        locked=locked,
        failed_sign_ins=counter.failures,
        must_change_password=a.must_change_password,
        issued_at=a.issued_at,
        assigned_units=a.assigned_units,
    )


# What the web front's pages need ------------------------------------------------------------
class UnitPage(BaseModel):
    items: list[UnitResponse]
    total: int
    page: int
    page_size: int


@router.get("/units/{unit_id}/children", tags=["units"])
async def unit_children(
    unit_id: str,
    principal: CurrentPrincipal,
    svc: Service,
    q: str | None = None,
    status: Literal["active", "retired", "all"] = "active",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> UnitPage:
    """The units directly under one, by code, paged; `q` keeps those whose code or name holds it."""
    found = await usecases.unit_children(svc, principal, unit_id, q=q, status=status)
    return UnitPage(
        items=[_unit_response(u) for u in found[(page - 1) * page_size : page * page_size]],
        total=len(found),
        page=page,
        page_size=page_size,
    )


class AccountCard(BaseModel):
    account_id: str
    display_name: str
    role: str
    unit_id: str
    unit_name: str


@router.get("/accounts/{account_id}/card", tags=["accounts"])
async def account_card(account_id: str, principal: CurrentPrincipal, svc: Service) -> AccountCard:
    """Who an account is (name, role, unit), for those on its line of the tree: a unit learns the
    name of the supervisor above it who returned its form; a supervisor, the units below it."""
    account, unit = await usecases.account_card(svc, principal, account_id)
    return AccountCard(
        account_id=account.id,
        display_name=account.display_name,
        role=account.role,
        unit_id=unit.id,
        unit_name=unit.name,
    )
