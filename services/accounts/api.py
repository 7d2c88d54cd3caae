"""Accounts' HTTP API: the tree, issuing and administering accounts, signing in, the key set,
and the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, EmailStr, Field

from chassis import audit as audit_log
from chassis import metrics
from chassis.audit import AuditEntry as Entry
from chassis.auth import Principal, Unauthenticated
from chassis.clock import VIETNAM
from chassis.errors import Forbidden, NotFound
from chassis.http import CurrentPrincipal, SignedInBeforePasswordChange, client_ip, from_state
from chassis.sheet_http import read_sheet
from chassis.sheets import CSV_TYPE, XLSX_TYPE
from chassis.text import Input, SingleLine

from .domain import imports, model
from .domain.model import Account
from .passwords import PasswordHashing
from .store import AccountsStore
from .throttling import SignInThrottle
from .tokens import TokenIssuer

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


Accounts = Annotated[AccountsStore, Depends(from_state("accounts"))]
Tokens = Annotated[TokenIssuer, Depends(from_state("tokens"))]
Hashing = Annotated[PasswordHashing, Depends(from_state("hashing"))]
Throttle = Annotated[SignInThrottle, Depends(from_state("throttle"))]

WRONG_SIGN_IN = "Tên đăng nhập hoặc mật khẩu không đúng"
WRONG_CURRENT_PASSWORD = "Mật khẩu hiện tại không đúng"
_BUSY = {
    429: {
        "description": "too many sign-ins waiting (overall, or from this address): retry after "
        "the `Retry-After` seconds"
    }
}


async def audit(
    request: Request,
    accounts: AccountsStore,
    action: str,
    *,
    actor: Principal | Account | None,
    target: Account | model.Unit | None,
    outcome: str = "ok",
    also_under: list[str] | None = None,
    **details: Any,
) -> Entry:
    """The audit entry of an action, seen by the administrators above its target (and above
    `also_under`): written with the action's change (`audit=`), or alone (`accounts.record`).
    Ids and kinds only: never a password, a name, an e-mail address or a reason (chassis/audit.py)."""
    if isinstance(target, Account):
        unit = await accounts.get_unit(target.unit_id)
        lineage = unit.lineage if unit else [target.unit_id]
    else:
        # Nothing targeted (a sign-in with an unknown name): for the central administrators.
        lineage = target.lineage if target else [model.ROOT_UNIT_ID]
    return audit_log.entry(
        request,
        action,
        actor=actor,
        target_id=target.id if target else None,
        unit_lineage=[*lineage, *(also_under or [])],
        outcome=outcome,
        **details,
    )


# signing in -------------------------------------------------------------------------------
@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(tokens: Tokens) -> dict:
    return tokens.jwks()


def sign_in_failed(reason: str) -> None:
    """Counted for the operators' dashboard (a wave of failures is an attack or a broken client)."""
    metrics.sign_in_failures.labels(metrics.service(), reason).inc()


@router.post("/auth/token", tags=["auth"], responses=_BUSY)
async def login(
    body: LoginRequest, request: Request, accounts: Accounts, tokens: Tokens, hashing: Hashing, throttle: Throttle
) -> TokenResponse:
    """A wrong name, a wrong password and an attempt refused by the throttle (too many failures
    on the account or from the address: docs/decisions/0010) all answer the same 401, in the same
    time: the answer never tells whether the password was right."""
    address = client_ip(request) or "unknown"
    with hashing.admitted(address):  # else 429 at once, before anything is looked up or counted
        account = await accounts.find_account(body.username.lower())
        attempt = await throttle.attempt(account.id if account else None, address)
        if attempt is None:
            await hashing.pause_like_verify()  # refused without hashing, answered in a hash's time
            sign_in_failed("throttled")
            # Every refusal is recorded, an unknown name's too (never the name: it may be a password).
            await accounts.record(
                await audit(request, accounts, "login", actor=None, target=account, outcome="throttled")
            )
            raise model.InvalidCredentials(WRONG_SIGN_IN)
        # A name that does not exist is hashed too, so that timing does not tell which names exist.
        ok = await hashing.verify(account.password_hash if account else None, body.password)
        if account is None or not ok or account.status != "active":
            outcome = "unknown_name" if account is None else "wrong_password" if not ok else "inactive"
            sign_in_failed("unknown_or_inactive" if outcome in ("unknown_name", "inactive") else outcome)
            await accounts.record(await audit(request, accounts, "login", actor=None, target=account, outcome=outcome))
            raise model.InvalidCredentials(WRONG_SIGN_IN)
        await throttle.succeeded(attempt)
    account = await _account(accounts, account.id)  # as it is now, after the slow hash
    await accounts.signed_in(account.id, datetime.now(UTC))  # administrators see who never signed in
    await accounts.record(await audit(request, accounts, "login", actor=account, target=account))
    token, ttl = tokens.issue(account)
    return TokenResponse(access_token=token, expires_in=ttl, must_change_password=account.must_change_password)


