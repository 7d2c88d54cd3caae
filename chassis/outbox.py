"""The outbox relay: publishes the events stored beside each state change, with publisher confirms,
then removes them from the document.

A crash after the write and before the publish leaves the events in the document; the next relay
(this process restarted, or another replica) publishes them. A crash after the publish and before
the removal publishes them again: consumers de-duplicate by event id. A lease keeps replicas from
publishing the same document at the same time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.rabbit import RabbitBroker

from .logging import get_logger
from .messaging import publish_envelope_json
from .store import EPOCH, Store

log = get_logger("chassis.outbox")


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        broker: RabbitBroker,
        collections: list[str],
        *,
        poll_seconds: float = 1.0,
        lease_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.broker = broker
        self.collections = collections
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self._wake = asyncio.Event()
        self.published = 0
        store.on_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                drained = await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or store away: keep the events, try again
                log.warning("outbox relay failed, will retry", error=str(exc))
                drained = 0
            if drained:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass

    async def drain(self) -> int:
        """Publish what is pending in every collection; returns how many documents were relayed."""
        relayed = 0
        for name in self.collections:
            while doc := await self._claim(name):
                await self._relay(name, doc)
                relayed += 1
        return relayed

    async def _claim(self, name: str) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        return await self.store[name].find_one_and_update(
            {"outbox_pending": True, "outbox_lease": {"$lt": now}},
            {"$set": {"outbox_lease": now + self.lease}},
        )

    async def _relay(self, name: str, doc: dict[str, Any]) -> None:
        entries = doc.get("outbox") or []
        # Confirms are awaited together: waiting for each in turn is several times slower.
        await asyncio.gather(
            *(
                publish_envelope_json(
                    self.broker,
                    body=e["body"],
                    routing_key=e["routing_key"],
                    event_id=e["id"],
                    event_type=e["type"],
                    correlation_id=e["correlation_id"],
                )
                for e in entries
            )
        )
        collection = self.store[name]
        # Whole entries, not a condition: FerretDB 1.24's $pull matches elements by equality only.
        await collection.update_one({"_id": doc["_id"]}, {"$pullAll": {"outbox": entries}})
        # Clear the flag only if no new event was appended meanwhile; otherwise release the lease
        # so the newcomers are relayed on the next pass.
        cleared = await collection.update_one(
            {"_id": doc["_id"], "outbox": {"$size": 0}},
            {"$set": {"outbox_pending": False, "outbox_lease": EPOCH}},
        )
        if cleared.matched_count == 0:
            await collection.update_one({"_id": doc["_id"]}, {"$set": {"outbox_lease": EPOCH}})
        self.published += len(entries)
        log.debug("outbox relayed", collection=name, events=len(entries))
