"""The inbox: which events a consumer has already handled, so a redelivery has no second effect.

The record is written after the handler's effects; a crash in between means the event is handled
again, so handlers also make their own writes conditional (deterministic ids, expected states).
"""

from __future__ import annotations

from datetime import UTC, datetime

from moha_contracts import Envelope
from pymongo.errors import DuplicateKeyError

from .store import Store


class Inbox:
    def __init__(self, store: Store) -> None:
        self.collection = store["inbox"]

    async def seen(self, consumer: str, envelope: Envelope) -> bool:
        return await self.collection.find_one({"_id": f"{consumer}:{envelope.id}"}, {"_id": 1}) is not None

    async def record(self, consumer: str, envelope: Envelope) -> None:
        try:
            await self.collection.insert_one(
                {"_id": f"{consumer}:{envelope.id}", "type": envelope.type, "processed_at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            pass
