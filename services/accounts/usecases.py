"""Accounts' use cases: signing in, the tree (register, rename, move, retire a unit), administering
accounts (issue, reset, unlock, revoke, change a role, assign a supervisor's units), the sheets
(checked, staged, stored) and what administrators read. HTTP routes are thin adapters over these.

Each use case checks scope and rules, loads units and accounts through an `AccountsUnitOfWork`,
asks them to change (only they raise events) and commits once with the action's audit entry. The
part that loads, decides and commits runs through `chassis.unit_of_work.run`, the one retry policy
on a stale version; what must not be repeated (a password hashed, a sign-in counted) is done once,
before it. Scope: a unit sees itself, administrators and supervisors their subtree; an account is
administered by the level above it, inside the administrator's subtree (domain.model).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from chassis import audit as audit_log
from chassis import metrics
from chassis.audit import AuditEntry
from chassis.auth import Principal, Unauthenticated
from chassis.clock import VIETNAM
from chassis.errors import Conflict, Forbidden, NotFound
from chassis.store import AlreadyExists, Store
from chassis.unit_of_work import run

from .domain import imports, model
from .domain.model import Account, Unit
from .domain.throttle import Counter
from .imports import Importer
from .passwords import PasswordHashing
from .store import UNIT_CODES, USERNAMES, AccountsStore, AccountsUnitOfWork
from .throttling import SignInThrottle
from .tokens import TokenIssuer

T = TypeVar("T")

WRONG_SIGN_IN = "Tên đăng nhập hoặc mật khẩu không đúng"
WRONG_CURRENT_PASSWORD = "Mật khẩu hiện tại không đúng"
# How long a checked sheet waits for its issuer to store it.
STAGED_FOR = timedelta(hours=2)


@dataclass
class AccountsService:
    """What accounts' use cases need, built once by bootstrap.py (or by a test, over a MemoryStore)."""

    store: Store
    accounts: AccountsStore  # claims, jobs, counters, sign-ins, staged sheets, the trail, read queries
    hashing: PasswordHashing
    throttle: SignInThrottle
    tokens: TokenIssuer
    importer: Importer
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def uow(self) -> AccountsUnitOfWork:
        return AccountsUnitOfWork(self.store)

    async def run(self, use_case: Callable[[AccountsUnitOfWork], Awaitable[T]]) -> T:
        return await run(self.uow, use_case)


@dataclass(frozen=True)
class Caller:
    """Who acts, and from which address (for the audit trail)."""

    principal: Principal
    ip: str | None = None


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_in: int
    must_change_password: bool


@dataclass
class NewPassword:
    """An initial password made once per use case: hashed once, however often the use case's
    writing part is run again."""

    password: str = field(default_factory=model.new_initial_password)
    _hash: str | None = None

    async def hash(self, hashing: PasswordHashing) -> str:
        if self._hash is None:
            self._hash = await hashing.hash(self.password)
        return self._hash


@dataclass(frozen=True)
class Issued:
    account: Account
    initial_password: str


# audit entries ------------------------------------------------------------------------------------
async def entry(
    uow: AccountsUnitOfWork,
    ip: str | None,
    action: str,
    *,
    actor: Principal | Account | None,
    target: Account | Unit | None,
    outcome: str = "ok",
    also_under: list[str] | None = None,
    **details: Any,
) -> AuditEntry:
    """The audit entry of an action, seen by the administrators above its target (and above
    `also_under`). Ids and kinds only: never a password, a name, an e-mail address or a reason."""
    if isinstance(target, Account):
        unit = await uow.units.get(target.unit_id)
        lineage = unit.lineage if unit else [target.unit_id]
    else:
        # Nothing targeted (a sign-in with an unknown name): for the central administrators.
        lineage = target.lineage if target else [model.ROOT_UNIT_ID]
    made = audit_log.entry(
        None,
        action,
        actor=actor,
        target_id=target.id if target else None,
        unit_lineage=[*lineage, *(also_under or [])],
        outcome=outcome,
        **details,
    )
    made.ip = ip
    return made


# scope ---------------------------------------------------------------------------------------------
def sees(principal: Principal, unit: Unit) -> bool:
    """A unit sees itself; administrators and supervisors their subtree."""
    if principal.role == "reporting_unit":
        return unit.id == principal.unit_id
    return principal.unit_id in unit.lineage


