"""Catching up: a service reads from the event history what its queues never held, then follows its
queues (decision 0017).

A queue holds only what was published after it was bound. A service deployed late, one whose
database was wiped, or a new version with a new consumer, would never hear of the events before.
So at start, once its queues are declared and bound (from then on nothing is missed), a service
reads the history (the stream `moha.events.history`) from the first event kept up to its end, and
hands every event that one of its new queues would have held to that queue's consumer, through the
same checks and the same inbox claim as a delivery from the queue. Then it starts consuming its
queues. An event in both (published while it caught up) is claimed once: the second copy is a
duplicate to the inbox.

"New" is per queue: a record in the service's own database (`catch_up`) says a queue has caught up,
and that its queue holds everything since. A service whose database is wiped loses these records
with its read models, and rebuilds both. Replicas starting at once take turns: one reads the
history (a lease in `catch_up_lock`), the others wait for its records.

The end of the history is where it was when the queues had been bound: the last offset of the
stream's last chunk then (a consumer at `last` receives that chunk). Reading further is harmless
(the queue has those events too and the inbox drops the second copy), reading less would lose events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
from pymongo.errors import DuplicateKeyError

from moha_contracts import EVENTS_EXCHANGE, EVENTS_HISTORY

from . import metrics, tracing
from .logging import bind_contextvars, clear_contextvars, get_logger
from .messaging import Consumer, EventConsumers
from .store import Store

log = get_logger("chassis.catchup")


class _FromHistory:
    """A message read from the history, in the shape a consumer settles: acknowledging it is the
    reader's business (a stream delivery is credit, not a claim), so here it is nothing."""

    def __init__(self, raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.raw_message = raw

    async def ack(self) -> None:
        return None


class CatchUp:
    def __init__(
        self,
        store: Store,
        consumers: EventConsumers,
        amqp_url: str,
        *,
        prefetch: int = 200,
        lease_seconds: float = 30.0,
        probe_seconds: float = 1.0,
    ) -> None:
        self.records = store["catch_up"]
        self.lock = store["catch_up_lock"]
        self.consumers = consumers
        self.amqp_url = amqp_url
        self.prefetch = prefetch
        self.lease = timedelta(seconds=lease_seconds)
        self.probe_seconds = probe_seconds
        self.me = uuid.uuid4().hex
        self.read = 0

    async def pending(self) -> list[Consumer]:
        done = {r["_id"] async for r in self.records.find({}, {"_id": 1})}
        return [c for c in self.consumers.consumers if c.queue not in done]

    async def run(self) -> int:
        """Catch up every queue that has not; returns how many events were read from the history."""
        while pending := await self.pending():
            if not await self._take_lock():
                await asyncio.sleep(0.5)  # another replica reads the history: wait for its records
                continue
            renew = asyncio.create_task(self._keep_lock())
            try:
                pending = await self.pending()  # what the previous holder finished is not read again
                if pending:
                    await self._replay(pending)
            finally:
                renew.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renew
                await self.lock.delete_one({"_id": "history", "holder": self.me})
        return self.read

    async def _take_lock(self) -> bool:
        now = datetime.now(UTC)
        try:
            await self.lock.insert_one({"_id": "history", "holder": self.me, "at": now})
            return True
        except DuplicateKeyError:
            pass
        held = await self.lock.find_one({"_id": "history"})
        if held is None or held["at"] > now - self.lease:
            return False
        # The holder died mid-way: take its lease over, if nobody else did first.
        taken = await self.lock.update_one(
            {"_id": "history", "holder": held["holder"], "at": held["at"]}, {"$set": {"holder": self.me, "at": now}}
        )
        return taken.modified_count == 1

    async def _keep_lock(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            await self.lock.update_one({"_id": "history", "holder": self.me}, {"$set": {"at": datetime.now(UTC)}})

    async def _replay(self, pending: list[Consumer]) -> None:
        by_key: dict[str, list[Consumer]] = {}
        for consumer in pending:
            by_key.setdefault(consumer.event.routing_key, []).append(consumer)
        started = time.monotonic()
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            end = await self._end(connection)
            read = first = 0
            if end is not None:
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=self.prefetch)
                history = await channel.get_queue(EVENTS_HISTORY, ensure=True)
                inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
                tag = await history.consume(inbox.put, arguments={"x-stream-offset": "first"})
                offset = -1
                while offset < end:
                    message = await asyncio.wait_for(inbox.get(), timeout=60)
                    offset = int(message.headers["x-stream-offset"])  # type: ignore[arg-type]
                    if read == 0:
                        first = offset
                    read += 1
                    # Only what came through the events exchange's binding (nobody else may write here).
                    if message.exchange == EVENTS_EXCHANGE:
                        await self._hand_over(message, by_key.get(message.routing_key or "", []))
                    await message.ack()
                await history.cancel(tag)
        now = datetime.now(UTC)
        for consumer in pending:
            await self.records.update_one({"_id": consumer.queue}, {"$set": {"at": now, "end": end}}, upsert=True)
        self.read += read
        metrics.catch_up_events.labels(metrics.service()).inc(read)
        log.info(
            "caught up from the event history",
            queues=len(pending),
            events=read,
            first_offset=first,
            end_offset=end,
            seconds=round(time.monotonic() - started, 2),
        )
        if first > 0:
            # Retention has dropped older events: what only they said is not here (decision 0017).
            log.warning("the event history no longer starts at its first event", first_offset=first)

    async def _hand_over(self, message: aio_pika.abc.AbstractIncomingMessage, consumers: list[Consumer]) -> None:
        """The event, to each new queue's consumer that would have held it, in the history's order."""
        for consumer in consumers:
            clear_contextvars()
            bind_contextvars(queue=consumer.queue, message_id=message.message_id, source="history")
            # A failure to settle (store or broker away) ends this catch-up without records: it is
            # run again, and the inbox drops what was handled already.
            with tracing.consuming(consumer.queue, message.headers, **{"messaging.source": "history"}):
                await self.consumers.deliver(consumer, _FromHistory(message), source="history")
        clear_contextvars()

    async def _end(self, connection: aio_pika.abc.AbstractConnection) -> int | None:
        """The history's last offset now, or None if it is empty: a consumer at `last` receives the
        stream's last chunk, whose last message is the end."""
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        history = await channel.get_queue(EVENTS_HISTORY, ensure=True)
        seen: asyncio.Queue[Any] = asyncio.Queue()
        tag = await history.consume(seen.put, arguments={"x-stream-offset": "last"})
        end = None
        deadline = time.monotonic() + 5 * self.probe_seconds  # events keep coming on a busy platform
        try:
            # Wait for the chunk's first message (none: the history is empty), then for the rest of it.
            timeout = self.probe_seconds
            while time.monotonic() < deadline:
                message = await asyncio.wait_for(seen.get(), timeout=timeout)
                await message.ack()
                end = max(end or 0, message.headers["x-stream-offset"])
                timeout = 0.2
        except TimeoutError:
            pass
        finally:
            await history.cancel(tag)
            await channel.close()
        return end
