"""Accounts' use cases against the in-memory store (tests/support/memory_store.py): no broker, no
MongoDB, argon2 at its cheapest. Who may administer which unit and role (the scope matrix), what
each use case stores and raises, and the one retry on a stale version."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.sheets import ROW
from chassis.store import StaleVersion
from moha_contracts import (
    AccountActivated,
    AccountRoleChanged,
    PasswordChanged,
    PasswordReset,
    SupervisorAssigned,
    UnitRenamed,
)
from services.accounts import usecases
from services.accounts.domain import model
from services.accounts.domain.imports import ImportRejected
from services.accounts.imports import Importer
from services.accounts.passwords import PasswordHashing
from services.accounts.store import AccountsStore, AccountsUnitOfWork
from services.accounts.throttling import SignInThrottle
from services.accounts.tokens import TokenIssuer, load_signing_keys, new_signing_key
from services.accounts.usecases import AccountsService, Caller
from tests.support.memory_store import MemoryStore

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ADMIN_PASSWORD = "Bootstrap-Pass-1"


def service(store: MemoryStore) -> AccountsService:
    accounts = AccountsStore(store)
    hashing = PasswordHashing(2, 100, 100, hasher=CHEAP)
    hashing.typical_seconds = 0.0  # a refused sign-in's pause: nothing to hide from in a unit test
    tokens = TokenIssuer(load_signing_keys(new_signing_key()), issuer="accounts", audience="moha", ttl_seconds=600)
    return AccountsService(
        store=store,
        accounts=accounts,
        hashing=hashing,
        throttle=SignInThrottle(accounts),
        tokens=tokens,
        importer=Importer(accounts, hashing.hash_bulk, lambda: AccountsUnitOfWork(store)),
    )


@dataclass
class Tree:
    """Root ─ P (province) ─ D (district) ─ C (commune), P ─ D2 ─ C2; Root ─ Q ─ QD; a retired R under P;
    and an account of each kind of caller."""

    svc: AccountsService
    store: MemoryStore
    units: dict[str, model.Unit]
    who: dict[str, Principal]  # ministry, province, district, unit
    accounts: dict[str, model.Account]


def principal(account: model.Account) -> Principal:
    return Principal(account.id, account.username, account.unit_id, account.role)


async def build_tree() -> Tree:
    store = MemoryStore()
    svc = service(store)
    await usecases.ensure_root_admin(svc, username="admin", password=ADMIN_PASSWORD, wait_rounds=1, pause=0)
    admin = await svc.uow().accounts.by_username("admin")
    assert admin is not None
    ministry = Caller(principal(admin))
    units: dict[str, model.Unit] = {}
    for name, code, level, parent in [
        ("P", "20", "province", "root"),
        ("Q", "21", "province", "root"),
        ("D", "178", "district", "P"),
        ("D2", "179", "district", "P"),
        ("QD", "210", "district", "Q"),
        ("C", "178-01", "commune", "D"),
        ("C2", "179-01", "commune", "D2"),
        ("R", "20-9", "agency", "P"),
    ]:
        parent_id = "root" if parent == "root" else units[parent].id
        units[name] = await usecases.register_unit(
            svc, ministry, code=code, name=f"Đơn vị {name}", level=level, parent_id=parent_id
        )
    await usecases.retire_unit(svc, ministry, units["R"].id, reason="Sáp nhập 2025", merged_into=None)
    accounts = {"ministry": admin}
    for key, username, role, unit in [
        ("province", "tinh.p", "province_admin", "P"),
        ("district", "huyen.d", "district_admin", "D"),
        ("unit", "xa.c", "reporting_unit", "C"),
        ("supervisor", "gs.d", "district_supervisor", "D"),
        ("qdistrict", "huyen.qd", "district_admin", "QD"),
        ("c2", "xa.c2", "reporting_unit", "C2"),
    ]:
        issued = await usecases.issue_account(
            svc,
            ministry,
            username=username,
            unit_id=units[unit].id,
            role=role,
            display_name=f"Tài khoản {username}",
            email=None,
        )
        accounts[key] = issued.account
    who = {k: principal(a) for k, a in accounts.items()}
    return Tree(svc, store, units, who, accounts)


@pytest.fixture
def tree() -> Tree:
    return asyncio.run(build_tree())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# the scope matrix -----------------------------------------------------------------------------------
OK = "ok"

# (caller, role to issue, unit): what issuing an account answers.
ISSUE = [
    ("ministry", "province_admin", "Q", OK),
    ("ministry", "central_admin", "root", OK),
    ("province", "district_admin", "D", OK),
    ("province", "reporting_unit", "C2", OK),
    ("province", "district_admin", "QD", Forbidden),  # another province
    ("province", "province_admin", "P", Forbidden),  # its own level
    ("district", "reporting_unit", "C", OK),
    ("district", "reporting_unit", "C2", Forbidden),  # a sibling district's commune
    ("district", "district_supervisor", "D", OK),
    ("district", "district_admin", "D", Forbidden),
    ("unit", "reporting_unit", "C", Forbidden),  # not an administrator
    ("ministry", "province_admin", "C", DomainError),  # a role that does not fit the unit's level
]


@pytest.mark.parametrize(("caller", "role", "unit", "expected"), ISSUE)
def test_who_may_issue_which_role_where(tree: Tree, caller: str, role: str, unit: str, expected: Any) -> None:
    unit_id = "root" if unit == "root" else tree.units[unit].id
    attempt = usecases.issue_account(
        tree.svc,
        Caller(tree.who[caller]),
        username=f"new.{caller}.{role}.{unit}".lower()[:60],
        unit_id=unit_id,
        role=role,
        display_name="Người mới",
        email=None,
    )
    if expected is OK:
        issued = run(attempt)
        assert issued.account.unit_id == unit_id and issued.account.role == role
        assert issued.account.version == 1 and issued.account.must_change_password
    else:
        with pytest.raises(expected):
            run(attempt)


# (caller, unit): what renaming a unit answers. Out of sight reads like unknown (NotFound).
RENAME = [
    ("ministry", "P", OK),
    ("province", "D", OK),
    ("province", "C", OK),
    ("province", "QD", NotFound),  # another province: unknown to it
    ("province", "P", Forbidden),  # its own unit: for the level above
    ("district", "C", OK),
    ("district", "P", NotFound),
    ("district", "C2", NotFound),
    ("unit", "C", Forbidden),  # sees itself, administers nothing
    ("ministry", "R", Conflict),  # retired
    ("province", "R", Conflict),
]


@pytest.mark.parametrize(("caller", "unit", "expected"), RENAME)
def test_who_may_rename_which_unit(tree: Tree, caller: str, unit: str, expected: Any) -> None:
    attempt = usecases.rename_unit(
        tree.svc, Caller(tree.who[caller]), tree.units[unit].id, name="Tên mới", reason="Nghị quyết"
    )
    if expected is OK:
        assert run(attempt).name == "Tên mới"
    else:
        with pytest.raises(expected):
            run(attempt)


# (caller, account): what revoking an account answers. Outside one's authority reads like unknown.
REVOKE = [
    ("ministry", "province", OK),
    ("province", "district", OK),
    ("province", "qdistrict", NotFound),
    ("district", "unit", OK),
    ("district", "c2", NotFound),
    ("district", "province", NotFound),  # the level above
    ("unit", "unit", NotFound),
    ("province", "supervisor", OK),
]


@pytest.mark.parametrize(("caller", "target", "expected"), REVOKE)
def test_who_may_revoke_which_account(tree: Tree, caller: str, target: str, expected: Any) -> None:
    attempt = usecases.revoke(tree.svc, Caller(tree.who[caller]), tree.accounts[target].id, reason="Nghỉ việc")
    if expected is OK:
        assert run(attempt).status == "revoked"
    else:
        with pytest.raises(expected):
            run(attempt)


def test_a_retired_unit_takes_no_new_unit_and_cannot_be_moved(tree: Tree) -> None:
    ministry = Caller(tree.who["ministry"])
    with pytest.raises(Conflict) as raised:
        run(
            usecases.register_unit(
                tree.svc, ministry, code="20-9-1", name="Con", level="agency", parent_id=tree.units["R"].id
            )
        )
    assert raised.value.code == "unit_retired"
    with pytest.raises(Conflict):
        run(usecases.move_unit(tree.svc, ministry, tree.units["R"].id, parent_id=tree.units["Q"].id, reason="x"))


# what each use case stores --------------------------------------------------------------------------
def test_a_unit_code_is_taken_once(tree: Tree) -> None:
    with pytest.raises(Conflict) as raised:
        run(
            usecases.register_unit(
                tree.svc,
                Caller(tree.who["province"]),
                code="178",
                name="Trùng",
                level="district",
                parent_id=tree.units["P"].id,
            )
        )
    assert raised.value.code == "duplicate"


def test_sign_in_change_password_and_sign_in_again(tree: Tree) -> None:
    async def scenario() -> None:
        svc = tree.svc
        issued = await usecases.issue_account(
            svc,
            Caller(tree.who["district"]),
            username="Xa.Moi",
            unit_id=tree.units["C"].id,
            role="reporting_unit",
            display_name="Xã mới",
            email="xa@example.vn",
        )
        first = await usecases.sign_in(
            svc, username="XA.MOI", password=issued.initial_password, address="10.0.0.1", ip="10.0.0.1"
        )
        assert first.must_change_password and first.token
        with pytest.raises(model.InvalidCredentials):
            await usecases.sign_in(svc, username="xa.moi", password="wrong", address="10.0.0.1", ip="10.0.0.1")
        holder = Caller(principal(issued.account), "10.0.0.1")
        with pytest.raises(model.InvalidCredentials):
            await usecases.change_password(svc, holder, current="wrong", new="Mat-khau-moi-1")
        with pytest.raises(model.PasswordPolicyViolated):
            await usecases.change_password(svc, holder, current=issued.initial_password, new="short")
        changed = await usecases.change_password(svc, holder, current=issued.initial_password, new="Mat-khau-moi-1")
        assert not changed.must_change_password
        again = await usecases.sign_in(
            svc, username="xa.moi", password="Mat-khau-moi-1", address="10.0.0.2", ip="10.0.0.2"
        )
        assert not again.must_change_password
        kinds = [e["routing_key"] for e in await tree.store.events()]
        assert kinds.count(AccountActivated.routing_key) == 1, kinds
        assert kinds.count(PasswordChanged.routing_key) == 1
        logins = [c["audit"] async for c in tree.store.commits.find({"audit.action": "login"})]
        assert sorted(e["outcome"] for e in logins) == ["ok", "ok", "wrong_password"]
        assert all(e["ip"] for e in logins)
        assert issued.account.id in await svc.accounts.last_sign_ins([issued.account.id])

    run(scenario())


def test_reset_unlock_role_and_assignment(tree: Tree) -> None:
    async def scenario() -> None:
        svc, district = tree.svc, Caller(tree.who["district"])
        unit_account = tree.accounts["unit"]
        # A failed sign-in is counted, then forgotten by the reset.
        with pytest.raises(model.InvalidCredentials):
            await usecases.sign_in(svc, username="xa.c", password="wrong", address="10.1.1.1", ip="10.1.1.1")
        assert (await usecases.throttle_state(svc, unit_account))[1].failures == 1
        reset = await usecases.reset_password(svc, district, unit_account.id, reason="Quên mật khẩu")
        assert reset.initial_password and reset.account.must_change_password
        assert (await usecases.throttle_state(svc, unit_account))[1].failures == 0
        signed = await usecases.sign_in(
            svc, username="xa.c", password=reset.initial_password, address="10.1.1.1", ip=None
        )
        assert signed.must_change_password
        unlocked = await usecases.unlock(svc, district, unit_account.id, reason="Mở khóa")
        assert unlocked.initial_password != reset.initial_password
        with pytest.raises(DomainError):
            await usecases.unlock(svc, district, unit_account.id, reason="  ")

        supervisor = tree.accounts["supervisor"]
        assigned = await usecases.assign_units(svc, district, supervisor.id, unit_ids=[tree.units["C"].id])
        assert assigned.assigned_units == [tree.units["C"].id] and assigned.assignment_version == 1
        with pytest.raises(DomainError):  # not in its area
            await usecases.assign_units(
                svc, Caller(tree.who["province"]), supervisor.id, unit_ids=[tree.units["C2"].id]
            )
        changed = await usecases.change_role(svc, district, supervisor.id, role="reporting_unit", reason="Điều chuyển")
        assert changed.role == "reporting_unit" and changed.assigned_units == []
        with pytest.raises(Conflict):
            await usecases.change_role(svc, district, supervisor.id, role="reporting_unit", reason="Lại")

        kinds = [e["routing_key"] for e in await tree.store.events()]
        assert kinds.count(PasswordReset.routing_key) == 2  # the reset and the unlock
        assert kinds.count(SupervisorAssigned.routing_key) == 2  # assigned, then emptied by the role change
        assert kinds[-1] == AccountRoleChanged.routing_key
        stored = await svc.uow().accounts.get(supervisor.id)
        assert stored is not None and stored.role == "reporting_unit" and stored.version == changed.version

    run(scenario())


def test_a_move_carries_the_subtree(tree: Tree) -> None:
    async def scenario() -> None:
        moved = await usecases.move_unit(
            tree.svc, Caller(tree.who["province"]), tree.units["C"].id, parent_id=tree.units["D2"].id, reason="Sắp xếp"
        )
        assert moved["moved"] == 1
        unit = await tree.svc.uow().units.get(tree.units["C"].id)
        assert unit is not None and unit.parent_id == tree.units["D2"].id
        assert unit.path == ["root", tree.units["P"].id, tree.units["D2"].id]
        assert unit.history[-1]["action"] == "moved"
        with pytest.raises(NotFound):  # D2 is not the district admin's
            await usecases.move_unit(
                tree.svc, Caller(tree.who["district"]), tree.units["C"].id, parent_id=tree.units["D"].id, reason="x"
            )

    run(scenario())


def test_a_checked_sheet_is_stored_once_by_its_issuer(tree: Tree) -> None:
    async def scenario() -> None:
        svc, province = tree.svc, Caller(tree.who["province"])
        rows = [
            {ROW: "2", "code": "178-02", "name": "Xã Hai", "level": "commune", "parent_code": "178"},
            {ROW: "3", "code": "178-02-1", "name": "Cơ quan", "level": "agency", "parent_code": "178-02"},
        ]
        checked = await usecases.check_sheet(svc, province.principal, "units", rows)
        assert [p["code"] for p in checked.preview] == ["178-02", "178-02-1"]
        assert await svc.uow().units.by_code("178-02") is None  # checked, not stored
        with pytest.raises(NotFound):  # another's staged sheet
            await usecases.commit_sheet(svc, Caller(tree.who["ministry"]), "units", checked.staged_id)
        stored = await usecases.commit_sheet(svc, province, "units", checked.staged_id)
        assert stored["created"] == 2
        assert (await svc.uow().units.by_code("178-02-1")) is not None
        with pytest.raises(NotFound):  # once
            await usecases.commit_sheet(svc, province, "units", checked.staged_id)
        bad = [{ROW: "2", "code": "178-03", "name": "Xã", "level": "commune", "parent_code": "210"}]  # Q's district
        with pytest.raises(ImportRejected):
            await usecases.check_sheet(svc, province.principal, "units", bad)

        people = [
            {ROW: "2", "username": "xa.hai", "unit_code": "178-02", "role": "reporting_unit", "display_name": "Xã Hai"}
        ]
        checked = await usecases.check_sheet(svc, province.principal, "accounts", people)
        issued = await usecases.commit_sheet(svc, province, "accounts", checked.staged_id)
        assert issued["issued"] == 1
        sheet = await usecases.import_credentials(svc, province, issued["import_id"], "csv")
        assert b"xa.hai" in sheet
        with pytest.raises(Conflict):  # the passwords leave once
            await usecases.import_credentials(svc, province, issued["import_id"], "csv")

    run(scenario())


# the one retry policy ---------------------------------------------------------------------------------
def test_a_stale_version_runs_the_use_case_again_from_its_reads(tree: Tree) -> None:
    """Another administrator renames the district between this use case's read and its commit:
    the commit meets StaleVersion, and `run` runs the use case again on the new version."""
    store, svc, unit_id = tree.store, tree.svc, tree.units["D"].id
    made: list[AccountsUnitOfWork] = []

    class Raced(AccountsUnitOfWork):
        async def commit(self, audit: Any = None) -> None:
            if len(made) == 1:  # the first attempt only: someone else gets there first
                other = AccountsUnitOfWork(store)
                unit = await other.units.get(unit_id)
                assert unit is not None
                unit.rename(tree.who["ministry"], await other.units.get("root"), "Tên khác", "Khác", svc.clock())  # type: ignore[arg-type]
                await other.commit()
            await super().commit(audit)

    def make() -> AccountsUnitOfWork:
        made.append(Raced(store))
        return made[-1]

    svc.uow = make  # type: ignore[method-assign]
    renamed = run(usecases.rename_unit(svc, Caller(tree.who["province"]), unit_id, name="Tên mới", reason="Lý do"))
    assert len(made) == 2  # read, lost, read again, won
    assert renamed.name == "Tên mới" and renamed.version == 3
    assert [h["to"] for h in renamed.history if h["action"] == "renamed"] == ["Tên khác", "Tên mới"]
    renames = [e for e in run(store.events()) if e["routing_key"] == UnitRenamed.routing_key]
    assert [e["data"]["name"] for e in renames] == ["Tên khác", "Tên mới"]


def test_a_use_case_that_keeps_losing_gives_up_with_stale_version(tree: Tree) -> None:
    store, svc, unit_id = tree.store, tree.svc, tree.units["D"].id
    tries = 0

    class AlwaysRaced(AccountsUnitOfWork):
        async def commit(self, audit: Any = None) -> None:
            nonlocal tries
            tries += 1
            other = AccountsUnitOfWork(store)
            unit = await other.units.get(unit_id)
            assert unit is not None
            unit.rename(tree.who["ministry"], await other.units.get("root"), f"Tên {tries}", "x", svc.clock())  # type: ignore[arg-type]
            await other.commit()
            await super().commit(audit)

    svc.uow = lambda: AlwaysRaced(store)  # type: ignore[method-assign]
    with pytest.raises(StaleVersion):
        run(usecases.rename_unit(svc, Caller(tree.who["province"]), unit_id, name="Tên mới", reason="Lý do"))
    assert tries == 8  # chassis.unit_of_work.TRIES