async def actor_unit(uow: AccountsUnitOfWork, principal: Principal) -> Unit:
    unit = await uow.units.get(principal.unit_id)
    if unit is None:
        raise Forbidden("Đơn vị của tài khoản không còn tồn tại")
    return unit


async def unit_in_scope(uow: AccountsUnitOfWork, principal: Principal, unit_id: str) -> Unit:
    unit = await uow.units.get(unit_id)
    # Unknown and out-of-scope look the same: a guessed id learns nothing.
    if unit is None or not sees(principal, unit):
        raise NotFound("Không tìm thấy đơn vị")
    return unit


async def administers(uow: AccountsUnitOfWork, principal: Principal, account: Account) -> bool:
    unit = await uow.units.get(account.unit_id)
    try:
        model.check_administration(principal, await actor_unit(uow, principal), unit, account.role)  # type: ignore[arg-type]
    except Forbidden:
        return False
    return unit is not None


async def administered(uow: AccountsUnitOfWork, principal: Principal, account_id: str) -> Account:
    account = await uow.accounts.get(account_id)
    # Out of one's authority answers like unknown: a guessed id learns nothing.
    if account is None or not await administers(uow, principal, account):
        raise NotFound("Không tìm thấy tài khoản")
    return account


# signing in ------------------------------------------------------------------------------------------
def _sign_in_failed(reason: str) -> None:
    """Counted for the operators' dashboard (a wave of failures is an attack or a broken client)."""
    metrics.sign_in_failures.labels(metrics.service(), reason).inc()


async def sign_in(svc: AccountsService, *, username: str, password: str, address: str, ip: str | None) -> SignedIn:
    """A wrong name, a wrong password and an attempt refused by the throttle (too many failures
    on the account or from the address: docs/decisions/0010) all answer the same 401, in the same
    time: the answer never tells whether the password was right."""
    uow = svc.uow()  # reads, and audit entries that change nothing stored: no version to lose
    with svc.hashing.admitted(address):  # else 429 at once, before anything is looked up or counted
        account = await uow.accounts.by_username(username.lower())
        attempt = await svc.throttle.attempt(account.id if account else None, address)
        if attempt is None:
            await svc.hashing.pause_like_verify()  # refused without hashing, answered in a hash's time
            _sign_in_failed("throttled")
            # Every refusal is recorded, an unknown name's too (never the name: it may be a password).
            await uow.commit(await entry(uow, ip, "login", actor=None, target=account, outcome="throttled"))
            raise model.InvalidCredentials(WRONG_SIGN_IN)
        # A name that does not exist is hashed too, so that timing does not tell which names exist.
        ok = await svc.hashing.verify(account.password_hash if account else None, password)
        if account is None or not ok or account.status != "active":
            outcome = "unknown_name" if account is None else "wrong_password" if not ok else "inactive"
            _sign_in_failed("unknown_or_inactive" if outcome in ("unknown_name", "inactive") else outcome)
            await uow.commit(await entry(uow, ip, "login", actor=None, target=account, outcome=outcome))
            raise model.InvalidCredentials(WRONG_SIGN_IN)
        await svc.throttle.succeeded(attempt)
    uow = svc.uow()
    account = await _account(uow, account.id)  # as it is now, after the slow hash
    await svc.accounts.signed_in(account.id, svc.clock())  # administrators see who never signed in
    await uow.commit(await entry(uow, ip, "login", actor=account, target=account))
    token, ttl = svc.tokens.issue(account)
    return SignedIn(token, ttl, account.must_change_password)