@router.post("/auth/password", tags=["auth"], responses=_BUSY)
async def change_password(
    body: PasswordChangeRequest,
    principal: SignedInBeforePasswordChange,
    request: Request,
    accounts: Accounts,
    tokens: Tokens,
    hashing: Hashing,
    throttle: Throttle,
) -> TokenResponse:
    """The one thing a freshly issued account may do: replace its initial password. The current
    password is a guess like any sign-in (whoever holds a token may not know it): counted and
    throttled with the same counters."""
    address = client_ip(request) or "unknown"
    with hashing.admitted(address):
        account = await _account(accounts, principal.account_id)
        attempt = await throttle.attempt(account.id, address)
        if attempt is None:
            await hashing.pause_like_verify()
            await accounts.record(
                await audit(request, accounts, "password_change", actor=principal, target=account, outcome="throttled")
            )
            raise model.InvalidCredentials(WRONG_CURRENT_PASSWORD)
        if not await hashing.verify(account.password_hash, body.current_password):
            await accounts.record(
                await audit(
                    request, accounts, "password_change", actor=principal, target=account, outcome="wrong_password"
                )
            )
            raise model.InvalidCredentials(WRONG_CURRENT_PASSWORD)
        await throttle.succeeded(attempt)
        if body.new_password == body.current_password:
            raise model.PasswordPolicyViolated("Mật khẩu mới phải khác mật khẩu hiện tại")
        model.check_password_policy(body.new_password)
        new_hash = await hashing.hash(body.new_password)
    account.change_password(new_hash, datetime.now(UTC))
    await accounts.save_account(
        account, await audit(request, accounts, "password_changed", actor=principal, target=account)
    )
    token, ttl = tokens.issue(account)
    return TokenResponse(access_token=token, expires_in=ttl, must_change_password=False)


@router.post("/auth/refresh", tags=["auth"])
async def refresh_token(principal: CurrentPrincipal, accounts: Accounts, tokens: Tokens) -> TokenResponse:
    """A fresh token for an account whose token is still valid, so that a person at work in the
    web front is not signed out mid-form. A revoked or reset account gets none (its token was
    already refused, or is refused here)."""
    account = await _account(accounts, principal.account_id)
    if account.status != "active":
        raise Unauthenticated("tài khoản đã bị thu hồi")
    token, ttl = tokens.issue(account)
    return TokenResponse(access_token=token, expires_in=ttl, must_change_password=account.must_change_password)


# the tree ---------------------------------------------------------------------------------
@router.post("/units", status_code=201, tags=["units"])
async def register_unit(
    body: UnitRequest, principal: CurrentPrincipal, request: Request, accounts: Accounts
) -> UnitResponse:
    actor_unit, parent = await _actor_unit(accounts, principal), await accounts.get_unit(body.parent_id)
    if parent is None:
        raise NotFound("Không tìm thấy đơn vị cha")
    unit = model.register_unit(principal, actor_unit, parent, body.code, body.name, body.level)
    await accounts.add_unit(
        unit, await audit(request, accounts, "unit_registered", actor=principal, target=unit, code=unit.code)
    )
    return _unit_response(unit)


@router.get("/units/{unit_id}", tags=["units"])
async def get_unit(unit_id: str, principal: CurrentPrincipal, accounts: Accounts) -> UnitResponse:
    unit = await accounts.get_unit(unit_id)
    # Unknown and out-of-scope look the same: a guessed id learns nothing.
    if unit is None or not _sees(principal, unit):
        raise NotFound("Không tìm thấy đơn vị")
    return _unit_response(unit)


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
async def import_units(request: Request, principal: CurrentPrincipal, accounts: Accounts) -> dict:
    """A sheet (CSV or .xlsx) with columns code, name, level, parent_code. Every row is checked
    first; one bad row rejects the sheet with a report of every bad row, and nothing is stored."""
    imports.check_may_import(principal)  # before a byte of the sheet is read
    actor_unit = await _actor_unit(accounts, principal)
    return await request.app.state.importer.import_units(
        principal,
        actor_unit,
        await read_sheet(request),
        await audit(request, accounts, "units_imported", actor=principal, target=actor_unit),
    )


