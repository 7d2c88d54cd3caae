"""The outbox relay: chains the audit entry of each commit (see store.py and audit.py), publishes
its events with publisher confirms, then drops the commit's outbox marker.

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

from . import metrics, tracing
from .audit import AuditChain
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
        chain: AuditChain | None = None,
    ) -> None:
        self.store = store
        self.chain = chain or AuditChain(store)
        self.broker = broker
        self.user_id = user_id  # the broker user it connects as; consumers check it
        self.poll_seconds = poll_seconds
        # Another replica's fresh commit is its own to publish; take it over only once it is this old.
        self.grace = timedelta(seconds=grace_seconds)
        # Its writers must mark a commit again if they stall for anything near this grace period.
        store.remark_after = min(store.remark_after, grace_seconds / 2)
        self.batch = batch
        self._fresh: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.published = 0
        store.on_commit(self._fresh.put_nowait)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        me = asyncio.current_task()
        while True:
            # A cancellation swallowed on the way (by a driver's await, or by a timeout expiring at
            # the same moment) still stops the relay: the task stays marked as being cancelled.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            timeout = max(0.0, next_poll - loop.time())
            try:
                # What is waiting goes first: recovering while fresh commits wait (a long import's)
                # would publish them twice, the slow way and then again. Not asyncio.wait_for: on
                # Python 3.11 it drops a cancellation that comes as a commit arrives, and the relay
                # (so the service) would not stop.
                if not self._fresh.empty():
                    first = self._fresh.get_nowait()
                else:
                    async with asyncio.timeout(timeout):
                        first = await self._fresh.get()
            except TimeoutError:
                await self._guarded(self._poll())
                next_poll = loop.time() + self.poll_seconds
                continue
            commits = [first]
            while not self._fresh.empty() and len(commits) < self.batch:
                commits.append(self._fresh.get_nowait())
            # If this fails (the broker away), the markers stay and recovery publishes them later.
            await self._guarded(self._publish(commits, fresh=True))

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
                if commit["events"] or commit.get("audit"):
                    pending.append(commit)
                else:
                    await self.store.finished(commit)
            total += await self._publish(pending)

    async def _publish_one(self, entry: dict[str, Any]) -> None:
        # Published as part of the trace that committed it, however late (a relay's recovery).
        with tracing.continued(entry.get("traceparent")):
            await publish_envelope_json(
                self.broker,
                body=entry["body"],
                routing_key=entry["routing_key"],
                event_id=entry["id"],
                event_type=entry["type"],
                correlation_id=entry["correlation_id"],
                user_id=self.user_id,
            )

    async def _poll(self) -> None:
        """The gauges, then recovery if a marker is old enough for it. Every process polls each
        second: an empty outbox, the usual case, costs one read instead of three."""
        oldest = await self.measure()
        if oldest is not None and oldest < datetime.now(UTC) - self.grace:
            await self.recover()

    async def measure(self) -> datetime | None:
        """The outbox's depth and the age of its oldest marker, for the metrics (chassis/metrics.py);
        returns when that marker was written."""
        service = metrics.service()
        oldest = await self.store.outbox.find_one({}, sort=[("at", 1)])
        depth = await self.store.outbox.count_documents({}) if oldest else 0
        metrics.outbox_depth.labels(service).set(depth)
        age = (datetime.now(UTC) - oldest["at"]).total_seconds() if oldest else 0.0
        metrics.outbox_oldest.labels(service).set(max(age, 0.0))
        return oldest["at"] if oldest else None

    async def drain(self) -> int:
        """Finish everything pending now (tests and shutdown)."""
        return await self.recover(grace=False)

    async def _publish(self, commits: list[dict[str, Any]], *, fresh: bool = False) -> int:
        if not commits:
            return 0
        # Entries first, in the order their commits came: if the store is away, nothing is published
        # and the markers wait for recovery; chaining one again later is skipped (its `source`).
        await self.chain.append(commits, fresh=fresh)
        entries = [e for c in commits for e in c["events"]]
        # Confirms are awaited together: waiting for each in turn is several times slower.
        await asyncio.gather(*(self._publish_one(e) for e in entries))
        await self.store.finished_many(commits)
        self.published += len(entries)
        metrics.outbox_published.labels(metrics.service()).inc(len(entries))
        log.debug("outbox relayed", commits=len(commits), events=len(entries))
        return len(commits)