async def change_password(svc: AccountsService, caller: Caller, *, current: str, new: str) -> SignedIn:
    """The one thing a freshly issued account may do: replace its initial password. The current
    password is a guess like any sign-in (whoever holds a token may not know it): counted and
    throttled with the same counters."""
    principal, ip = caller.principal, caller.ip
    uow = svc.uow()
    with svc.hashing.admitted(ip or "unknown"):
        account = await _account(uow, principal.account_id)
        attempt = await svc.throttle.attempt(account.id, ip or "unknown")
        if attempt is None:
            await svc.hashing.pause_like_verify()
            await uow.commit(
                await entry(uow, ip, "password_change", actor=principal, target=account, outcome="throttled")
            )
            raise model.InvalidCredentials(WRONG_CURRENT_PASSWORD)
        if not await svc.hashing.verify(account.password_hash, current):
            await uow.commit(
                await entry(uow, ip, "password_change", actor=principal, target=account, outcome="wrong_password")
            )
            raise model.InvalidCredentials(WRONG_CURRENT_PASSWORD)
        await svc.throttle.succeeded(attempt)
        if new == current:
            raise model.PasswordPolicyViolated("Mật khẩu mới phải khác mật khẩu hiện tại")
        model.check_password_policy(new)
        new_hash = await svc.hashing.hash(new)
    verified = account.password_hash

    async def change(uow: AccountsUnitOfWork) -> Account:
        account = await _account(uow, principal.account_id)
        if account.password_hash != verified:  # reset meanwhile: what was proved is no longer the password
            raise model.InvalidCredentials(WRONG_CURRENT_PASSWORD)
        account.change_password(new_hash, svc.clock())
        await uow.commit(await entry(uow, ip, "password_changed", actor=principal, target=account))
        return account

    account = await svc.run(change)
    token, ttl = svc.tokens.issue(account)
    return SignedIn(token, ttl, False)


async def refresh(svc: AccountsService, caller: Caller) -> SignedIn:
    """A fresh token for an account whose token is still valid; a revoked account gets none."""
    account = await _account(svc.uow(), caller.principal.account_id)
    if account.status != "active":
        raise Unauthenticated("tài khoản đã bị thu hồi")
    token, ttl = svc.tokens.issue(account)
    return SignedIn(token, ttl, account.must_change_password)