@router.post("/accounts/import", status_code=201, tags=["accounts"], openapi_extra=_SHEET_BODY)
async def import_accounts(request: Request, principal: CurrentPrincipal, accounts: Accounts) -> dict:
    """A sheet with columns username, unit_code, role, display_name, email: accounts issued all or
    none. The initial passwords come back once, from the `credentials` address in the answer."""
    imports.check_may_import(principal)  # before a byte of the sheet is read
    actor_unit = await _actor_unit(accounts, principal)
    return await request.app.state.importer.import_accounts(
        principal,
        actor_unit,
        await read_sheet(request),
        await audit(request, accounts, "accounts_imported", actor=principal, target=actor_unit),
    )


@router.get("/accounts/imports/{import_id}/credentials", tags=["accounts"])
async def import_credentials(
    import_id: str,
    request: Request,
    principal: CurrentPrincipal,
    accounts: Accounts,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """The initial passwords of an issuance sheet, for the issuer, once."""
    data = await request.app.state.importer.credentials(
        principal,
        import_id,
        format,
        await audit(
            request,
            accounts,
            "credentials_downloaded",
            actor=principal,
            target=await _actor_unit(accounts, principal),
            format=format,
        ),
    )
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
    unit_id: str, body: RenameRequest, principal: CurrentPrincipal, request: Request, accounts: Accounts
) -> UnitResponse:
    unit = await _unit_in_scope(accounts, principal, unit_id)
    unit.rename(principal, await _actor_unit(accounts, principal), body.name, body.reason, datetime.now(UTC))
    await accounts.save_unit(unit, await audit(request, accounts, "unit_renamed", actor=principal, target=unit))
    return _unit_response(unit)


@router.post("/units/{unit_id}/retire", tags=["units"])
async def retire_unit(
    unit_id: str, body: RetireRequest, principal: CurrentPrincipal, request: Request, accounts: Accounts
) -> UnitResponse:
    """Dissolve a unit, or merge it into another: its data and history stay, it submits no more."""
    unit = await _unit_in_scope(accounts, principal, unit_id)
    actor_unit = await _actor_unit(accounts, principal)
    target = None
    if body.merged_into:
        target = await accounts.get_unit(body.merged_into)
        if target is None or not actor_unit.contains(target):
            raise NotFound("Không tìm thấy đơn vị nhận sáp nhập")
    unit.retire(principal, actor_unit, body.reason, datetime.now(UTC), target, await accounts.active_children(unit.id))
    await accounts.save_unit(
        unit, await audit(request, accounts, "unit_retired", actor=principal, target=unit, merged_into=body.merged_into)
    )
    return _unit_response(unit)


class MoveRequest(Strict):
    parent_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/units/{unit_id}/move", tags=["units"])
async def move_unit(
    unit_id: str, body: MoveRequest, principal: CurrentPrincipal, request: Request, accounts: Accounts
) -> dict:
    """Hang a unit, with everything under it, under another parent (e.g. communes under the
    province once the district level is gone)."""
    unit = await _unit_in_scope(accounts, principal, unit_id)
    new_parent = await accounts.get_unit(body.parent_id)
    if new_parent is None:
        raise NotFound("Không tìm thấy đơn vị cấp trên mới")
    # Seen from the subtree it leaves and from the one it joins.
    return await request.app.state.importer.move_unit(
        principal,
        await _actor_unit(accounts, principal),
        unit,
        new_parent,
        body.reason,
        await audit(
            request,
            accounts,
            "unit_moved",
            actor=principal,
            target=unit,
            also_under=new_parent.lineage,
            to=body.parent_id,
        ),
    )


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
async def issue_account(
    body: AccountRequest, principal: CurrentPrincipal, request: Request, accounts: Accounts, hashing: Hashing
) -> IssuedAccount:
    unit = await accounts.get_unit(body.unit_id)
    actor_unit = await _actor_unit(accounts, principal)
    if unit is None or not actor_unit.contains(unit):
        raise Forbidden("Đơn vị không tồn tại hoặc nằm ngoài phạm vi quản trị của bạn")
    username = body.username.lower()
    model.check_issuance(principal, actor_unit, unit, body.role, username)
    password = model.new_initial_password()
    account = model.issue_account(
        principal,
        unit,
        username=username,
        role=body.role,
        display_name=body.display_name,
        email=str(body.email) if body.email else None,
        password_hash=await hashing.hash(password),
    )
    await accounts.add_account(
        account, await audit(request, accounts, "account_issued", actor=principal, target=account, role=body.role)
    )
    return IssuedAccount(
        account_id=account.id, username=username, unit_id=unit.id, role=body.role, initial_password=password
    )


