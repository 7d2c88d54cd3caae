"""The store: one MongoDB database per service, reached through PyMongo's async API.

Every change is first an insert into `commits`, keyed `<collection>:<id>:<version>`: that insert
is the atomic step. Exactly one writer wins each version; the loser gets StaleVersion. The commit
holds the change and the events it raises, so a state change and its events are one atomic write.
The document itself is then brought up to date from the commit ("applied", a conditional update on
the previous version); a writer that dies before applying leaves the commit, and the relay's
recovery pass applies it. The relay publishes the commit's events. Commits are never changed
after: they are the history of every change.

A commit also carries the audit entry of the action that made the change (chassis/audit.py), so
the action and its entry are the same atomic write; an action that changes nothing stored is a
commit that changes no document (`record`). Such a commit's outbox marker is flagged `audit` and
stays until the relay has chained the entry.

This shape was chosen when FerretDB 1.24, whose conditional updates were not atomic, stood in for
MongoDB here (decision 0002, superseded by 0007); it relies only on what MongoDB guarantees (unique
`_id`, single-document atomic updates), so it stays correct on MongoDB and on today's stand-in.
`outbox` holds a marker per unfinished commit and is as small as the backlog.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from moha_contracts import Envelope, Event

from .logging import correlation_id, get_contextvars, get_logger
from .tracing import current_traceparent

if TYPE_CHECKING:
    from .audit import AuditEntry

log = get_logger("chassis.store")

COMMITS = "commits"
# A marker per commit not yet applied and published (and its audit entry chained); deleted when it is.
OUTBOX = "outbox"
# The "collection" of a commit that only records an audit entry: it changes no document.
RECORD = "audit-record"


class StaleVersion(Exception):
    """Someone else changed the document since it was read."""


class AlreadyExists(Exception):
    """A document with this identity is already stored."""


def outbox_entries(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Events as the relay will publish them: the envelope kept as its JSON text, byte for byte
    (which also keeps keys such as `A2.2.2` out of the stored document's keys)."""
    cid = correlation_id()
    # The trace of the request (or event) that caused them, when traces are on (chassis/tracing.py).
    traceparent = current_traceparent()
    entries = []
    for event in events:
        envelope = Envelope.wrap(event, correlation_id=cid, traceparent=traceparent)
        entries.append(
            {
                "id": envelope.id,
                "routing_key": envelope.routing_key,
                "type": envelope.type,
                "correlation_id": envelope.correlationid,
                "body": envelope.model_dump_json(),
                **({"traceparent": traceparent} if traceparent else {}),
            }
        )
    return entries


def commit_id(collection: str, doc_id: Any, version: int) -> str:
    return f"{collection}:{doc_id}:{version}"


