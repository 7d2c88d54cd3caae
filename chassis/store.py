"""The store: one MongoDB database per service, reached through PyMongo's async API.

FerretDB 1.24 stands in for MongoDB where MongoDB cannot be installed, so everything here keeps
to what both support: no transactions, so a state change and the events it raises are written in
one document (`outbox`), guarded by an expected `version`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from moha_contracts import Envelope, Event
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .logging import correlation_id, get_logger

log = get_logger("chassis.store")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StaleVersion(Exception):
    """Someone else changed the document since it was read."""


class AlreadyExists(Exception):
    """A document with this identity is already stored."""


def outbox_entries(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Events become outbox entries: the envelope is kept as its JSON text, which is what the relay
    publishes byte for byte (and which keeps keys such as `A2.2.2` out of the document's keys)."""
    cid = correlation_id()
    entries = []
    for event in events:
        envelope = Envelope.wrap(event, correlation_id=cid)
        entries.append(
            {
                "id": envelope.id,
                "routing_key": envelope.routing_key,
                "type": envelope.type,
                "correlation_id": envelope.correlationid,
                "body": envelope.model_dump_json(),
            }
        )
    return entries


class Store:
    def __init__(self, url: str, database: str, *, crash_after_commit: bool = False) -> None:
        self.client: AsyncMongoClient = AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000)
        self.db = self.client[database]
        self._crash_after_commit = crash_after_commit
        self._on_commit: list[Callable[[], None]] = []

    def __getitem__(self, name: str) -> AsyncCollection:
        return self.db[name]

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._on_commit.append(callback)

    async def ping(self) -> bool:
        await self.client.admin.command("ping")
        return True

    async def close(self) -> None:
        await self.client.close()

    async def insert(self, collection: str, doc: Mapping[str, Any], events: Iterable[Event] = ()) -> None:
        entries = outbox_entries(events)
        doc = {**doc, "version": doc.get("version", 1), **_outbox_fields(entries)}
        try:
            await self.db[collection].insert_one(doc)
        except DuplicateKeyError as exc:
            raise AlreadyExists(str(doc.get("_id"))) from exc
        self._committed(bool(entries))

    async def update(
        self,
        collection: str,
        doc_id: Any,
        expected_version: int,
        changes: Mapping[str, Any],
        events: Iterable[Event] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Apply `changes` ($set) and append events, only if the document is still at `expected_version`."""
        entries = outbox_entries(events)
        update: dict[str, Any] = {"$set": {**changes, "version": expected_version + 1}}
        if entries:
            update["$set"]["outbox_pending"] = True
            update["$push"] = {"outbox": {"$each": entries}}
        for op, fields in (extra or {}).items():
            update.setdefault(op, {}).update(fields)
        result = await self.db[collection].update_one({"_id": doc_id, "version": expected_version}, update)
        if result.matched_count == 0:
            raise StaleVersion(f"{collection}/{doc_id} is no longer at version {expected_version}")
        self._committed(bool(entries))
        return expected_version + 1

    def _committed(self, has_events: bool) -> None:
        if has_events and self._crash_after_commit:
            # Fault injection: die between the write and the publish, as a killed process would.
            log.warning("fault injection: exiting after commit, before publish")
            os._exit(70)
        for callback in self._on_commit:
            callback()


def _outbox_fields(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"outbox": entries, "outbox_pending": bool(entries), "outbox_lease": EPOCH}


async def ensure_outbox_index(collection: AsyncCollection) -> None:
    await collection.create_index("outbox_pending")
