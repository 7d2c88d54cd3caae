"""A subscriber of our own, bound like another ministry would bind: a queue on the events
exchange with a routing-key pattern. Messages wait in it until the test reads them."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika

from chassis.messaging import broker_user
from moha_contracts import EVENTS_EXCHANGE, Envelope


class EventTap:
    def __init__(self, amqp_url: str, pattern: str = "#") -> None:
        self.amqp_url = amqp_url
        self.pattern = pattern
        self.user = broker_user(amqp_url)
        self.seen: list[tuple[Envelope, aio_pika.abc.AbstractIncomingMessage]] = []

    async def __aenter__(self) -> EventTap:
        self.connection = await aio_pika.connect(self.amqp_url)
        self.channel = await self.connection.channel()
        exchange = await self.channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        self.exchange = exchange
        self.queue = await self.channel.declare_queue(f"test-tap-{uuid.uuid4().hex[:8]}", exclusive=True)
        await self.queue.bind(exchange, self.pattern)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def drain(self) -> None:
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            self.seen.append((Envelope.model_validate_json(message.body), message))

    async def wait_for(self, event_type_suffix: str, subject: str | None = None, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.drain()
            for envelope, message in self.seen:
                if envelope.type.endswith(event_type_suffix) and (subject is None or envelope.subject == subject):
                    return envelope, message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event_type_suffix} event for {subject} within {timeout}s")

    async def publish_raw(self, body: bytes, routing_key: str, **properties: object) -> None:
        # Stamped with the tap's own user unless told otherwise (RabbitMQ refuses any other).
        properties.setdefault("user_id", self.user)
        await self.exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
            routing_key=routing_key,
        )


async def drained(channel: aio_pika.abc.AbstractChannel, queues: list[str], quiet_rounds: int = 3) -> None:
    """The queues empty for several polls in a row: a message being handled is not counted, but
    its retry, or the next poll, shows it."""
    quiet, counts = 0, []
    for _ in range(600):
        counts = list((await _depths(channel, queues)).values())
        quiet = quiet + 1 if not any(counts) else 0
        if quiet >= quiet_rounds:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"queues not drained: {dict(zip(queues, counts, strict=True))}")


async def depths(amqp_url: str, queues: list[str]) -> dict[str, int]:
    """Each queue's depth as the queue itself tells it now (a passive declare). The management
    API's count for a quorum queue is the one it published at its last tick, up to 30 s old on the
    local stack (deploy/local/stack.sh)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        return await _depths(await connection.channel(), queues)


async def _depths(channel: aio_pika.abc.AbstractChannel, queues: list[str]) -> dict[str, int]:
    return {q: (await channel.declare_queue(q, passive=True)).declaration_result.message_count for q in queues}


async def publish_as(amqp_url: str, body: bytes, routing_key: str, **properties: object) -> None:
    """Publish on the events exchange as the user of `amqp_url` (a service's, to inject what that
    service would send; an administrator's, to play a forger), stamped with that user."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        properties.setdefault("user_id", broker_user(amqp_url))
        await exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
            routing_key=routing_key,
        )