@router.get("/accounts/{account_id}", tags=["accounts"])
async def get_account(
    account_id: str, principal: CurrentPrincipal, accounts: Accounts, throttle: Throttle
) -> AccountView:
    account = await accounts.get_account(account_id)
    if account is None or not (account.id == principal.account_id or await _administers(accounts, principal, account)):
        raise NotFound("Không tìm thấy tài khoản")
    return await _account_view(throttle, account)


@router.post("/accounts/{account_id}/reset-password", tags=["accounts"])
async def reset_password(
    account_id: str,
    body: ReasonRequest,
    principal: CurrentPrincipal,
    request: Request,
    accounts: Accounts,
    hashing: Hashing,
    throttle: Throttle,
) -> IssuedAccount:
    """A new initial password, shown once; the holder must change it at its next sign-in. The
    account's sign-in failures are forgotten: they were guesses at the old password."""
    account = await _administered(accounts, principal, account_id)
    password = model.new_initial_password()
    account.reset_password(principal, body.reason, await hashing.hash(password), datetime.now(UTC))
    await accounts.save_account(
        account, await audit(request, accounts, "password_reset", actor=principal, target=account)
    )
    await throttle.clear(account.id)
    return IssuedAccount(
        account_id=account.id,
        username=account.username,
        unit_id=account.unit_id,
        role=account.role,
        initial_password=password,
    )


