"""Accounts' HTTP API: the tree, issuing and administering accounts, signing in, the key set,
and the audit trail."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from chassis.auth import Principal, Unauthenticated
from chassis.errors import DomainError, Forbidden, NotFound
from chassis.http import CurrentPrincipal, SignedInBeforePasswordChange, client_ip, from_state
from chassis.store import StaleVersion
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from .domain import model
from .domain.model import Account
from chassis.sheets import XLSX_TYPE
from .store import AccountsStore
from .tokens import TokenIssuer

router = APIRouter()

# argon2id at OWASP's recommended cost (19 MiB, 2 passes): the library default (64 MiB x 4 lanes)
# made accounts peak at 460 MiB when several hashes ran at once.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Hashing is CPU-bound: no more at once than the machine has cores, the rest wait their turn.
_hashing = asyncio.Semaphore(max(1, os.cpu_count() or 1))


async def hash_password(password: str) -> str:
    async with _hashing:
        return await asyncio.to_thread(hasher.hash, password)


async def verify_password(stored: str, password: str) -> bool:
    async with _hashing:
        try:
            return await asyncio.to_thread(hasher.verify, stored, password)
        except (VerifyMismatchError, InvalidHashError):
            return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
    name: str = Field(min_length=1, max_length=300)
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
    name: str = Field(min_length=1, max_length=300)
    reason: str = Field(min_length=1, max_length=1000)


class RetireRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)
    merged_into: str | None = Field(default=None, description="the unit it is merged into, if any")


class AccountRequest(Strict):
    username: str = Field(min_length=3, max_length=64)
    unit_id: str = Field(min_length=1, max_length=64)
    role: Literal["central_admin", "province_admin", "province_supervisor", "district_admin",
                  "district_supervisor", "reporting_unit"]
    display_name: str = Field(min_length=1, max_length=200)
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
    locked: bool
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


Accounts = Annotated[AccountsStore, Depends(from_state("accounts"))]
Tokens = Annotated[TokenIssuer, Depends(from_state("tokens"))]


async def audit(request: Request, accounts: AccountsStore, action: str, *, actor: Principal | Account | None,
                target: Account | model.Unit | None, outcome: str = "ok", **details: Any) -> None:
    if isinstance(target, Account):
        unit = await accounts.get_unit(target.unit_id)
        lineage = unit.lineage if unit else [target.unit_id]
    else:
        lineage = target.lineage if target else []
    await accounts.audit({
        "action": action, "outcome": outcome,
        "actor_id": getattr(actor, "account_id", None) or getattr(actor, "id", None),
        "actor_username": getattr(actor, "username", None),
        "target_id": target.id if target else None, "unit_lineage": lineage,
        "ip": client_ip(request), "details": details,
    })


# signing in -------------------------------------------------------------------------------
@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(tokens: Tokens) -> dict:
    return tokens.jwks()


@router.post("/auth/token", tags=["auth"], responses={401: {"description": "wrong name or password"},
                                                   403: {"description": "the account may not sign in"}})
async def login(body: LoginRequest, request: Request, accounts: Accounts, tokens: Tokens) -> TokenResponse:
    account = await accounts.find_account(body.username.lower())
    # Hash even for an unknown name so that timing does not tell which names exist.
    ok = await verify_password(account.password_hash if account else _DUMMY_HASH, body.password)
    if account is None or account.status != "active":
        raise model.InvalidCredentials("Tên đăng nhập hoặc mật khẩu không đúng")
    if not ok:
        await _with_retry(accounts, account, Account.login_failed)
        await audit(request, accounts, "login", actor=account, target=account, outcome="wrong_password",
                    failed_logins=account.failed_logins, locked=account.locked)
        # A locked account answers like any wrong password: only the right one learns it is locked.
        raise model.InvalidCredentials("Tên đăng nhập hoặc mật khẩu không đúng")
    # Read again after the slow hash: guesses running in parallel may have locked it meanwhile.
    account = await _account(accounts, account.id)
    try:
        account.check_can_sign_in()
    except DomainError as refused:
        await audit(request, accounts, "login", actor=account, target=account, outcome=refused.code)
        raise
    if account.failed_logins:
        await _with_retry(accounts, account, Account.login_succeeded)
    await audit(request, accounts, "login", actor=account, target=account)
    token, ttl = tokens.issue(account)
    return TokenResponse(access_token=token, expires_in=ttl, must_change_password=account.must_change_password)


@router.post("/auth/password", tags=["auth"])
async def change_password(body: PasswordChangeRequest, principal: SignedInBeforePasswordChange, request: Request,
                          accounts: Accounts, tokens: Tokens) -> TokenResponse:
    """The one thing a freshly issued account may do: replace its initial password."""
    account = await _account(accounts, principal.account_id)
    if not await verify_password(account.password_hash, body.current_password):
        await _with_retry(accounts, account, Account.login_failed)  # a guess like any other
        await audit(request, accounts, "password_change", actor=principal, target=account, outcome="wrong_password")
        raise model.InvalidCredentials("Mật khẩu hiện tại không đúng")
    if body.new_password == body.current_password:
        raise model.PasswordPolicyViolated("Mật khẩu mới phải khác mật khẩu hiện tại")
    model.check_password_policy(body.new_password)
    account.change_password(await hash_password(body.new_password), datetime.now(UTC))
    await accounts.save_account(account)
    await audit(request, accounts, "password_changed", actor=principal, target=account)
    token, ttl = tokens.issue(account)
    return TokenResponse(access_token=token, expires_in=ttl, must_change_password=False)


# the tree ---------------------------------------------------------------------------------
@router.post("/units", status_code=201, tags=["units"])
async def register_unit(body: UnitRequest, principal: CurrentPrincipal, request: Request,
                        accounts: Accounts) -> UnitResponse:
    actor_unit, parent = await _actor_unit(accounts, principal), await accounts.get_unit(body.parent_id)
    if parent is None:
        raise NotFound("Không tìm thấy đơn vị cha")
    unit = model.register_unit(principal, actor_unit, parent, body.code, body.name, body.level)
    await accounts.add_unit(unit)
    await audit(request, accounts, "unit_registered", actor=principal, target=unit, code=unit.code)
    return _unit_response(unit)


@router.get("/units/{unit_id}", tags=["units"])
async def get_unit(unit_id: str, principal: CurrentPrincipal, accounts: Accounts) -> UnitResponse:
    unit = await accounts.get_unit(unit_id)
    # Unknown and out-of-scope look the same: a guessed id learns nothing.
    if unit is None or not _sees(principal, unit):
        raise NotFound("Không tìm thấy đơn vị")
    return _unit_response(unit)


_SHEET_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
}}}


@router.post("/units/import", status_code=201, tags=["units"], openapi_extra=_SHEET_BODY)
async def import_units(request: Request, principal: CurrentPrincipal, accounts: Accounts) -> dict:
    """A sheet (CSV or .xlsx) with columns code, name, level, parent_code. Every row is checked
    first; one bad row rejects the sheet with a report of every bad row, and nothing is stored."""
    result = await request.app.state.importer.import_units(principal, await _actor_unit(accounts, principal),
                                                           await request.body())
    await audit(request, accounts, "units_imported", actor=principal, target=await _actor_unit(accounts, principal),
                **result)
    return result


@router.post("/accounts/import", status_code=201, tags=["accounts"], openapi_extra=_SHEET_BODY)
async def import_accounts(request: Request, principal: CurrentPrincipal, accounts: Accounts) -> dict:
    """A sheet with columns username, unit_code, role, display_name, email: accounts issued all or
    none. The initial passwords come back once, from the `credentials` address in the answer."""
    result = await request.app.state.importer.import_accounts(principal, await _actor_unit(accounts, principal),
                                                              await request.body())
    await audit(request, accounts, "accounts_imported", actor=principal,
                target=await _actor_unit(accounts, principal), **result)
    return result


@router.get("/accounts/imports/{import_id}/credentials", tags=["accounts"])
async def import_credentials(import_id: str, request: Request, principal: CurrentPrincipal, accounts: Accounts,
                             format: Literal["xlsx", "csv"] = "xlsx") -> Response:
    """The initial passwords of an issuance sheet, for the issuer, once."""
    data = await request.app.state.importer.credentials(principal, import_id, format)
    await audit(request, accounts, "credentials_downloaded", actor=principal,
                target=await _actor_unit(accounts, principal), import_id=import_id)
    media = "text/csv; charset=utf-8" if format == "csv" else XLSX_TYPE
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="tai-khoan-{import_id[:8]}.{format}"',
                             "Cache-Control": "no-store"})


@router.put("/units/{unit_id}/name", tags=["units"])
async def rename_unit(unit_id: str, body: RenameRequest, principal: CurrentPrincipal, request: Request,
                      accounts: Accounts) -> UnitResponse:
    unit = await _unit_in_scope(accounts, principal, unit_id)
    unit.rename(principal, await _actor_unit(accounts, principal), body.name, body.reason, datetime.now(UTC))
    await accounts.save_unit(unit)
    await audit(request, accounts, "unit_renamed", actor=principal, target=unit, name=body.name, reason=body.reason)
    return _unit_response(unit)


@router.post("/units/{unit_id}/retire", tags=["units"])
async def retire_unit(unit_id: str, body: RetireRequest, principal: CurrentPrincipal, request: Request,
                      accounts: Accounts) -> UnitResponse:
    """Dissolve a unit, or merge it into another: its data and history stay, it submits no more."""
    unit = await _unit_in_scope(accounts, principal, unit_id)
    actor_unit = await _actor_unit(accounts, principal)
    target = None
    if body.merged_into:
        target = await accounts.get_unit(body.merged_into)
        if target is None or not actor_unit.contains(target):
            raise NotFound("Không tìm thấy đơn vị nhận sáp nhập")
    unit.retire(principal, actor_unit, body.reason, datetime.now(UTC), target, await accounts.active_children(unit.id))
    await accounts.save_unit(unit)
    await audit(request, accounts, "unit_retired", actor=principal, target=unit, merged_into=body.merged_into,
                reason=body.reason)
    return _unit_response(unit)


class MoveRequest(Strict):
    parent_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/units/{unit_id}/move", tags=["units"])
async def move_unit(unit_id: str, body: MoveRequest, principal: CurrentPrincipal, request: Request,
                    accounts: Accounts) -> dict:
    """Hang a unit, with everything under it, under another parent (e.g. communes under the
    province once the district level is gone)."""
    unit = await _unit_in_scope(accounts, principal, unit_id)
    new_parent = await accounts.get_unit(body.parent_id)
    if new_parent is None:
        raise NotFound("Không tìm thấy đơn vị cấp trên mới")
    result = await request.app.state.importer.move_unit(principal, await _actor_unit(accounts, principal), unit,
                                                        new_parent, body.reason)
    await audit(request, accounts, "unit_moved", actor=principal, target=unit, to=body.parent_id,
                reason=body.reason, **result)
    return result


async def _unit_in_scope(accounts: AccountsStore, principal: Principal, unit_id: str) -> model.Unit:
    unit = await accounts.get_unit(unit_id)
    if unit is None or not _sees(principal, unit):
        raise NotFound("Không tìm thấy đơn vị")
    return unit


def _sees(principal: Principal, unit: model.Unit) -> bool:
    """A unit sees itself; administrators and supervisors their subtree."""
    if principal.role == "reporting_unit":
        return unit.id == principal.unit_id
    return principal.unit_id in unit.lineage


# accounts ---------------------------------------------------------------------------------
@router.post("/accounts", status_code=201, tags=["accounts"])
async def issue_account(body: AccountRequest, principal: CurrentPrincipal, request: Request,
                        accounts: Accounts) -> IssuedAccount:
    unit = await accounts.get_unit(body.unit_id)
    actor_unit = await _actor_unit(accounts, principal)
    if unit is None or not actor_unit.contains(unit):
        raise Forbidden("Đơn vị không tồn tại hoặc nằm ngoài phạm vi quản trị của bạn")
    username = body.username.lower()
    model.check_issuance(principal, actor_unit, unit, body.role, username)
    password = model.new_initial_password()
    account = model.issue_account(
        principal, unit, username=username, role=body.role, display_name=body.display_name,
        email=str(body.email) if body.email else None, password_hash=await hash_password(password),
    )
    await accounts.add_account(account)
    await audit(request, accounts, "account_issued", actor=principal, target=account, role=body.role)
    return IssuedAccount(account_id=account.id, username=username, unit_id=unit.id, role=body.role,
                         initial_password=password)


@router.get("/accounts/{account_id}", tags=["accounts"])
async def get_account(account_id: str, principal: CurrentPrincipal, accounts: Accounts) -> AccountView:
    account = await accounts.get_account(account_id)
    if account is None or not (account.id == principal.account_id or await _administers(accounts, principal, account)):
        raise NotFound("Không tìm thấy tài khoản")
    return _account_view(account)


@router.post("/accounts/{account_id}/reset-password", tags=["accounts"])
async def reset_password(account_id: str, body: ReasonRequest, principal: CurrentPrincipal, request: Request,
                         accounts: Accounts) -> IssuedAccount:
    account = await _administered(accounts, principal, account_id)
    password = model.new_initial_password()
    account.reset_password(principal, body.reason, await hash_password(password), datetime.now(UTC))
    await accounts.save_account(account)
    await audit(request, accounts, "password_reset", actor=principal, target=account, reason=body.reason)
    return IssuedAccount(account_id=account.id, username=account.username, unit_id=account.unit_id,
                         role=account.role, initial_password=password)


@router.post("/accounts/{account_id}/revoke", tags=["accounts"])
async def revoke(account_id: str, body: ReasonRequest, principal: CurrentPrincipal, request: Request,
                 accounts: Accounts) -> AccountView:
    account = await _administered(accounts, principal, account_id)
    account.revoke(principal, body.reason, datetime.now(UTC))
    await accounts.save_account(account)
    await audit(request, accounts, "account_revoked", actor=principal, target=account, reason=body.reason)
    return _account_view(account)


class RoleChangeRequest(Strict):
    role: Literal["central_admin", "province_admin", "province_supervisor", "district_admin",
                  "district_supervisor", "reporting_unit"]
    reason: str = Field(min_length=1, max_length=1000)


@router.put("/accounts/{account_id}/role", tags=["accounts"])
async def change_role(account_id: str, body: RoleChangeRequest, principal: CurrentPrincipal, request: Request,
                      accounts: Accounts) -> AccountView:
    """Tokens issued before the change stop working at once: the new role holds from the next sign-in."""
    account = await _administered(accounts, principal, account_id)
    unit = await accounts.get_unit(account.unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị")
    # The new role must be one the administrator may give, too.
    model.check_administration(principal, await _actor_unit(accounts, principal), unit, body.role)
    previous = account.role
    account.change_role(principal, body.role, unit, body.reason, datetime.now(UTC))
    await accounts.save_account(account)
    await audit(request, accounts, "role_changed", actor=principal, target=account, previous=previous,
                role=body.role, reason=body.reason)
    return _account_view(account)


class AssignmentRequest(Strict):
    unit_ids: list[str] = Field(max_length=2000)


@router.put("/accounts/{account_id}/assignments", tags=["accounts"])
async def assign_units(account_id: str, body: AssignmentRequest, principal: CurrentPrincipal, request: Request,
                       accounts: Accounts) -> AccountView:
    """The units a supervisor reviews (the whole set; an empty set means its whole area)."""
    account = await _administered(accounts, principal, account_id)
    own_unit = await accounts.get_unit(account.unit_id)
    units = [await accounts.get_unit(u) for u in dict.fromkeys(body.unit_ids)]
    if own_unit is None or any(u is None for u in units):
        raise NotFound("Không tìm thấy đơn vị")
    account.assign(principal, units, own_unit, datetime.now(UTC))  # type: ignore[arg-type]
    await accounts.save_account(account)
    await audit(request, accounts, "supervisor_assigned", actor=principal, target=account,
                units=account.assigned_units)
    return _account_view(account)


@router.post("/accounts/{account_id}/unlock", tags=["accounts"])
async def unlock(account_id: str, principal: CurrentPrincipal, request: Request, accounts: Accounts) -> AccountView:
    account = await _administered(accounts, principal, account_id)
    account.unlock()
    await accounts.save_account(account)
    await audit(request, accounts, "account_unlocked", actor=principal, target=account)
    return _account_view(account)


@router.get("/me", tags=["accounts"])
async def me(principal: CurrentPrincipal) -> dict:
    return {"account_id": principal.account_id, "username": principal.username, "unit_id": principal.unit_id,
            "role": principal.role}


@router.get("/audit", tags=["audit"])
async def audit_trail(principal: CurrentPrincipal, accounts: Accounts) -> list[AuditEntry]:
    """Administrators see what was done in their subtree, newest first."""
    if not principal.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống được xem nhật ký")
    return [AuditEntry(**{k: e.get(k) for k in AuditEntry.model_fields})
            for e in await accounts.audit_trail(principal.unit_id)]


# helpers ----------------------------------------------------------------------------------
async def _actor_unit(accounts: AccountsStore, principal: Principal) -> model.Unit:
    unit = await accounts.get_unit(principal.unit_id)
    if unit is None:
        raise Forbidden("Đơn vị của tài khoản không còn tồn tại")
    return unit


async def _account(accounts: AccountsStore, account_id: str) -> Account:
    account = await accounts.get_account(account_id)
    if account is None:
        raise Unauthenticated("tài khoản không còn tồn tại")
    return account


async def _administers(accounts: AccountsStore, principal: Principal, account: Account) -> bool:
    unit = await accounts.get_unit(account.unit_id)
    try:
        model.check_administration(principal, await _actor_unit(accounts, principal), unit, account.role)
    except Forbidden:
        return False
    return unit is not None


async def _administered(accounts: AccountsStore, principal: Principal, account_id: str) -> Account:
    account = await accounts.get_account(account_id)
    # Out of one's authority answers like unknown: a guessed id learns nothing.
    if account is None or not await _administers(accounts, principal, account):
        raise NotFound("Không tìm thấy tài khoản")
    return account


async def _with_retry(accounts: AccountsStore, account: Account, change: Any) -> None:
    """Apply a change that must not be lost to a concurrent one (failed-login counts)."""
    for _ in range(20):
        change(account)
        try:
            await accounts.save_account(account)
            return
        except StaleVersion:
            fresh = await accounts.get_account(account.id)
            if fresh is None:
                return
            account.__dict__.update(fresh.__dict__)


def _unit_response(unit: model.Unit) -> UnitResponse:
    return UnitResponse(unit_id=unit.id, code=unit.code, name=unit.name, level=unit.level,
                        parent_id=unit.parent_id, path=unit.path, status=unit.status, merged_into=unit.merged_into,
                        history=[{k: v.isoformat() if isinstance(v, datetime) else v for k, v in h.items()}
                                 for h in unit.history])


def _account_view(a: Account) -> AccountView:
    return AccountView(account_id=a.id, username=a.username, unit_id=a.unit_id, role=a.role,
                       display_name=a.display_name, email=a.email, status=a.status, locked=a.locked,
                       must_change_password=a.must_change_password, issued_at=a.issued_at,
                       assigned_units=a.assigned_units)


_DUMMY_HASH = hasher.hash("not-a-real-password")