class Store:
    def __init__(self, url: str, database: str) -> None:
        self.client: AsyncMongoClient = AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000)
        self.db = self.client[database]
        self.commits = self.db[COMMITS]
        self.outbox = self.db[OUTBOX]
        self._on_commit: list[Callable[[dict[str, Any]], None]] = []
        # A writer slower than this between its marker and its commit marks the commit again: the
        # relay may have dropped the marker meanwhile (half the relay's grace: OutboxRelay sets it).
        self.remark_after = 2.5

    def __getitem__(self, name: str) -> AsyncCollection:
        return self.db[name]

    def on_commit(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Called with each applied commit that raised events or carries an audit entry: the relay
        publishes and chains it from memory."""
        self._on_commit.append(callback)

    async def create_indexes(self) -> None:
        """commits and outbox are only ever looked up by _id: nothing to create."""

    async def ping(self) -> bool:
        await self.client.admin.command("ping")
        return True

    async def close(self) -> None:
        await self.client.close()

    async def insert(
        self, collection: str, doc: Mapping[str, Any], events: Iterable[Event] = (), *, audit: AuditEntry | None = None
    ) -> None:
        """Create a document at version 1, with the events its creation raises (and the audit
        entry of the action). Always through the version-1 commit, so that two creators of the same
        document (a draft saved while the first submit runs) cannot both win."""
        fields = {k: v for k, v in doc.items() if k not in ("_id", "version")}
        await self._commit(collection, doc["_id"], 1, fields, outbox_entries(events), AlreadyExists, audit)

    async def insert_many(self, collection: str, items: list[tuple[Mapping[str, Any], Iterable[Event]]]) -> list[bool]:
        """Create many documents at version 1, each with the events its creation raises: what
        `insert` does for each, with the same commits, markers and guarantees, in a few round trips
        for all of them (an import of thousands of records). Returns, for each, whether it was
        created (False: a document of that id existed, as AlreadyExists from `insert`)."""
        marked = time.monotonic()
        at, cid, account = datetime.now(UTC), correlation_id(), get_contextvars().get("account_id")
        commits = [
            {
                "_id": commit_id(collection, doc["_id"], 1),
                "collection": collection,
                "doc_id": doc["_id"],
                "version": 1,
                "set": {k: v for k, v in doc.items() if k not in ("_id", "version")},
                "events": outbox_entries(events),
                "at": at,
                "correlation_id": cid,
                "account_id": account,
            }
            for doc, events in items
        ]
        if not commits:
            return []
        markers = [{"_id": c["_id"], "at": at} for c in commits]
        await _insert_all(self.outbox, markers)
        lost = await _insert_all(self.commits, commits)
        won = [c for c in commits if c["_id"] not in lost]
        if time.monotonic() - marked >= self.remark_after:  # as in _commit
            await _insert_all(self.outbox, [m for m in markers if m["_id"] not in lost])
        await _insert_all(self.db[collection], [{"_id": c["doc_id"], **c["set"], "version": 1} for c in won])
        quiet = [c["_id"] for c in won if not c["events"]]
        if quiet:
            await self.outbox.delete_many({"_id": {"$in": quiet}})
        for commit in won:
            if commit["events"]:
                for callback in self._on_commit:
                    callback(commit)
        return [c["_id"] not in lost for c in commits]

    async def update(
        self,
        collection: str,
        doc_id: Any,
        expected_version: int,
        changes: Mapping[str, Any],
        events: Iterable[Event] = (),
        *,
        audit: AuditEntry | None = None,
        append: Mapping[str, Iterable[Any]] | None = None,
    ) -> int:
        """Apply `changes` and record events, only if nobody else moved the document past `expected_version`.
        `append`: items added at the end of the document's lists (field -> list of items). The commit
        holds only those items, not the whole list: a document whose history grows (a career's
        entries) costs each change what it adds, not what it has."""
        version = expected_version + 1
        await self._commit(
            collection,
            doc_id,
            version,
            dict(changes),
            outbox_entries(events),
            StaleVersion,
            audit,
            {name: list(items) for name, items in (append or {}).items() if items},
        )
        return version

    async def save(
        self,
        collection: str,
        doc_id: Any,
        version: int,
        fields: Mapping[str, Any],
        events: Iterable[Event] = (),
        *,
        audit: AuditEntry | None = None,
        append: Mapping[str, Iterable[Any]] | None = None,
    ) -> int:
        """Create the document (`version` 0) or update it at `version`; returns the new version.
        Either way, another writer having got there first is StaleVersion. On creation, `append`'s
        items start their lists."""
        if version == 0:
            lists = {name: list(items) for name, items in (append or {}).items()}
            try:
                await self.insert(collection, {"_id": doc_id, **fields, **lists}, events, audit=audit)
            except AlreadyExists as exc:
                raise StaleVersion(doc_id) from exc
            return 1
        return await self.update(collection, doc_id, version, fields, events, audit=audit, append=append)

    async def record(self, audit: AuditEntry) -> None:
        """The audit entry of an action that changes nothing stored (a sign-in, an export, a
        download): a commit of its own, which no other can conflict with."""
        await self._commit(RECORD, uuid.uuid4().hex, 1, {}, [], AlreadyExists, audit)

    async def find(self, collection: str, doc_id: Any) -> dict[str, Any] | None:
        """Read a document. A change its writer committed but did not live to apply is applied by the
        relay's recovery pass; until then a write based on this read gets StaleVersion (409)."""
        return await self.db[collection].find_one({"_id": doc_id})

    async def _commit(
        self,
        collection: str,
        doc_id: Any,
        version: int,
        changes: dict[str, Any],
        entries: list[dict[str, Any]],
        lost: type[Exception],
        audit: AuditEntry | None = None,
        append: dict[str, list[Any]] | None = None,
    ) -> None:
        marked = time.monotonic()  # with the marker's `at`, from which the relay ages it
        commit = {
            "_id": commit_id(collection, doc_id, version),
            "collection": collection,
            "doc_id": doc_id,
            "version": version,
            "set": changes,
            **({"push": append} if append else {}),
            "events": entries,
            "at": datetime.now(UTC),
            "correlation_id": correlation_id(),
            "account_id": get_contextvars().get("account_id"),
        }
        marker = {"_id": commit["_id"], "at": commit["at"]}
        if audit is not None:
            commit["audit"] = audit.fields()  # the action's entry: in the same atomic write
            marker["audit"] = True  # chained by the relay, or by a reader catching up (chassis/audit.py)
        # The marker goes first: a commit is never without one, so the relay's recovery finds every
        # commit a dead writer left unapplied or unpublished. A marker whose commit never came (the
        # writer died, or lost the version) is dropped by the relay.
        try:
            await self.outbox.insert_one(marker)
        except DuplicateKeyError:
            pass  # the winner of this version marked it
        try:
            await self.commits.insert_one(commit)
        except DuplicateKeyError as exc:
            raise lost(commit["_id"]) from exc
        # A relay drops a marker with no commit behind it only once the marker is older than its
        # grace period. A writer that stalled that long may have lost its marker: it marks the
        # commit again. One that did not has its marker still: marking again would be a round trip,
        # refused as a duplicate, in every change (decision 0018). Half the grace leaves room for
        # the clocks of replicas to differ, as the inbox's lease does.
        if time.monotonic() - marked >= self.remark_after:
            try:
                await self.outbox.insert_one(marker)
            except DuplicateKeyError:
                pass
        await self.apply(commit)
        if not entries and audit is None:
            await self.finished(commit)
            return
        for callback in self._on_commit:
            callback(commit)

    async def finished(self, commit: Mapping[str, Any]) -> None:
        """The commit is applied, its events are published and its audit entry is chained."""
        await self.outbox.delete_one({"_id": commit["_id"]})

    async def apply_pending(self, collection: str) -> int:
        """Apply now the commits of `collection` that a dead writer left unapplied, rather than wait
        for the relay's recovery: for a start that reads the collection to resume its work."""
        prefix = f"{collection}:"
        ids = [m["_id"] async for m in self.outbox.find({}, {"_id": 1}) if str(m["_id"]).startswith(prefix)]
        applied = 0
        async for commit in self.commits.find({"_id": {"$in": ids}}):
            await self.apply(commit)
            applied += 1
        return applied

    async def finished_many(self, commits: Iterable[Mapping[str, Any]]) -> None:
        """The same for a batch, in one write: a hundred deletes one by one cost the relay more than
        publishing the hundred events."""
        ids = [c["_id"] for c in commits]
        if ids:
            await self.outbox.delete_many({"_id": {"$in": ids}})

    async def apply(self, commit: Mapping[str, Any]) -> None:
        """Bring the document up to the commit's version; applying twice changes nothing."""
        if commit["collection"] == RECORD:
            return  # an audit entry alone: no document
        target = self.db[commit["collection"]]
        version = commit["version"]
        if version == 1:
            try:
                await target.insert_one({"_id": commit["doc_id"], **commit["set"], "version": 1})
            except DuplicateKeyError:
                pass  # applied already (by the relay's recovery)
        else:
            # Conditional on the previous version: a late apply (the relay's recovery) cannot undo a
            # newer one, nor append an item twice.
            update: dict[str, Any] = {"$set": {**commit["set"], "version": version}}
            if commit.get("push"):
                update["$push"] = {name: {"$each": items} for name, items in commit["push"].items()}
            await target.update_one({"_id": commit["doc_id"], "version": version - 1}, update)


DUPLICATE_KEY = 11000


async def _insert_all(collection: AsyncCollection, docs: list[dict[str, Any]]) -> set[Any]:
    """Insert every document that is not there yet; the ids of those that were (duplicates)."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {docs[e["index"]]["_id"] for e in errors}
    return set()