@router.post("/accounts/{account_id}/revoke", tags=["accounts"])
async def revoke(
    account_id: str,
    body: ReasonRequest,
    principal: CurrentPrincipal,
    request: Request,
    accounts: Accounts,
    throttle: Throttle,
) -> AccountView:
    account = await _administered(accounts, principal, account_id)
    account.revoke(principal, body.reason, datetime.now(UTC))
    await accounts.save_account(
        account, await audit(request, accounts, "account_revoked", actor=principal, target=account)
    )
    return await _account_view(throttle, account)


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
    account_id: str,
    body: RoleChangeRequest,
    principal: CurrentPrincipal,
    request: Request,
    accounts: Accounts,
    throttle: Throttle,
) -> AccountView:
    """Tokens issued before the change stop working at once: the new role holds from the next sign-in."""
    account = await _administered(accounts, principal, account_id)
    unit = await accounts.get_unit(account.unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị")
    # The new role must be one the administrator may give, too.
    model.check_administration(principal, await _actor_unit(accounts, principal), unit, body.role)
    previous = account.role
    account.change_role(principal, body.role, unit, body.reason, datetime.now(UTC))
    await accounts.save_account(
        account,
        await audit(
            request, accounts, "role_changed", actor=principal, target=account, previous=previous, role=body.role
        ),
    )
    return await _account_view(throttle, account)


class AssignmentRequest(Strict):
    unit_ids: list[str] = Field(max_length=2000)


@router.put("/accounts/{account_id}/assignments", tags=["accounts"])
async def assign_units(
    account_id: str,
    body: AssignmentRequest,
    principal: CurrentPrincipal,
    request: Request,
    accounts: Accounts,
    throttle: Throttle,
) -> AccountView:
    """The units a supervisor reviews (the whole set; an empty set means its whole area)."""
    account = await _administered(accounts, principal, account_id)
    own_unit = await accounts.get_unit(account.unit_id)
    units = [await accounts.get_unit(u) for u in dict.fromkeys(body.unit_ids)]
    if own_unit is None or any(u is None for u in units):
        raise NotFound("Không tìm thấy đơn vị")
    account.assign(principal, units, own_unit, datetime.now(UTC))  # type: ignore[arg-type]
    await accounts.save_account(
        account,
        await audit(
            request, accounts, "supervisor_assigned", actor=principal, target=account, units=account.assigned_units
        ),
    )
    return await _account_view(throttle, account)


class UnlockRequest(Strict):
    reason: str = Field(default="Quản trị viên mở khóa đăng nhập", min_length=1, max_length=1000)


@router.post("/accounts/{account_id}/unlock", tags=["accounts"])
async def unlock(
    account_id: str,
    principal: CurrentPrincipal,
    request: Request,
    accounts: Accounts,
    hashing: Hashing,
    throttle: Throttle,
    body: Annotated[UnlockRequest | None, Body()] = None,
) -> IssuedAccount:
    """Let a throttled account sign in again at once: its failures are forgotten and it gets a new
    initial password, shown once, that the holder must change at its next sign-in (the old one is
    what the guesses were after). Tokens issued before stop working."""
    account = await _administered(accounts, principal, account_id)
    reason = (body or UnlockRequest()).reason
    password = model.new_initial_password()
    account.unlock(principal, reason, await hashing.hash(password), datetime.now(UTC))
    await accounts.save_account(
        account, await audit(request, accounts, "account_unlocked", actor=principal, target=account)
    )
    await throttle.clear(account.id)
    return IssuedAccount(
        account_id=account.id,
        username=account.username,
        unit_id=account.unit_id,
        role=account.role,
        initial_password=password,
    )


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
    accounts: Accounts,
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
    filters = await audit_filters(principal, accounts, actor, action, unit, since, until, target)
    response.headers["X-Total-Count"] = str(await accounts.audit_count(principal.unit_id, **filters))
    found = await accounts.audit_trail(principal.unit_id, limit=page_size, skip=(page - 1) * page_size, **filters)
    labels = await audit_targets(accounts, found)
    return [
        AuditEntry(**{k: e.get(k) for k in AuditEntry.model_fields} | {"target_label": labels.get(e.get("target_id"))})
        for e in found
    ]


async def audit_filters(
    principal: Principal,
    accounts: AccountsStore,
    actor: str | None,
    action: str | None,
    unit: str | None,
    since: date | None,
    until: date | None,
    target: str | None = None,
) -> dict[str, Any]:
    if not principal.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống được xem nhật ký")
    if unit:
        await _unit_in_scope(accounts, principal, unit)
    day = timedelta(days=1)
    return {
        "actor": actor or None,
        "action": action or None,
        "unit": unit or None,
        "target": target or None,
        "since": datetime.combine(since, time(), VIETNAM) if since else None,
        "until": datetime.combine(until + day, time(), VIETNAM) if until else None,
    }


async def audit_targets(accounts: AccountsStore, entries: list[dict[str, Any]]) -> dict[str, str]:
    """What each entry's target is called: an account's name, or a unit's code and name."""
    ids = list({e["target_id"] for e in entries if e.get("target_id")})
    people = await accounts.accounts_by_id(ids)
    units = await accounts.units_by_id([i for i in ids if i not in people])
    return {
        **{i: f"{a.username} ({a.display_name})" for i, a in people.items()},
        **{i: f"{u.code} – {u.name}" for i, u in units.items()},
    }


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


async def _account_view(throttle: SignInThrottle, a: Account) -> AccountView:
    counter = await throttle.account_counter(a.id)
    return AccountView(
        account_id=a.id,
        username=a.username,
        unit_id=a.unit_id,
        role=a.role,
        display_name=a.display_name,
        email=a.email,
        status=a.status,
        locked=throttle.refused_everywhere(counter),
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
    accounts: Accounts,
    q: str | None = None,
    status: Literal["active", "retired", "all"] = "active",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> UnitPage:
    """The units directly under one, by code, paged; `q` keeps those whose code or name holds it."""
    await _unit_in_scope(accounts, principal, unit_id)
    needle = (q or "").strip().lower()
    found = [
        u
        for u in await accounts.children(unit_id)
        if (status == "all" or u.status == status)
        and (not needle or needle in u.code.lower() or needle in u.name.lower())
    ]
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
async def account_card(account_id: str, principal: CurrentPrincipal, accounts: Accounts) -> AccountCard:
    """Who an account is (name, role, unit), for those on its line of the tree: a unit learns the
    name of the supervisor above it who returned its form; a supervisor, the units below it."""
    account = await accounts.get_account(account_id)
    unit = await accounts.get_unit(account.unit_id) if account else None
    mine = await accounts.get_unit(principal.unit_id)
    if (
        account is None
        or unit is None
        or mine is None
        or not (unit.id in mine.lineage or (principal.role != "reporting_unit" and mine.id in unit.lineage))
    ):
        raise NotFound("Không tìm thấy tài khoản")
    return AccountCard(
        account_id=account.id,
        display_name=account.display_name,
        role=account.role,
        unit_id=unit.id,
        unit_name=unit.name,
    )
