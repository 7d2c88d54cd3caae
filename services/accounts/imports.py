"""Changes that touch many documents, made whole: a sheet of units or accounts, a unit moved with
all its descendants. Everything is checked first, then one job is stored whole, then applied. A
crash part-way leaves the job, and the service finishes it when it starts again: nothing is ever
half-done."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chassis.audit import AuditEntry
from chassis.auth import Principal
from chassis.errors import Conflict, NotFound
from chassis.logging import get_logger
from chassis.sheets import ROW, write_csv, write_xlsx
from chassis.store import AlreadyExists
from chassis.unit_of_work import run

from .domain import imports, model
from .domain.model import Unit
from .store import UNIT_CODES, USERNAMES, AccountsStore, AccountsUnitOfWork

log = get_logger("accounts.imports")

CREDENTIALS_HEADER = ["Tên đăng nhập", "Mật khẩu ban đầu", "Vai trò", "Mã đơn vị", "Tên đơn vị"]


class Importer:
    def __init__(self, accounts: AccountsStore, hash_password: Any, make_uow: Callable[[], AccountsUnitOfWork]) -> None:
        self.accounts = accounts
        self.hash_password = hash_password
        self.make_uow = make_uow

    async def import_units(
        self, actor: Principal, actor_unit: Unit, rows: list[dict[str, str]], audit: AuditEntry | None = None
    ) -> dict[str, Any]:
        codes = {r.get("code", "") for r in rows} | {r.get("parent_code", "") for r in rows}
        existing = await self.accounts.units_by_code({c for c in codes if c})
        planned = imports.plan_units(actor, actor_unit, rows, existing)
        # Reserve every code before storing the job, so applying it cannot meet a taken one.
        await self._reserve(
            UNIT_CODES, [(u.code, u.id) for u in planned], {r.get("code", ""): i for i, r in enumerate(rows, start=2)}
        )
        job = self._job("units", actor, units=[_unit_doc(u) for u in planned])
        await self.accounts.save_import(job, _audited(audit, import_id=job["_id"], created=len(planned)))
        await self.apply(job)
        return {"import_id": job["_id"], "created": len(planned)}

    async def import_accounts(
        self, actor: Principal, actor_unit: Unit, rows: list[dict[str, str]], audit: AuditEntry | None = None
    ) -> dict[str, Any]:
        units = await self.accounts.units_by_code({r["unit_code"] for r in rows if r.get("unit_code")})
        taken = await self.accounts.taken_usernames({r["username"].lower() for r in rows if r.get("username")})
        plans = imports.plan_accounts(actor, actor_unit, rows, units, taken)
        await self._reserve(
            USERNAMES,
            [(p.username, imports.account_id_for(p.username)) for p in plans],
            {p.username: p.row for p in plans},
        )
        passwords = [model.new_initial_password() for _ in plans]
        hashes = await asyncio.gather(*(self.hash_password(p) for p in passwords))
        job = self._job(
            "accounts",
            actor,
            accounts=[
                {
                    "account_id": imports.account_id_for(p.username),
                    "username": p.username,
                    "unit_id": p.unit.id,
                    "role": p.role,
                    "display_name": p.display_name,
                    "email": p.email,
                    "password_hash": h,
                }
                for p, h in zip(plans, hashes, strict=True)
            ],
            # Kept until the issuer downloads them, once; then only the hashes remain.
            credentials=[
                {
                    "username": p.username,
                    "password": pw,
                    "role": p.role,
                    "unit_code": p.unit.code,
                    "unit_name": p.unit.name,
                }
                for p, pw in zip(plans, passwords, strict=True)
            ],
        )
        await self.accounts.save_import(job, _audited(audit, import_id=job["_id"], issued=len(plans)))
        await self.apply(job)
        return {
            "import_id": job["_id"],
            "issued": len(plans),
            "credentials": f"/accounts/imports/{job['_id']}/credentials",
        }

    async def check_units(self, actor: Principal, actor_unit: Unit, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        """What a units sheet would create, checked exactly as importing it checks it, storing
        nothing (ImportRejected with every bad row otherwise)."""
        codes = {r.get("code", "") for r in rows} | {r.get("parent_code", "") for r in rows}
        existing = await self.accounts.units_by_code({c for c in codes if c})
        planned = imports.plan_units(actor, actor_unit, rows, existing)
        by_code = {r.get("code", ""): r for r in rows}
        return [
            {
                "row": int(by_code[u.code].get(ROW, 0)),
                "code": u.code,
                "name": u.name,
                "level": u.level,
                "parent_code": by_code[u.code].get("parent_code", ""),
            }
            for u in planned
        ]

    async def check_accounts(
        self, actor: Principal, actor_unit: Unit, rows: list[dict[str, str]]
    ) -> list[dict[str, Any]]:
        """What an accounts sheet would issue, checked as issuing it checks it; nothing is stored
        and no password made."""
        units = await self.accounts.units_by_code({r["unit_code"] for r in rows if r.get("unit_code")})
        taken = await self.accounts.taken_usernames({r["username"].lower() for r in rows if r.get("username")})
        plans = imports.plan_accounts(actor, actor_unit, rows, units, taken)
        return [
            {
                "row": p.row,
                "username": p.username,
                "unit_code": p.unit.code,
                "unit_name": p.unit.name,
                "role": p.role,
                "display_name": p.display_name,
                "email": p.email,
            }
            for p in plans
        ]

    async def move_unit(
        self, actor: Principal, plan: list[tuple[str, str, list[str]]], reason: str, audit: AuditEntry | None = None
    ) -> dict[str, Any]:
        """Store a planned move (model.plan_move) as one job, then apply it."""
        job = self._job(
            "move", actor, reason=reason, moves=[{"unit_id": u, "parent_id": p, "path": path} for u, p, path in plan]
        )
        await self.accounts.save_import(job, _audited(audit, job_id=job["_id"], moved=len(plan)))
        await self.apply(job)
        return {"job_id": job["_id"], "moved": len(plan)}

    async def apply(self, job: dict[str, Any]) -> None:
        if job["kind"] == "move":
            for move in job["moves"]:  # the unit, then parents before children
                await self._move(move, job)
        elif job["kind"] == "units":
            for doc in job["units"]:  # parents before children
                unit = Unit(doc["id"], doc["code"], doc["name"], doc["level"], doc["parent_id"], doc["path"])
                unit.events.append(model.registered_event(unit))
                await self._create(UNIT_CODES, unit.code, unit, "Mã đơn vị")
        else:
            for doc in job["accounts"]:
                account = model.issue_account(
                    _by(job),
                    Unit(doc["unit_id"], "", "", "", None, []),
                    username=doc["username"],
                    role=doc["role"],
                    display_name=doc["display_name"],
                    email=doc["email"],
                    password_hash=doc["password_hash"],
                    account_id=doc["account_id"],
                )
                await self._create(USERNAMES, account.username, account, "Tên đăng nhập")
        await self.accounts.set_import(job["_id"], status="done", finished_at=datetime.now(UTC))

    async def _reserve(self, collection: str, names: list[tuple[str, str]], rows: dict[str, int]) -> None:
        """Claim every name for its planned owner; if one is taken meanwhile, give back the others
        and reject the sheet, storing nothing."""
        taken: list[imports.RowError] = []
        claimed: list[str] = []
        for name, owner in names:
            if await self.accounts.claim(collection, name, owner):
                claimed.append(name)
            else:
                taken.append(
                    imports.RowError(
                        rows.get(name, 0),
                        "code" if collection == UNIT_CODES else "username",
                        f"'{name}' vừa được dùng ở nơi khác",
                    )
                )
        if taken:
            await self.accounts.unclaim(collection, claimed)
            raise imports.ImportRejected(taken)

    async def _create(self, names: str, name: str, aggregate: Unit | model.Account, what: str) -> None:
        """Create a planned unit or account; creating it again (a resumed import) changes nothing."""
        await self.accounts.take_name(names, name, aggregate.id, what, resumed=True)
        uow = self.make_uow()
        (uow.units if isinstance(aggregate, Unit) else uow.accounts).add(aggregate)  # type: ignore[arg-type]
        try:
            await uow.commit()
        except AlreadyExists:
            pass

    async def _move(self, move: dict[str, Any], job: dict[str, Any]) -> None:
        async def move_one(uow: AccountsUnitOfWork) -> None:
            unit = await uow.units.get(move["unit_id"])
            if unit is None or (unit.parent_id == move["parent_id"] and unit.path == move["path"]):
                return  # gone, or moved already (a resumed job)
            unit.moved(move["parent_id"], move["path"], job["reason"], job["by"], datetime.now(UTC))
            await uow.commit()

        # Renamed meanwhile: read again (the one retry policy); if it keeps changing, the job stays
        # and is finished at the next start.
        await run(self.make_uow, move_one)

    async def resume(self) -> None:
        """At start: finish what a crash interrupted."""
        for job in await self.accounts.resume_imports():
            log.warning("finishing an interrupted import", import_id=job["_id"], kind=job["kind"])
            try:
                await self.apply(job)
            except Exception as exc:  # noqa: BLE001 - one bad job must not keep accounts from starting
                log.error("interrupted import could not be finished", import_id=job["_id"], error=str(exc))

    async def credentials(self, actor: Principal, import_id: str, fmt: str, audit: AuditEntry) -> bytes:
        job = await self.accounts.get_import(import_id)
        if job is None or job["kind"] != "accounts" or job["by"] != actor.account_id:
            raise NotFound("Không tìm thấy đợt cấp tài khoản")
        credentials = await self.accounts.import_credentials(import_id)
        # The claim (an insert, with its audit entry) decides which of two simultaneous downloads
        # gets the passwords.
        taken = credentials is None
        if credentials is not None:
            audit.details.update(import_id=import_id, accounts=len(credentials))
            taken = not await self.accounts.take_credentials(import_id, actor.account_id, audit)
        if taken or credentials is None:
            raise Conflict("Danh sách mật khẩu ban đầu chỉ tải được một lần và đã được tải", code="already_taken")
        await self.accounts.forget_credentials(import_id)
        rows = [[c["username"], c["password"], c["role"], c["unit_code"], c["unit_name"]] for c in credentials]
        if fmt == "csv":
            return write_csv(CREDENTIALS_HEADER, rows)
        return write_xlsx("Tài khoản", CREDENTIALS_HEADER, rows)

    @staticmethod
    def _job(kind: str, actor: Principal, **content: Any) -> dict[str, Any]:
        return {
            "_id": uuid.uuid4().hex,
            "kind": kind,
            "by": actor.account_id,
            "by_unit": actor.unit_id,
            "at": datetime.now(UTC),
            "status": "applying",
            **content,
        }


def _audited(audit: AuditEntry | None, **details: Any) -> AuditEntry | None:
    """The route's entry, completed with what only the job knows (its id, how many)."""
    if audit is not None:
        audit.details.update(details)
    return audit


def _by(job: dict[str, Any]) -> Principal:
    return Principal(job["by"], "", job["by_unit"], "")


def _unit_doc(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "code": unit.code,
        "name": unit.name,
        "level": unit.level,
        "parent_id": unit.parent_id,
        "path": unit.path,
    }
