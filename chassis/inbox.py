"""The inbox: which events a consumer has handled, so a redelivery has no second effect.

An event is claimed before its handler runs, by inserting a record keyed by consumer and event id
(an insert is atomic on MongoDB and FerretDB alike), so two copies handled at the same moment, by
one process or two replicas, run the handler once. The claim is released if the handler fails,
and a claim left by a process that died mid-handler is taken over once it is older than the lease.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum

from pymongo.errors import DuplicateKeyError

from moha_contracts import Envelope

from .store import Store


class Claim(Enum):
    NEW = "new"  # handle it
    DONE = "done"  # handled before: acknowledge and skip
    BUSY = "busy"  # being handled elsewhere right now: look again later


class Inbox:
    def __init__(self, store: Store, lease_seconds: float = 60.0) -> None:
        self.collection = store["inbox"]
        # "Done" is a second insert, not an update: on FerretDB an update by _id reads the whole
        # (ever-growing) collection, an insert only checks the unique index.
        self.done_collection = store["inbox_done"]
        self.takeovers = store["inbox_takeovers"]
        self.lease = timedelta(seconds=lease_seconds)

    async def claim(self, consumer: str, envelope: Envelope) -> Claim:
        key = f"{consumer}:{envelope.id}"
        now = datetime.now(UTC)
        try:
            await self.collection.insert_one({"_id": key, "type": envelope.type, "status": "processing", "at": now})
            return Claim.NEW
        except DuplicateKeyError:
            pass
        if await self.done_collection.find_one({"_id": key}) is not None:
            return Claim.DONE
        record = await self.collection.find_one({"_id": key})
        if record is None:  # released between our insert and our read
            return Claim.BUSY
        if record["at"] > now - self.lease:
            return Claim.BUSY
        # Taking over a dead handler's claim: an insert keyed by the claim being replaced decides
        # which of several replicas takes it.
        try:
            await self.takeovers.insert_one({"_id": f"{key}:{record['at'].isoformat()}", "at": now})
        except DuplicateKeyError:
            return Claim.BUSY
        await self.collection.update_one({"_id": key}, {"$set": {"at": now}})
        return Claim.NEW

    async def done(self, consumer: str, envelope: Envelope) -> None:
        try:
            await self.done_collection.insert_one({"_id": f"{consumer}:{envelope.id}", "at": datetime.now(UTC)})
        except DuplicateKeyError:
            pass

    async def release(self, consumer: str, envelope: Envelope) -> None:
        await self.collection.delete_one({"_id": f"{consumer}:{envelope.id}"})
