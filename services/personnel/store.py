"""Personnel's own database (moha_personnel).

- `records`: one document per record: its entries (appended, never rewritten: the store's commit
  holds only what a change adds), its move requests, and what its entries fold to (fields, lists,
  status, unit and the unit's lineage, search keys, completeness), so that search and scores read
  one indexed collection. Protected fields (national ID, date of birth, ethnicity…) are encrypted
  wherever they stand: in the fields, in every entry, in corrections' old and new values, in a
  planned move; search and uniqueness use keyed hashes beside them (chassis/personal_data.py).
- `definitions`: the published record definitions, one document per version, never changed.
- `unique_values`: one claim per value of a unique field (a national ID), by its keyed hash.
- `changes`: the changes counted by the 5-working-day rule, one per entry, fed by personnel's own
  RecordChanged events (as approvals' progress is fed by its own): the unit that entered each,
  its lineage, when, and whether on time. Scores read it.
- `access_log`: who read which record, when, from where (Decree 13/2023).
- `imports`, `import_parts`: a sheet's records, checked whole and stored before they are applied,
  so that a crash part-way is finished at the next start."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chassis import readmodel
from chassis.errors import Conflict
from chassis.messaging import Retry
from chassis.personal_data import FieldCipher
from chassis.store import Store
from chassis.tree import UnitDirectory
from chassis.unit_of_work import Repository, UnitOfWork
from moha_contracts import RecordChanged

from .domain import search
from .domain.definitions import RecordDefinition
from .domain.model import Entry, Record, fold

RECORDS = "records"
DEFINITIONS = "definitions"
LATEST = "definitions_latest"
UNIQUE = "unique_values"
CHANGES = "changes"
ACCESS_LOG = "access_log"
IMPORTS = "imports"
IMPORT_PARTS = "import_parts"
BUNDLED = Path(__file__).resolve().parent / "definitions"
# What a list of records reads: never the entries.
SUMMARY = {"entries": 0, "moves": 0, readmodel.ORDERS: 0}


class DefinitionStore:
    """Published definitions, one document per version; read through a cache (a published version
    never changes; which version is the latest is read again after LATEST_TTL seconds, so a version
    another replica published is taken up by this one within that time)."""

    LATEST_TTL = 10.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], RecordDefinition] = {}
        self._latest: dict[str, tuple[float, int]] = {}

    async def publish_bundled(self) -> None:
        for path in sorted(BUNDLED.glob("*.json")):
            definition = RecordDefinition.model_validate_json(path.read_text(encoding="utf-8"))
            if await self.get(definition.kind, definition.version) is None:
                try:
                    await self.publish(definition)
                except Conflict:
                    pass  # another replica published it first

    async def publish(self, definition: RecordDefinition) -> None:
        latest = await self.latest_version(definition.kind)
        if definition.version != latest + 1:
            raise Conflict(f"Phiên bản mới của định nghĩa hồ sơ phải là {latest + 1}", code="version_sequence")
        try:
            await self.store[DEFINITIONS].insert_one(
                {
                    "_id": f"{definition.kind}:v{definition.version}",
                    "kind": definition.kind,
                    "version": definition.version,
                    "document": definition.model_dump_json(),
                }
            )
        except DuplicateKeyError as exc:
            raise Conflict("Phiên bản này đã được ban hành", code="version_sequence") from exc
        await self.store[LATEST].update_one(
            {"_id": definition.kind}, {"$max": {"version": definition.version}}, upsert=True
        )
        self._latest.pop(definition.kind, None)

    async def latest_version(self, kind: str) -> int:
        cached = self._latest.get(kind)
        if cached is not None and time.monotonic() - cached[0] < self.LATEST_TTL:
            return cached[1]
        doc = await self.store[LATEST].find_one({"_id": kind})
        version = doc["version"] if doc else 0
        if version:
            self._latest[kind] = (time.monotonic(), version)
        return version

    async def kinds(self) -> list[str]:
        return sorted([doc["_id"] async for doc in self.store[LATEST].find({})])

    async def get(self, kind: str, version: int) -> RecordDefinition | None:
        if (kind, version) in self._cache:
            return self._cache[(kind, version)]
        doc = await self.store[DEFINITIONS].find_one({"_id": f"{kind}:v{version}"})
        if doc is None:
            return None
        definition = self._cache[(kind, version)] = RecordDefinition.model_validate_json(doc["document"])
        return definition

    async def latest(self, kind: str) -> RecordDefinition | None:
        version = await self.latest_version(kind)
        return await self.get(kind, version) if version else None

    async def versions(self, kind: str) -> dict[int, RecordDefinition]:
        """Every published version of the kind: a record's entries each read with their own."""
        latest = await self.latest_version(kind)
        found = {v: d for v in range(1, latest + 1) if (d := await self.get(kind, v)) is not None}
        return found


