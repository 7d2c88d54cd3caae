"""The outbox relay: publishes the events of each commit (see store.py) with publisher confirms,
then drops the commit's outbox marker.

Fast path: the store hands the relay each commit it made, and the relay publishes it at once.
Recovery: every second, the relay goes through the outbox markers older than a grace period (as
few as there are unfinished commits): commits of a process that died before applying or
publishing them, or of a replica that stopped. A commit is published at least once; a crash
after the publish and before the marker is dropped publishes it again, and consumers
de-duplicate by event id.

The fast path reads nothing: commits come from memory. Only recovery reads commits, by `_id`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.rabbit import RabbitBroker

from .logging import get_logger
from .messaging import publish_envelope_json
from .store import Store

log = get_logger("chassis.outbox")


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        broker: RabbitBroker,
        *,
        user_id: str,
        poll_seconds: float = 1.0,
        grace_seconds: float = 5.0,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.broker = broker
        self.user_id = user_id  # the broker user it connects as; consumers check it
        self.poll_seconds = poll_seconds
        # Another replica's fresh commit is its own to publish; take it over only once it is this old.
        self.grace = timedelta(seconds=grace_seconds)
        self.batch = batch
        self._fresh: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.published = 0
        store.on_commit(self._fresh.put_nowait)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while True:
            timeout = max(0.0, next_poll - loop.time())
            try:
                # What is waiting goes first: recovering while fresh commits wait (a long import's)
                # would publish them twice, the slow way and then again.
                first = self._fresh.get_nowait() if not self._fresh.empty() else \
                    await asyncio.wait_for(self._fresh.get(), timeout)
            except TimeoutError:
                await self._guarded(self.recover())
                next_poll = loop.time() + self.poll_seconds
                continue
            commits = [first]
            while not self._fresh.empty() and len(commits) < self.batch:
                commits.append(self._fresh.get_nowait())
            # If this fails (the broker away), the markers stay and recovery publishes them later.
            await self._guarded(self._publish(commits))

    async def _guarded(self, job: Any) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - broker or store away: the commits wait, the poll retries
            log.warning("outbox relay failed, will retry", error=str(exc))

    async def recover(self, *, grace: bool = True) -> int:
        """Finish the commits behind every outbox marker older than the grace period (all of them if
        not `grace`): apply what a dead writer did not, publish what it did not, drop stale markers."""
        total = 0
        cutoff = datetime.now(UTC) - self.grace
        seen: set[str] = set()
        while True:
            markers = [m async for m in self.store.outbox.find({}).limit(self.batch) if m["_id"] not in seen]
            seen.update(m["_id"] for m in markers)
            if grace:
                markers = [m for m in markers if m["at"] < cutoff]
            if not markers:
                return total
            commits = await asyncio.gather(*(self.store.commits.find_one({"_id": m["_id"]}) for m in markers))
            pending = []
            for marker, commit in zip(markers, commits, strict=True):
                if commit is None:  # its writer died, or lost the version, before committing
                    await self.store.outbox.delete_one({"_id": marker["_id"]})
                    continue
                await self.store.apply(commit)
                if commit["events"]:
                    pending.append(commit)
                else:
                    await self.store.finished(commit)
            total += await self._publish(pending)

    async def drain(self) -> int:
        """Finish everything pending now (tests and shutdown)."""
        return await self.recover(grace=False)

    async def _publish(self, commits: list[dict[str, Any]]) -> int:
        if not commits:
            return 0
        entries = [e for c in commits for e in c["events"]]
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
                    user_id=self.user_id,
                )
                for e in entries
            )
        )
        await self.store.finished_many(commits)
        self.published += len(entries)
        log.debug("outbox relayed", commits=len(commits), events=len(entries))
        return len(commits)
