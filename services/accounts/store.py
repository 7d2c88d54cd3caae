"""Accounts' own database: units and accounts (aggregates, through the repositories `Units` and
`Accounts` of an `AccountsUnitOfWork`), the unique-name claims, sheets' jobs, sign-in counters,
the administrators' read queries and the audit trail (the chassis' chain: chassis/audit.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from chassis.audit import CHAIN, AuditChain, AuditEntry
from chassis.logging import get_logger
from chassis.store import AlreadyExists, Store
from chassis.unit_of_work import Repository, UnitOfWork

from .domain.model import Account, Unit, duplicate
from .domain.throttle import Counter, Key

log = get_logger("accounts.store")

UNITS = "units"
ACCOUNTS = "accounts"
# Entries written before the chain (issue #11 item 14): adopted into it at start, once.
LEGACY_AUDIT = "audit"
IMPORTS = "imports"
# A sheet's initial passwords, apart from its job (whose commit is kept for ever), until downloaded.
IMPORT_CREDENTIALS = "import_credentials"
# Sign-in throttle counters, one small document per key (domain/throttle.py), read by _id.
THROTTLE = "sign_in_throttle"
# Unique names are claimed by inserting a document keyed by the name: inserts are the only atomic
# step on FerretDB 1.24 (see chassis/store.py), so the claim, not an index on the unit, decides.
UNIT_CODES = "unit_codes"
USERNAMES = "usernames"
CREDENTIALS_TAKEN = "credentials_taken"
# The last successful sign-in of each account, by _id: what "never signed in" is read from.
SIGN_INS = "sign_ins"
# Sheets checked and waiting for their issuer's go-ahead (imports checked before anything is stored).
STAGED = "staged_sheets"


class AccountsStore:
    def __init__(self, store: Store, chain: AuditChain | None = None) -> None:
        self.store = store
        self.chain = chain or AuditChain(store)

    async def create_indexes(self) -> None:
        await self.store[UNITS].create_index("code")
        await self.store[UNITS].create_index("path")  # a subtree, for administrators' lists
        await self.store[UNITS].create_index("parent_id")
        await self.store[ACCOUNTS].create_index("unit_id")
        await self.store[THROTTLE].create_index("account_id")
        await self.chain.reading_indexes()  # GET /audit: an area's entries, newest first

    async def claim(self, collection: str, key: str, owner: str) -> bool:
        """True if `owner` holds the name now (it took it, or already had it)."""
        try:
            await self.store[collection].insert_one({"_id": key, "owner": owner, "at": datetime.now(UTC)})
            return True
        except DuplicateKeyError:
            held = await self.store[collection].find_one({"_id": key})
            return held is not None and held["owner"] == owner

    async def unclaim(self, collection: str, keys: list[str]) -> None:
        for key in keys:
            await self.store[collection].delete_one({"_id": key})

    async def take_name(self, collection: str, key: str, owner: str, what: str, *, resumed: bool = False) -> None:
        await take_name(self.store, collection, key, owner, what, resumed=resumed)

    async def units_by_code(self, codes: set[str]) -> dict[str, Unit]:
        """The units of these codes, to check a sheet against (read, not tracked: nothing is saved)."""
        claims = await asyncio.gather(*(self.store[UNIT_CODES].find_one({"_id": c}) for c in codes))
        found = await self.units_by_id([c["owner"] for c in claims if c is not None])
        return {u.code: u for u in found.values()}

    async def taken_usernames(self, usernames: set[str]) -> set[str]:
        claims = await asyncio.gather(*(self.store[USERNAMES].find_one({"_id": u}) for u in usernames))
        return {c["_id"] for c in claims if c is not None}

    async def children(self, unit_id: str) -> list[Unit]:
        """The units directly under one, by code."""
        found = [_unit(d) async for d in self.store[UNITS].find({"parent_id": unit_id})]
        return sorted(found, key=lambda u: u.code)

    async def active_children(self, unit_id: str) -> int:
        return await self.store[UNITS].count_documents({"parent_id": unit_id, "status": {"$ne": "retired"}})

    # imports ------------------------------------------------------------------------------
    async def save_import(self, job: dict[str, Any], audit: AuditEntry | None = None) -> None:
        """The job, whole, with the audit entry of the import (or move) in its commit. Its initial
        passwords are kept apart first: a commit is kept for ever, they only until downloaded."""
        credentials = job.pop("credentials", None)
        if credentials is not None:
            await self.store[IMPORT_CREDENTIALS].insert_one({"_id": job["_id"], "rows": credentials})
        await self.store.insert(IMPORTS, job, audit=audit)

    async def get_import(self, import_id: str) -> dict[str, Any] | None:
        return await self.store[IMPORTS].find_one({"_id": import_id})

    async def import_credentials(self, import_id: str) -> list[dict[str, Any]] | None:
        kept = await self.store[IMPORT_CREDENTIALS].find_one({"_id": import_id})
        if kept is not None:
            return kept["rows"]
        job = await self.get_import(import_id)  # a job stored before they were kept apart
        return None if job is None else job.get("credentials")

    async def take_credentials(self, import_id: str, taker: str, audit: AuditEntry) -> bool:
        """Claim the one download of a sheet's initial passwords, with its audit entry, in one
        write: of two downloads at once, one gets them and is audited."""
        try:
            await self.store.insert(
                CREDENTIALS_TAKEN, {"_id": import_id, "owner": taker, "at": datetime.now(UTC)}, audit=audit
            )
        except AlreadyExists:
            return False
        return True

    async def forget_credentials(self, import_id: str) -> None:
        await self.store[IMPORT_CREDENTIALS].delete_one({"_id": import_id})
        await self.set_import(import_id, credentials=None, credentials_taken_at=datetime.now(UTC))

    async def resume_imports(self) -> list[dict[str, Any]]:
        """The jobs to finish at start, those whose writer died before storing them included."""
        await self.store.apply_pending(IMPORTS)
        return await self.unfinished_imports()

    async def set_import(self, import_id: str, **fields: Any) -> None:
        await self.store[IMPORTS].update_one({"_id": import_id}, {"$set": fields})

    async def unfinished_imports(self) -> list[dict[str, Any]]:
        return [j async for j in self.store[IMPORTS].find({"status": "applying"})]

    # audit --------------------------------------------------------------------------------
    async def record(self, entry: AuditEntry) -> None:
        """The entry of an action that changes nothing stored (a sign-in, a download)."""
        await self.store.record(entry)

    async def _chain_caught_up(self) -> None:
        # What was committed before the question is chained first, whichever replica wrote it;
        # if that fails now, the relay chains it soon and the trail is read as it stands.
        try:
            await self.chain.catch_up()
        except Exception as exc:  # noqa: BLE001 - reading must not fail because chaining did
            log.warning("audit trail read before catching up", error=str(exc))

    async def audit_trail(
        self, admin_unit_id: str, limit: int = 200, skip: int = 0, **filters: Any
    ) -> list[dict[str, Any]]:
        await self._chain_caught_up()
        cursor = (
            self.store[CHAIN]
            .find(_audit_query(admin_unit_id, **filters))
            .sort([("at", -1), ("_id", -1)])
            .skip(skip)
            .limit(limit)
        )
        return [e async for e in cursor]

    async def audit_count(self, admin_unit_id: str, **filters: Any) -> int:
        await self._chain_caught_up()  # counted as it will be listed
        return await self.store[CHAIN].count_documents(_audit_query(admin_unit_id, **filters))

    async def adopt_legacy_audit(self) -> int:
        return await self.chain.adopt(LEGACY_AUDIT)

    # sign-in throttle ---------------------------------------------------------------------
    async def counters(self, keys: list[str]) -> dict[str, Counter]:
        # One lookup by _id alone each: the only lookup FerretDB does not answer by a scan (0002).
        found = await asyncio.gather(*(self.counter(k) for k in keys))
        return dict(zip(keys, found, strict=True))

    async def counter(self, key: str) -> Counter:
        return _counter(await self.store[THROTTLE].find_one({"_id": key}))

    async def swap_counter(self, key: Key, expected: Counter, new: Counter) -> bool:
        """Compare-and-set on `seq`: one atomic single-document write, so replicas counting the same
        key at once never lose a count (MongoDB; on FerretDB see docs/decisions/0010)."""
        fields = {
            "failures": new.failures,
            "last_failure_at": new.last_failure_at,
            "blocked_until": new.blocked_until,
            "known": list(new.known),
            "seq": new.seq,
            "account_id": key.account_id,
        }
        if expected.seq == 0:
            try:
                await self.store[THROTTLE].insert_one({"_id": key.id, **fields})
                return True
            except DuplicateKeyError:
                return False
        result = await self.store[THROTTLE].update_one({"_id": key.id, "seq": expected.seq}, {"$set": fields})
        return result.modified_count == 1

    async def clear_counters(self, account_id: str) -> None:
        """Every counter of the account (from anywhere, and from each address)."""
        await self.store[THROTTLE].delete_many({"account_id": account_id})

    # what administrators' lists read: a subtree's units and accounts in a few queries ---------
    async def subtree_units(self, area_id: str, *, parent_id: str | None = None) -> list[Unit]:
        """The units under `area_id` (not itself), or only those directly under `parent_id`, without
        their history (a list never shows it, and it is most of a renamed unit's document)."""
        query = {"parent_id": parent_id} if parent_id else {"path": area_id}
        return [_unit(d) async for d in self.store[UNITS].find(query, {"history": 0})]

    async def units_by_id(self, unit_ids: list[str]) -> dict[str, Unit]:
        return {d["_id"]: _unit(d) async for d in self.store[UNITS].find({"_id": {"$in": unit_ids}}, {"history": 0})}

    async def child_counts(self, unit_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for d in self.store[UNITS].find({"parent_id": {"$in": unit_ids}}, {"parent_id": 1}):
            counts[d["parent_id"]] = counts.get(d["parent_id"], 0) + 1
        return counts

    async def accounts_of_units(self, unit_ids: list[str]) -> list[Account]:
        """The units' accounts, to list them: without their password hash (never needed to list)."""
        found = []
        for start in range(0, len(unit_ids), 1000):
            async for doc in self.store[ACCOUNTS].find(
                {"unit_id": {"$in": unit_ids[start : start + 1000]}}, {"password_hash": 0}
            ):
                found.append(Account(id=doc["_id"], version=doc["version"], **{k: doc.get(k) for k in _ACCOUNT_FIELDS}))
        return found

    async def active_accounts_per_unit(self, unit_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for doc in self.store[ACCOUNTS].find({"unit_id": {"$in": unit_ids}, "status": "active"}, {"unit_id": 1}):
            counts[doc["unit_id"]] = counts.get(doc["unit_id"], 0) + 1
        return counts

    async def accounts_by_id(self, account_ids: list[str]) -> dict[str, Account]:
        return {
            a.id: a
            for a in [
                Account(id=d["_id"], version=d["version"], **{k: d.get(k) for k in _ACCOUNT_FIELDS})
                async for d in self.store[ACCOUNTS].find({"_id": {"$in": account_ids}}, {"password_hash": 0})
            ]
        }

    async def account_counters(self, account_ids: list[str]) -> dict[str, Counter]:
        """Each account's sign-in counter from anywhere (domain/throttle.py), in one query."""
        keys = [f"account:{a}" for a in account_ids]
        found = {d["_id"]: _counter(d) async for d in self.store[THROTTLE].find({"_id": {"$in": keys}})}
        return {a: found.get(f"account:{a}", Counter()) for a in account_ids}

    async def signed_in(self, account_id: str, at: datetime) -> None:
        await self.store[SIGN_INS].update_one({"_id": account_id}, {"$set": {"at": at}}, upsert=True)

    async def last_sign_ins(self, account_ids: list[str]) -> dict[str, datetime]:
        return {d["_id"]: d["at"] async for d in self.store[SIGN_INS].find({"_id": {"$in": account_ids}})}

    # sheets checked, waiting to be stored ------------------------------------------------------
    async def stage_sheet(self, kind: str, by: str, rows: list[dict[str, str]], keep: timedelta) -> str:
        """Keep a checked sheet's rows for its issuer to store with one more click (as pairs: a
        sheet's column names are not safe document keys). Sheets older than `keep` are dropped."""
        now = datetime.now(UTC)
        await self.store[STAGED].delete_many({"at": {"$lt": now - keep}})
        staged_id = uuid.uuid4().hex
        await self.store[STAGED].insert_one(
            {"_id": staged_id, "kind": kind, "by": by, "at": now, "rows": [list(r.items()) for r in rows]}
        )
        return staged_id

    async def take_staged(self, staged_id: str, kind: str, by: str, keep: timedelta) -> list[dict[str, str]] | None:
        """The staged sheet's rows, once: taking it deletes it (two clicks store it once)."""
        doc = await self.store[STAGED].find_one_and_delete({"_id": staged_id, "kind": kind, "by": by})
        if doc is None or doc["at"] < datetime.now(UTC) - keep:
            return None
        return [dict(pairs) for pairs in doc["rows"]]


def _unit(doc: dict[str, Any]) -> Unit:
    return Unit(
        doc["_id"],
        doc["code"],
        doc["name"],
        doc["level"],
        doc["parent_id"],
        doc["path"],
        status=doc.get("status", "active"),
        merged_into=doc.get("merged_into"),
        history=doc.get("history", []),
        registered_at=doc.get("registered_at"),
        version=doc["version"],
    )


def _audit_query(
    admin_unit_id: str,
    *,
    actor: str | None = None,
    action: str | None = None,
    unit: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """What an administrator sees (its subtree), narrowed by who, what, where and when."""
    query: dict[str, Any] = {"unit_lineage": {"$all": [admin_unit_id, unit]} if unit else admin_unit_id}
    if actor:
        query["$or"] = [{"actor_username": actor.lower()}, {"actor_id": actor}]
    if action:
        query["action"] = action
    if target:
        query["target_id"] = target
    if since or until:
        query["at"] = {**({"$gte": since} if since else {}), **({"$lt": until} if until else {})}
    return query


_ACCOUNT_FIELDS = [f for f in Account.__dataclass_fields__ if f not in ("id", "version", "events")]


def _counter(doc: dict[str, Any] | None) -> Counter:
    if doc is None:
        return Counter()
    return Counter(
        failures=doc["failures"],
        last_failure_at=doc.get("last_failure_at"),
        blocked_until=doc.get("blocked_until"),
        known=tuple(doc.get("known") or ()),
        seq=doc["seq"],
    )


def _account_fields(account: Account) -> dict[str, Any]:
    data = asdict(account)  # deep copies: compared by the unit of work as the account changes
    return {k: data[k] for k in _ACCOUNT_FIELDS}


# Aggregates: loaded, tracked and saved by a unit of work (chassis/unit_of_work.py) --------------------
async def take_name(store: Store, collection: str, key: str, owner: str, what: str, *, resumed: bool = False) -> None:
    """Take a unique name (a unit code, a username) for `owner`, before the aggregate that bears it
    is committed; with `resumed`, a name the same owner took before is fine (an import resumed
    after a crash). A name taken by another is a 409 `duplicate`."""
    try:
        await store[collection].insert_one({"_id": key, "owner": owner, "at": datetime.now(UTC)})
    except DuplicateKeyError as exc:
        if resumed:
            claim = await store[collection].find_one({"_id": key})
            if claim is not None and claim["owner"] == owner:
                return
        raise duplicate(what, key) from exc


class Units(Repository[Unit]):
    collection = UNITS

    def to_document(self, aggregate: Unit) -> dict[str, Any]:
        # Copies: the unit of work compares them with the aggregate's lists as they change.
        return {
            "code": aggregate.code,
            "name": aggregate.name,
            "level": aggregate.level,
            "parent_id": aggregate.parent_id,
            "path": list(aggregate.path),
            "status": aggregate.status,
            "merged_into": aggregate.merged_into,
            "history": [dict(h) for h in aggregate.history],
            "registered_at": aggregate.registered_at,
        }

    def from_document(self, doc: dict[str, Any]) -> Unit:
        return _unit(doc)

    async def by_code(self, code: str) -> Unit | None:
        claim = await self.store[UNIT_CODES].find_one({"_id": code})
        return None if claim is None else await self.get(claim["owner"])

    async def descendants(self, unit_id: str) -> list[Unit]:
        return [self.seen(_unit(d)) async for d in self.store[UNITS].find({"path": unit_id})]


class Accounts(Repository[Account]):
    collection = ACCOUNTS

    def to_document(self, aggregate: Account) -> dict[str, Any]:
        return _account_fields(aggregate)

    def from_document(self, doc: dict[str, Any]) -> Account:
        fields: dict[str, Any] = {k: doc.get(k) for k in _ACCOUNT_FIELDS}
        return Account(id=doc["_id"], version=doc["version"], **fields)

    async def by_username(self, username: str) -> Account | None:
        claim = await self.store[USERNAMES].find_one({"_id": username})
        return None if claim is None else await self.get(claim["owner"])


class AccountsUnitOfWork(UnitOfWork):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.units = Units(self)
        self.accounts = Accounts(self)

    async def take_name(self, collection: str, key: str, owner: str, what: str, *, resumed: bool = False) -> None:
        await take_name(self.store, collection, key, owner, what, resumed=resumed)