class Sealed:
    """A kind's protected fields, encrypted where they are stored and opened where they are read."""

    def __init__(self, cipher: FieldCipher, versions: Mapping[int, RecordDefinition]) -> None:
        self.cipher = cipher
        latest = versions[max(versions)]
        # A field protected in any version stays protected in every entry that holds it.
        self.protected = {f.code for d in versions.values() for f in d.protected_fields()}
        self.unique = [f.code for f in latest.fields if f.unique]
        self.search = latest.search

    def seal(self, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: (self.cipher.encrypt(str(v), f"{record_id}:{k}") if k in self.protected and v is not None else v)
            for k, v in values.items()
        }

    def open(self, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: (self.cipher.decrypt(v, f"{record_id}:{k}") if k in self.protected and FieldCipher.is_sealed(v) else v)
            for k, v in values.items()
        }

    def seal_entry(self, record_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        return self._entry(record_id, entry, self.seal)

    def open_entry(self, record_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        return self._entry(record_id, entry, self.open)

    def _entry(self, record_id: str, entry: dict[str, Any], how: Any) -> dict[str, Any]:
        entry = {**entry, "values": how(record_id, entry.get("values") or {})}
        if entry.get("changes"):
            entry["changes"] = [
                {
                    **c,
                    "old": how(record_id, {c["field"]: c["old"]})[c["field"]],
                    "new": how(record_id, {c["field"]: c["new"]})[c["field"]],
                }
                if c["field"] in self.protected
                else c
                for c in entry["changes"]
            ]
        return entry

    def hash(self, field: str, value: Any) -> str:
        return self.cipher.index(str(value), field)


class RecordStore:
    def __init__(self, store: Store, definitions: DefinitionStore, tree: UnitDirectory, cipher: FieldCipher) -> None:
        self.store = store
        self.definitions = definitions
        self.tree = tree
        self.cipher = cipher
        self.records = store[RECORDS]

    async def create_indexes(self) -> None:
        r = self.records
        # An area's records by name (the lineage holds every ancestor: one equality finds a subtree).
        await r.create_index(
            [
                ("lineage", ASCENDING),
                ("kind", ASCENDING),
                ("status", ASCENDING),
                ("search.name", ASCENDING),
                ("_id", ASCENDING),
            ]
        )
        await r.create_index([("search.prefixes", ASCENDING)])
        await r.create_index([("search.birth", ASCENDING)])
        await r.create_index([("search.position", ASCENDING), ("search.name", ASCENDING)])
        await r.create_index([("unit_id", ASCENDING)])
        await self.store[CHANGES].create_index([("lineage", ASCENDING), ("entered_at", ASCENDING)])
        await self.store[CHANGES].create_index([("unit_id", ASCENDING)])
        await self.store[ACCESS_LOG].create_index([("record_ids", ASCENDING), ("at", DESCENDING)])
        await self.store[IMPORT_PARTS].create_index([("job", ASCENDING)])
        await self.store["units"].create_index("code")
        await self.store["units"].create_index("path")

    async def sealed(self, kind: str) -> Sealed:
        return Sealed(self.cipher, await self.definitions.versions(kind))

    # Records ---------------------------------------------------------------------------------
    async def get(self, record_id: str) -> Record | None:
        doc = await self.store.find(RECORDS, record_id)
        if doc is None:
            return None
        sealed = await self.sealed(doc["kind"])
        entries = [Entry.from_doc(sealed.open_entry(record_id, e)) for e in doc.get("entries", [])]
        moves = [{**m, "entry": sealed.open_entry(record_id, m["entry"])} for m in doc.get("moves", [])]
        return Record(
            id=record_id, kind=doc["kind"], unit_id=doc["unit_id"], entries=entries, moves=moves, version=doc["version"]
        )

    async def lineage(self, unit_id: str) -> list[str]:
        lineage = await self.tree.lineage(unit_id)
        if lineage is None:
            raise Conflict("Đơn vị chưa được hệ thống ghi nhận; hãy thử lại sau ít phút", code="unit_unknown")
        return lineage

    async def document(
        self, record: Record, versions: Mapping[int, RecordDefinition], sealed: Sealed
    ) -> dict[str, Any]:
        """What the record's document holds besides its entries: the fold and its keys."""
        return folded_document(record, versions, sealed, await self.lineage(record.unit_id))

    def import_doc(
        self, record: Record, versions: Mapping[int, RecordDefinition], sealed: Sealed, lineage: list[str]
    ) -> dict[str, Any]:
        """A new record's whole document, entries included (CPU only: an import runs it off the
        event loop)."""
        doc = folded_document(record, versions, sealed, lineage)
        doc["entries"] = [sealed.seal_entry(record.id, e.as_doc()) for e in record.new_entries]
        return doc

    async def insert_docs(self, items: list[tuple[str, dict[str, Any], list[RecordChanged]]]) -> int:
        """Imported records, ready as stored, each with its events; how many were new (a resumed
        import finds some there already)."""
        created = await self.store.insert_many(RECORDS, [({"_id": rid, **doc}, events) for rid, doc, events in items])
        return sum(created)

    def opened_fields(self, doc: Mapping[str, Any], sealed: Sealed) -> dict[str, Any]:
        return sealed.open(doc["_id"], doc.get("fields") or {})

    # Unique values -----------------------------------------------------------------------------
    def unique_key(self, kind: str, field: str, digest: str) -> str:
        return f"{kind}:{field}:{digest}"

    async def claim(self, keys: list[str], record_id: str) -> list[str]:
        """Claim each value for the record; the keys another record holds (nothing claimed then)."""
        claimed, taken = [], []
        for key in keys:
            try:
                await self.store[UNIQUE].insert_one({"_id": key, "record_id": record_id, "at": datetime.now(UTC)})
                claimed.append(key)
            except DuplicateKeyError:
                holder = await self.store[UNIQUE].find_one({"_id": key})
                if holder is None or holder["record_id"] != record_id:
                    taken.append(key)
        if taken:
            await self.release(claimed, record_id)
        return taken

    async def claim_many(self, claims: list[tuple[str, str]]) -> list[str]:
        """Each (value key, record id) claimed at once; the keys another record holds (and then
        nothing is kept claimed)."""
        if not claims:
            return []
        at = datetime.now(UTC)
        owners = dict(claims)
        try:
            await self.store[UNIQUE].insert_many(
                [{"_id": k, "record_id": r, "at": at} for k, r in claims], ordered=False
            )
            return []
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
            duplicates = [claims[e["index"]][0] for e in exc.details["writeErrors"]]
        holders = {d["_id"]: d["record_id"] async for d in self.store[UNIQUE].find({"_id": {"$in": duplicates}})}
        taken = [k for k in duplicates if holders.get(k) != owners[k]]
        if taken:
            mine = [k for k, _ in claims if k not in set(duplicates)]
            await self.store[UNIQUE].delete_many({"_id": {"$in": mine}})
        return taken

    async def release(self, keys: list[str], record_id: str) -> None:
        for key in keys:
            await self.store[UNIQUE].delete_one({"_id": key, "record_id": record_id})

    async def taken(self, keys: list[str]) -> set[str]:
        return {doc["_id"] async for doc in self.store[UNIQUE].find({"_id": {"$in": keys}})}

    # Search ----------------------------------------------------------------------------------
    def find(self, query: dict[str, Any], *, skip: int = 0, limit: int = 50) -> AsyncIterator[dict[str, Any]]:
        return (
            self.records.find(query, SUMMARY)
            .sort([("search.name", ASCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )

    async def count(self, query: dict[str, Any], cap: int) -> int:
        return await self.records.count_documents(query, limit=cap)

    async def follow_unit_move(self, unit_id: str) -> None:
        """A unit moved in the tree: its records and changes are counted in its new area. They take
        the lineage the tree holds now, with its order: a move handled late, or two at once, leave
        the newest (chassis/readmodel.py)."""
        place = await self.tree.place(unit_id)
        if place is None:
            raise Retry(f"unit {unit_id} not known yet")
        lineage, order = place
        await readmodel.apply_many(self.records, {"unit_id": unit_id}, "lineage", order, {"lineage": lineage})
        await readmodel.apply_many(self.store[CHANGES], {"unit_id": unit_id}, "lineage", order, {"lineage": lineage})

    # The 5-working-day rule's changes --------------------------------------------------------
    async def record_change(self, event: RecordChanged) -> None:
        """Keep a change the rule counts, keyed by entry; a correction re-counts the entry it
        corrects. The count is the one of the highest `seq` seen (the latest correction), in
        whatever order the original and its corrections come (chassis/readmodel.py)."""
        if not event.timed or event.on_time is None:
            return
        changes = self.store[CHANGES]
        count = {"working_days": event.working_days, "on_time": event.on_time}
        if event.corrects:
            await readmodel.apply(changes, event.corrects, "=seq", event.seq, count)
            return
        doc = await self.store.find(RECORDS, event.record_id)
        entry = next((e for e in (doc or {}).get("entries", []) if e["entry_id"] == event.entry_id), None)
        if entry is None:
            raise Retry(f"entry {event.entry_id} of record {event.record_id} not stored yet")
        place = await self.tree.place(event.unit_id)
        if place is None:
            raise Retry(f"unit {event.unit_id} not known yet")
        lineage, order = place
        await readmodel.apply(
            changes,
            event.entry_id,
            "=seq",
            event.seq,
            count,
            facts={
                "record_id": event.record_id,
                "record_kind": event.record_kind,
                "unit_id": event.unit_id,
                "process": event.process,
                "entered_at": entry["entered_at"],
                "document": entry.get("document"),
                "effective_on": entry.get("effective_on"),
            },
        )
        await readmodel.apply(changes, event.entry_id, "lineage", order, {"lineage": lineage})

    def changes(self, query: dict[str, Any], projection: dict[str, Any] | None = None) -> Any:
        return self.store[CHANGES].find(query, projection)

    # Who read what ---------------------------------------------------------------------------
    async def log_access(
        self,
        *,
        account_id: str,
        unit_id: str,
        role: str,
        action: str,
        record_ids: list[str],
        ip: str | None,
        area: str | None = None,
        count: int | None = None,
    ) -> None:
        await self.store[ACCESS_LOG].insert_one(
            {
                "_id": uuid.uuid4().hex,
                "at": datetime.now(UTC),
                "account_id": account_id,
                "unit_id": unit_id,
                "role": role,
                "action": action,
                "record_ids": record_ids,
                "area": area,
                "count": count,
                "ip": ip,
            }
        )

    async def access_log(self, record_id: str, limit: int = 200) -> list[dict[str, Any]]:
        cursor = (
            self.store[ACCESS_LOG]
            .find({"record_ids": record_id}, {"record_ids": 0})
            .sort([("at", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    # Imports ---------------------------------------------------------------------------------
    async def save_import(self, job: dict[str, Any], parts: list[list[dict[str, Any]]]) -> None:
        for index, part in enumerate(parts):
            await self.store[IMPORT_PARTS].insert_one(
                {"_id": f"{job['_id']}:{index}", "job": job["_id"], "index": index, "records": part}
            )
        await self.store[IMPORTS].insert_one(job)

    async def import_parts(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        async for part in self.store[IMPORT_PARTS].find({"job": job_id}).sort([("index", ASCENDING)]):
            yield part

    async def finish_import(self, job_id: str, **fields: Any) -> None:
        await self.store[IMPORTS].update_one({"_id": job_id}, {"$set": {"status": "done", **fields}})
        # The records hold the data now: the sheet's copy of it goes.
        await self.store[IMPORT_PARTS].delete_many({"job": job_id})

    async def unfinished_imports(self) -> list[dict[str, Any]]:
        return [job async for job in self.store[IMPORTS].find({"status": "applying"})]


def folded_document(
    record: Record, versions: Mapping[int, RecordDefinition], sealed: Sealed, lineage: list[str]
) -> dict[str, Any]:
    state = fold(record.entries, versions)
    latest = versions[max(versions)]
    filled, required = latest.completeness(state.fields)
    keys = search.keys(latest, state.fields)
    if "birth_date" in keys:
        keys["birth"] = sealed.hash(latest.search.birth_date or "", keys.pop("birth_date"))
    return {
        "kind": record.kind,
        "unit_id": record.unit_id,
        "lineage": lineage,
        "status": state.status,
        "fields": sealed.seal(record.id, state.fields),
        "lists": state.lists,
        "search": keys,
        "completeness": {"filled": filled, "required": required},
        "last_change_at": state.last_change_at,
        "seq": len(record.entries),
        "moves": [{**m, "entry": sealed.seal_entry(record.id, m["entry"])} for m in record.moves],
    }


class _SameSeal:
    """The cipher, sealing one value the same way each time it is asked within one unit of work:
    a record's document is compared with what it was when loaded (chassis/unit_of_work.py), and a
    fresh nonce per sealing would make every loaded record look changed."""

    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher
        self._sealed: dict[tuple[str, str], str] = {}

    def encrypt(self, value: str, context: str) -> str:
        key = (value, context)
        if key not in self._sealed:
            self._sealed[key] = self._cipher.encrypt(value, context)
        return self._sealed[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cipher, name)


class RecordRepository(Repository[Record]):
    """Officials' records: each stored as what its entries fold to (sealed, with its search keys
    and its unit's lineage), its entries pushed as they are added (`appended`). What the fold needs
    (the kind's definitions, the unit's lineage) is loaded before the record is tracked or saved."""

    collection = RECORDS

    def __init__(self, uow: UnitOfWork, records: RecordStore) -> None:
        super().__init__(uow)
        self.records = records
        self.cipher = _SameSeal(records.cipher)
        self._versions: dict[str, dict[int, RecordDefinition]] = {}
        self._lineages: dict[str, list[str]] = {}

    async def prepare(self, record: Record) -> None:
        """Load what folding this record needs (its unit may have changed: a move)."""
        if record.kind not in self._versions:
            self._versions[record.kind] = await self.records.definitions.versions(record.kind)
        if record.unit_id not in self._lineages:
            self._lineages[record.unit_id] = await self.records.lineage(record.unit_id)

    def sealed(self, kind: str) -> Sealed:
        return Sealed(self.cipher, self._versions[kind])  # type: ignore[arg-type]

    def to_document(self, aggregate: Record) -> dict[str, Any]:
        return folded_document(
            aggregate, self._versions[aggregate.kind], self.sealed(aggregate.kind), self._lineages[aggregate.unit_id]
        )

    def appended(self, aggregate: Record) -> dict[str, list[Any]]:
        if not aggregate.new_entries:
            return {}
        sealed = self.sealed(aggregate.kind)
        return {"entries": [sealed.seal_entry(aggregate.id, e.as_doc()) for e in aggregate.new_entries]}

    def saved(self, aggregate: Record) -> None:
        aggregate.new_entries.clear()

    async def get(self, aggregate_id: Any) -> Record | None:
        tracked = self.uow.tracked(self.collection, aggregate_id)
        if tracked is not None:
            return tracked
        record = await self.records.get(aggregate_id)
        if record is None:
            return None
        await self.prepare(record)
        return self.seen(record)

    async def exists(self, record_id: str) -> bool:
        return await self.store.find(RECORDS, record_id) is not None


class PersonnelUnitOfWork(UnitOfWork):
    def __init__(self, store: Store, records: RecordStore) -> None:
        super().__init__(store)
        self.records = RecordRepository(self, records)
        # Not versioned, written through their own methods: unique values' claims, imports, the
        # changes read model, the access log.
        self.documents = records

    async def commit(self, audit: Any = None) -> None:
        for _, aggregate, _ in list(self._tracked.values()):
            await self.records.prepare(aggregate)  # a new record, or one moved to another unit
        await super().commit(audit)