async def _account(uow: AccountsUnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise Unauthenticated("tài khoản không còn tồn tại")
    return account


# the tree --------------------------------------------------------------------------------------------
async def register_unit(
    svc: AccountsService, caller: Caller, *, code: str, name: str, level: str, parent_id: str
) -> Unit:
    principal = caller.principal

    async def register(uow: AccountsUnitOfWork) -> Unit:
        mine, parent = await actor_unit(uow, principal), await uow.units.get(parent_id)
        if parent is None:
            raise NotFound("Không tìm thấy đơn vị cha")
        unit = uow.units.add(model.register_unit(principal, mine, parent, code, name, level))
        await uow.take_name(UNIT_CODES, unit.code, unit.id, "Mã đơn vị")
        try:
            await uow.commit(await entry(uow, caller.ip, "unit_registered", actor=principal, target=unit, code=code))
        except AlreadyExists as exc:
            raise model.duplicate("Mã đơn vị", code) from exc
        return unit

    return await svc.run(register)


async def get_unit(svc: AccountsService, principal: Principal, unit_id: str) -> Unit:
    return await unit_in_scope(svc.uow(), principal, unit_id)


async def rename_unit(svc: AccountsService, caller: Caller, unit_id: str, *, name: str, reason: str) -> Unit:
    principal = caller.principal

    async def rename(uow: AccountsUnitOfWork) -> Unit:
        unit = await unit_in_scope(uow, principal, unit_id)
        unit.rename(principal, await actor_unit(uow, principal), name, reason, svc.clock())
        await uow.commit(await entry(uow, caller.ip, "unit_renamed", actor=principal, target=unit))
        return unit

    return await svc.run(rename)


async def retire_unit(
    svc: AccountsService, caller: Caller, unit_id: str, *, reason: str, merged_into: str | None
) -> Unit:
    """Dissolve a unit, or merge it into another: its data and history stay, it submits no more."""
    principal = caller.principal

    async def retire(uow: AccountsUnitOfWork) -> Unit:
        unit = await unit_in_scope(uow, principal, unit_id)
        mine = await actor_unit(uow, principal)
        target = None
        if merged_into:
            target = await uow.units.get(merged_into)
            if target is None or not mine.contains(target):
                raise NotFound("Không tìm thấy đơn vị nhận sáp nhập")
        unit.retire(principal, mine, reason, svc.clock(), target, await svc.accounts.active_children(unit.id))
        audit = await entry(uow, caller.ip, "unit_retired", actor=principal, target=unit, merged_into=merged_into)
        await uow.commit(audit)
        return unit

    return await svc.run(retire)


async def move_unit(svc: AccountsService, caller: Caller, unit_id: str, *, parent_id: str, reason: str) -> dict:
    """Hang a unit, with everything under it, under another parent: one job, stored whole, then
    applied (imports.py)."""
    principal, uow = caller.principal, svc.uow()
    unit = await unit_in_scope(uow, principal, unit_id)
    new_parent = await uow.units.get(parent_id)
    if new_parent is None:
        raise NotFound("Không tìm thấy đơn vị cấp trên mới")
    descendants = await uow.units.descendants(unit.id)
    plan = model.plan_move(principal, await actor_unit(uow, principal), unit, new_parent, descendants, reason)
    # Seen from the subtree it leaves and from the one it joins.
    audit = await entry(
        uow, caller.ip, "unit_moved", actor=principal, target=unit, also_under=new_parent.lineage, to=parent_id
    )
    return await svc.importer.move_unit(principal, plan, reason, audit)


async def unit_children(
    svc: AccountsService, principal: Principal, unit_id: str, *, q: str | None, status: str
) -> list[Unit]:
    """The units directly under one, by code; `q` keeps those whose code or name holds it."""
    await unit_in_scope(svc.uow(), principal, unit_id)
    needle = (q or "").strip().lower()
    return [
        u
        for u in await svc.accounts.children(unit_id)
        if (status == "all" or u.status == status)
        and (not needle or needle in u.code.lower() or needle in u.name.lower())
    ]


# accounts --------------------------------------------------------------------------------------------
async def issue_account(
    svc: AccountsService,
    caller: Caller,
    *,
    username: str,
    unit_id: str,
    role: str,
    display_name: str,
    email: str | None,
) -> Issued:
    principal, password = caller.principal, NewPassword()
    username = username.lower()

    async def issue(uow: AccountsUnitOfWork) -> Issued:
        unit = await uow.units.get(unit_id)
        mine = await actor_unit(uow, principal)
        if unit is None or not mine.contains(unit):
            raise Forbidden("Đơn vị không tồn tại hoặc nằm ngoài phạm vi quản trị của bạn")
        model.check_issuance(principal, mine, unit, role, username)
        account = model.issue_account(
            principal,
            unit,
            username=username,
            role=role,
            display_name=display_name,
            email=email,
            password_hash=await password.hash(svc.hashing),
        )
        uow.accounts.add(account)
        await uow.take_name(USERNAMES, username, account.id, "Tên đăng nhập")
        try:
            await uow.commit(await entry(uow, caller.ip, "account_issued", actor=principal, target=account, role=role))
        except AlreadyExists as exc:
            raise model.duplicate("Tên đăng nhập", username) from exc
        return Issued(account, password.password)

    return await svc.run(issue)


async def get_account(svc: AccountsService, principal: Principal, account_id: str) -> Account:
    uow = svc.uow()
    account = await uow.accounts.get(account_id)
    if account is None or not (account.id == principal.account_id or await administers(uow, principal, account)):
        raise NotFound("Không tìm thấy tài khoản")
    return account


async def reset_password(svc: AccountsService, caller: Caller, account_id: str, *, reason: str) -> Issued:
    """A new initial password, shown once; the holder must change it at its next sign-in. The
    account's sign-in failures are forgotten: they were guesses at the old password."""
    return await _new_initial_password(svc, caller, account_id, reason, "password_reset", Account.reset_password)


async def unlock(svc: AccountsService, caller: Caller, account_id: str, *, reason: str) -> Issued:
    """Let a throttled account sign in again at once, with a new initial password (the old one is
    what the guesses were after); its failures are forgotten."""
    return await _new_initial_password(svc, caller, account_id, reason, "account_unlocked", Account.unlock)


async def _new_initial_password(
    svc: AccountsService,
    caller: Caller,
    account_id: str,
    reason: str,
    action: str,
    change: Callable[[Account, Principal, str, str, datetime], None],
) -> Issued:
    principal, password = caller.principal, NewPassword()

    async def reset(uow: AccountsUnitOfWork) -> Issued:
        account = await administered(uow, principal, account_id)
        change(account, principal, reason, await password.hash(svc.hashing), svc.clock())
        await uow.commit(await entry(uow, caller.ip, action, actor=principal, target=account))
        return Issued(account, password.password)

    issued = await svc.run(reset)
    await svc.throttle.clear(account_id)
    return issued


async def revoke(svc: AccountsService, caller: Caller, account_id: str, *, reason: str) -> Account:
    principal = caller.principal

    async def revoke_(uow: AccountsUnitOfWork) -> Account:
        account = await administered(uow, principal, account_id)
        account.revoke(principal, reason, svc.clock())
        await uow.commit(await entry(uow, caller.ip, "account_revoked", actor=principal, target=account))
        return account

    return await svc.run(revoke_)


async def change_role(svc: AccountsService, caller: Caller, account_id: str, *, role: str, reason: str) -> Account:
    """Tokens issued before the change stop working at once: the new role holds from the next sign-in."""
    principal = caller.principal

    async def change(uow: AccountsUnitOfWork) -> Account:
        account = await administered(uow, principal, account_id)
        unit = await uow.units.get(account.unit_id)
        if unit is None:
            raise NotFound("Không tìm thấy đơn vị")
        # The new role must be one the administrator may give, too.
        model.check_administration(principal, await actor_unit(uow, principal), unit, role)
        previous = account.role
        account.change_role(principal, role, unit, reason, svc.clock())
        audit = await entry(
            uow, caller.ip, "role_changed", actor=principal, target=account, previous=previous, role=role
        )
        await uow.commit(audit)
        return account

    return await svc.run(change)


async def assign_units(svc: AccountsService, caller: Caller, account_id: str, *, unit_ids: list[str]) -> Account:
    """The units a supervisor reviews (the whole set; an empty set means its whole area)."""
    principal = caller.principal

    async def assign(uow: AccountsUnitOfWork) -> Account:
        account = await administered(uow, principal, account_id)
        own_unit = await uow.units.get(account.unit_id)
        units = [await uow.units.get(u) for u in dict.fromkeys(unit_ids)]
        if own_unit is None or any(u is None for u in units):
            raise NotFound("Không tìm thấy đơn vị")
        account.assign(principal, units, own_unit, svc.clock())  # type: ignore[arg-type]
        audit = await entry(
            uow, caller.ip, "supervisor_assigned", actor=principal, target=account, units=account.assigned_units
        )
        await uow.commit(audit)
        return account

    return await svc.run(assign)


async def account_card(svc: AccountsService, principal: Principal, account_id: str) -> tuple[Account, Unit]:
    """Who an account is, for those on its line of the tree: a unit learns the name of the
    supervisor above it who returned its form; a supervisor, the units below it."""
    uow = svc.uow()
    account = await uow.accounts.get(account_id)
    unit = await uow.units.get(account.unit_id) if account else None
    mine = await uow.units.get(principal.unit_id)
    if (
        account is None
        or unit is None
        or mine is None
        or not (unit.id in mine.lineage or (principal.role != "reporting_unit" and mine.id in unit.lineage))
    ):
        raise NotFound("Không tìm thấy tài khoản")
    return account, unit


async def throttle_state(svc: AccountsService, account: Account) -> tuple[bool, Counter]:
    """Whether sign-in from a new address is refused now, and the account's counter."""
    counter = await svc.throttle.account_counter(account.id)
    return svc.throttle.refused_everywhere(counter), counter


async def ensure_root_admin(
    svc: AccountsService, *, username: str, password: str | None, wait_rounds: int, pause: float = 0.5
) -> None:
    """First start: the root of the tree (the Ministry) and the first central administrator, whose
    bootstrap password is an initial password like any other."""
    uow = svc.uow()
    if await uow.units.get(model.ROOT_UNIT_ID) is None:
        uow.units.add(model.register_root("BNV", "Bộ Nội vụ"))
        await uow.take_name(UNIT_CODES, "BNV", model.ROOT_UNIT_ID, "Mã đơn vị", resumed=True)
        try:
            await uow.commit()
        except AlreadyExists:
            pass  # another replica created it first
    if not password or await svc.uow().accounts.by_username(username):
        return
    model.check_password_policy(password)
    # Replicas starting together: the one that won the root's commit applies it a moment later (or
    # the relay's recovery does, after its grace), so the others wait to read it.
    for _ in range(wait_rounds):
        uow = svc.uow()
        if (root := await uow.units.get(model.ROOT_UNIT_ID)) is not None:
            break
        await asyncio.sleep(pause)
    else:
        raise RuntimeError("the root unit was committed by another replica but never applied")
    account = uow.accounts.add(
        model.issue_account(
            None,
            root,
            username=username,
            role="central_admin",
            display_name="Quản trị hệ thống cấp Trung ương",
            email=None,
            password_hash=await svc.hashing.hash_bulk(password),
        )
    )
    # Like any issued account, it must choose its own password at first sign-in: the bootstrap one
    # sits in a deployment's environment, manifests and shell histories.
    try:
        await uow.take_name(USERNAMES, username, account.id, "Tên đăng nhập")
        audit = audit_log.entry(
            None,
            "account_issued",
            target_id=account.id,
            unit_lineage=root.lineage,
            role="central_admin",
            bootstrap=True,
        )
        await uow.commit(audit)
    except (AlreadyExists, Conflict):  # another replica issued it first
        pass


# sheets -------------------------------------------------------------------------------------------
async def import_units(
    svc: AccountsService, caller: Caller, rows: list[dict[str, str]], *, staged_id: str | None = None
) -> dict:
    """Every row checked first; one bad row rejects the sheet with a report of every bad row."""
    uow = svc.uow()
    mine = await actor_unit(uow, caller.principal)
    details: dict[str, Any] = {"staged_id": staged_id} if staged_id else {}
    audit = await entry(uow, caller.ip, "units_imported", actor=caller.principal, target=mine, **details)
    return await svc.importer.import_units(caller.principal, mine, rows, audit)


async def import_accounts(
    svc: AccountsService, caller: Caller, rows: list[dict[str, str]], *, staged_id: str | None = None
) -> dict:
    """Accounts issued all or none; the initial passwords come back once, from `credentials`."""
    uow = svc.uow()
    mine = await actor_unit(uow, caller.principal)
    details: dict[str, Any] = {"staged_id": staged_id} if staged_id else {}
    audit = await entry(uow, caller.ip, "accounts_imported", actor=caller.principal, target=mine, **details)
    return await svc.importer.import_accounts(caller.principal, mine, rows, audit)


async def import_credentials(svc: AccountsService, caller: Caller, import_id: str, fmt: str) -> bytes:
    """The initial passwords of an issuance sheet, for the issuer, once."""
    uow = svc.uow()
    mine = await actor_unit(uow, caller.principal)
    audit = await entry(uow, caller.ip, "credentials_downloaded", actor=caller.principal, target=mine, format=fmt)
    return await svc.importer.credentials(caller.principal, import_id, fmt, audit)


@dataclass(frozen=True)
class SheetChecked:
    rows: int
    preview: list[dict[str, Any]]
    staged_id: str


async def check_sheet(
    svc: AccountsService, principal: Principal, kind: str, rows: list[dict[str, str]]
) -> SheetChecked:
    """Check a sheet exactly as storing it would (ImportRejected with every bad row), store nothing
    in the tree, and keep its rows for its issuer to store with one more request."""
    mine = await actor_unit(svc.uow(), principal)
    check = svc.importer.check_units if kind == "units" else svc.importer.check_accounts
    preview = await check(principal, mine, rows)
    staged = await svc.accounts.stage_sheet(kind, principal.account_id, rows, STAGED_FOR)
    return SheetChecked(len(rows), preview, staged)


async def commit_sheet(svc: AccountsService, caller: Caller, kind: str, staged_id: str) -> dict:
    """Store a checked sheet: checked again against the tree as it is now, all or nothing."""
    imports.check_may_import(caller.principal)
    rows = await svc.accounts.take_staged(staged_id, kind, caller.principal.account_id, STAGED_FOR)
    if rows is None:
        raise NotFound(
            "Không tìm thấy tệp đã kiểm tra (đã được lưu, quá hai giờ, hoặc của người khác); hãy tải tệp lên lại"
        )
    store_sheet = import_units if kind == "units" else import_accounts
    return await store_sheet(svc, caller, rows, staged_id=staged_id)


# what administrators read -----------------------------------------------------------------------
async def audit_filters(
    svc: AccountsService,
    principal: Principal,
    *,
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
        await unit_in_scope(svc.uow(), principal, unit)
    day = timedelta(days=1)
    return {
        "actor": actor or None,
        "action": action or None,
        "unit": unit or None,
        "target": target or None,
        "since": datetime.combine(since, time(), VIETNAM) if since else None,
        "until": datetime.combine(until + day, time(), VIETNAM) if until else None,
    }


async def audit_targets(svc: AccountsService, entries: list[dict[str, Any]]) -> dict[str, str]:
    """What each entry's target is called: an account's name, or a unit's code and name."""
    ids = list({e["target_id"] for e in entries if e.get("target_id")})
    people = await svc.accounts.accounts_by_id(ids)
    units = await svc.accounts.units_by_id([i for i in ids if i not in people])
    return {
        **{i: f"{a.username} ({a.display_name})" for i, a in people.items()},
        **{i: f"{u.code} – {u.name}" for i, u in units.items()},
    }


async def record_audit_export(svc: AccountsService, caller: Caller, fmt: str) -> None:
    """An export of the trail is itself in the trail, before a row of it leaves."""
    uow = svc.uow()
    mine = await actor_unit(uow, caller.principal)
    await uow.commit(await entry(uow, caller.ip, "audit_exported", actor=caller.principal, target=mine, format=fmt))


@dataclass(frozen=True)
class UnitsFound:
    units: list[Unit]  # the page's
    total: int
    accounts: dict[str, int]  # active accounts per unit shown
    children: dict[str, int]


async def search_units(
    svc: AccountsService,
    principal: Principal,
    *,
    area: str | None,
    parent: str | None,
    q: str | None,
    level: str | None,
    status: str,
    page: int,
    page_size: int,
) -> UnitsFound:
    """The units under an area (the caller's own unit by default), or only those directly under
    `parent`, by code; `q` keeps those whose code or name holds it (case-insensitive)."""
    uow = svc.uow()
    area_unit = await unit_in_scope(uow, principal, area or principal.unit_id)
    if parent is not None:
        parent_unit = await unit_in_scope(uow, principal, parent)
        if area_unit.id not in parent_unit.lineage:
            raise NotFound("Không tìm thấy đơn vị")
    needle = (q or "").strip().lower()
    found = [
        u
        for u in await svc.accounts.subtree_units(area_unit.id, parent_id=parent)
        if (status == "all" or u.status == status)
        and (level is None or u.level == level)
        and (not needle or needle in u.code.lower() or needle in u.name.lower())
    ]
    found.sort(key=lambda u: u.code)
    shown = found[(page - 1) * page_size : page * page_size]
    ids = [u.id for u in shown]
    return UnitsFound(
        shown, len(found), await svc.accounts.active_accounts_per_unit(ids), await svc.accounts.child_counts(ids)
    )


@dataclass(frozen=True)
class AccountFound:
    account: Account
    unit: Unit
    locked: bool
    counter: Counter
    last_sign_in_at: datetime | None


async def list_accounts(
    svc: AccountsService,
    principal: Principal,
    *,
    area: str | None,
    unit: str | None,
    q: str | None,
    role: str | None,
    status: str | None,
    locked: bool | None,
    never_signed_in: bool | None,
    page: int,
    page_size: int,
) -> tuple[list[AccountFound], int]:
    """The accounts an administrator administers in an area (its own subtree by default), by unit
    code then name; the page's, and how many in all."""
    if not principal.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống xem danh sách tài khoản")
    uow = svc.uow()
    mine = await actor_unit(uow, principal)
    area_unit = await unit_in_scope(uow, principal, area or principal.unit_id)
    if unit is not None:  # one unit: its accounts alone, if it lies in the area
        one = await uow.units.get(unit)
        if one is None or area_unit.id not in one.lineage:
            raise NotFound("Không tìm thấy đơn vị")
        units = {unit: one}
    else:
        units = {area_unit.id: area_unit} | {u.id: u for u in await svc.accounts.subtree_units(area_unit.id)}
    allowed = model.ISSUABLE.get(principal.role, set())
    needle = (q or "").strip().lower()
    found = [
        a
        for a in await svc.accounts.accounts_of_units(list(units))
        if a.role in allowed
        and mine.contains(units[a.unit_id])
        and (role is None or a.role == role)
        and (status is None or a.status == status)
        and (
            not needle or needle in a.username or needle in a.display_name.lower() or needle in (a.email or "").lower()
        )
    ]
    throttle, accounts = svc.throttle, svc.accounts
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
    return [
        AccountFound(a, units[a.unit_id], throttle.refused_everywhere(counters[a.id]), counters[a.id], signed.get(a.id))
        for a in shown
    ], len(found)
