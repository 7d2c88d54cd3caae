"""Delivering events to read models as the broker may: each one more than once, in any order, to
several consumers at once (each with a Store of its own, as replicas have), with a failed handling
(an event ahead of what it needs: Retry; a lost race on a first insert) delivered again later."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from moha_contracts import Envelope, Event

Handler = Callable[[Envelope, Any], Awaitable[None]]


class Handlers:
    """Stands in for EventConsumers: records what a read model subscribes, to call it directly."""

    def __init__(self) -> None:
        self.handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def on(self, event: type[Event], *, part: str | None = None, keyed: bool = False) -> Callable[[Handler], Handler]:
        # No inbox here, keyed or not: every copy reaches the handler, as a keyed one's do.
        def register(handler: Handler) -> Handler:
            self.handlers[event].append(handler)
            return handler

        return register

    async def dispatch(self, envelope: Envelope, event_cls: type[Event]) -> None:
        event = envelope.open(event_cls)
        for handler in self.handlers[event_cls]:
            await handler(envelope, event)


def envelopes(events: Sequence[Event], start: datetime | None = None) -> list[Envelope]:
    """The events as published, in this order: each committed a little after the one before."""
    at = start or datetime(2026, 4, 1, tzinfo=UTC)
    out = []
    for index, event in enumerate(events):
        # Some commits share a time to the microsecond: their ids break the tie, here in the order
        # of the list, so that folding the list in order is the truth.
        envelope = Envelope.wrap(event, event_id=f"{index:06d}-{uuid.uuid4()}")
        out.append(envelope.model_copy(update={"time": at + timedelta(microseconds=index // 2)}))
    return out


async def deliver_concurrently(
    envelopes_: Sequence[Envelope],
    handle: Callable[[int, Envelope], Awaitable[None]],
    *,
    consumers: int,
    rng: random.Random,
    copies: int = 3,
    prefetch: int = 8,
    attempts: int = 200,
) -> None:
    """Every envelope twice to `copies` times, shuffled, spread over `consumers` (handle gets the
    consumer's number), each handling up to `prefetch` at once; a failure is delivered again later."""
    deliveries = [e for e in envelopes_ for _ in range(rng.randint(2, copies))]
    rng.shuffle(deliveries)
    queues: list[asyncio.Queue[tuple[Envelope, int]]] = [asyncio.Queue() for _ in range(consumers)]
    for envelope in deliveries:
        queues[rng.randrange(consumers)].put_nowait((envelope, 0))
    pending = len(deliveries)
    done = asyncio.Event()

    async def worker(number: int) -> None:
        nonlocal pending
        queue = queues[number]
        while not done.is_set():
            try:
                envelope, tries = queue.get_nowait()
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.001)
                continue
            if rng.random() < 0.5:
                await asyncio.sleep(0)  # let other handlings interleave with this one
            try:
                await handle(number, envelope)
            except Exception:
                if tries + 1 >= attempts:
                    done.set()
                    raise
                # Redelivered later, maybe to another consumer (a retry queue, a requeue).
                queues[rng.randrange(consumers)].put_nowait((envelope, tries + 1))
                continue
            pending -= 1
            if pending == 0:
                done.set()

    workers = [worker(n) for n in range(consumers) for _ in range(prefetch)]
    await asyncio.wait_for(asyncio.gather(*workers), timeout=120)
