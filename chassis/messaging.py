"""RabbitMQ: one durable topic exchange for domain events; one durable quorum queue per handler,
with a bounded delivery limit, a delayed-retry queue and a dead-letter queue beside it.

A handler's message is acknowledged only after its effects are stored. A message that cannot be
parsed goes straight to the dead-letter queue with its reason; one whose handler keeps failing is
retried a bounded number of times with a delay, then dead-lettered. Nothing loops for ever.

Nothing is trusted because of where it arrived (decision 0008). Each service publishes as a broker
user of its own and stamps that user in the message's `user_id`, which RabbitMQ checks against the
connection; a consumer accepts an event only from the user of the service that owns its routing
key, and dead-letters anything else with the reason. The retry count travels in a header that
only the consuming service itself sets (a message whose `user_id` is its own).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from faststream import AckPolicy
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from faststream.rabbit.schemas import Channel
from prometheus_client import REGISTRY
from pydantic import ValidationError

from moha_contracts import CONTENT_TYPE, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, Envelope, Event

from . import metrics, tracing
from .inbox import Claim, Inbox
from .logging import bind_contextvars, clear_contextvars, get_logger

log = get_logger("chassis.messaging")

# Declared by the operator (deploy/rabbitmq/provision.py), never by a service: a service's user may
# not configure them, so it only checks that they exist.
EVENTS = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True, declare=False)
DEAD_LETTER = RabbitExchange(DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True, declare=False)
RETRY_HEADER = "x-moha-retries"
# On a retry the service republishes under its own user; this says whose event it verified first.
PUBLISHER_HEADER = "x-moha-publisher"
MAX_RETRY_DELAY_MS = 300_000
ERROR_HEADER = "x-moha-error"
# What became of a delivered event (metrics count them by queue).
HANDLED, DUPLICATE, RETRIED, DEAD_LETTERED = "handled", "duplicate", "retried", "dead_lettered"


class Malformed(Exception):
    """The message can never be handled: retrying would not help."""


class Retry(Exception):
    """The message cannot be handled yet (e.g. what it refers to has not arrived): retry later."""


def broker_user(url: str) -> str:
    """The broker user an AMQP URL signs in as: what RabbitMQ accepts in `user_id` from it."""
    return unquote(urlsplit(url).username or "guest")


def make_broker(url: str, *, prefetch: int, service: str) -> RabbitBroker:
    return RabbitBroker(
        url,
        default_channel=Channel(prefetch_count=prefetch, publisher_confirms=True),
        app_id=service,
        graceful_timeout=10.0,
        logger=None,
        # FastStream's own: messages received and published per exchange and routing key, and their
        # sizes and times (metrics per queue and outcome are ours: chassis/metrics.py); with traces
        # on, the trace context in each message's headers, continued by each consumer.
        middlewares=[
            RabbitPrometheusMiddleware(registry=REGISTRY, app_name=service),
            *([RabbitTelemetryMiddleware()] if tracing.enabled() else []),
        ],
        # No dependency injection into handlers: a handler gets the message itself (`itself`
        # below). With injection, FastStream resolved the message for each delivery in a worker
        # thread and a task group: a quarter of a bare consumer's CPU (decision 0018).
        apply_types=False,
    )


async def itself(message: Any) -> Any:
    """The decoder of every subscriber: the handler is given the message, body unparsed (ours to
    parse: FastStream's own decoding would fail before the handler runs on a body that is not
    JSON, and leave the message unsettled)."""
    return message


async def publish_envelope_json(
    broker: RabbitBroker,
    *,
    body: str | bytes,
    routing_key: str,
    event_id: str,
    event_type: str,
    correlation_id: str,
    user_id: str,
) -> None:
    """Publish one event persistently and wait for the broker's confirm. `user_id` must be the
    connection's user: RabbitMQ refuses any other, so consumers can trust it."""
    await broker.publish(
        body.encode() if isinstance(body, str) else body,
        exchange=EVENTS,
        routing_key=routing_key,
        persist=True,
        # A topic exchange with no subscriber for an event is normal: nobody is owed it.
        mandatory=False,
        message_id=event_id,
        correlation_id=correlation_id,
        message_type=event_type,
        content_type=CONTENT_TYPE,
        user_id=user_id,
    )


async def publish_event(
    broker: RabbitBroker, event: Event, *, user_id: str, correlation_id: str | None = None
) -> Envelope:
    envelope = Envelope.wrap(event, correlation_id=correlation_id)
    await publish_envelope_json(
        broker,
        body=envelope.model_dump_json(),
        routing_key=envelope.routing_key,
        event_id=envelope.id,
        event_type=envelope.type,
        correlation_id=envelope.correlationid,
        user_id=user_id,
    )
    return envelope


Handler = Callable[[Envelope, Any], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    queue: str
    event: type[Event]
    # Several parts of a service may need the same event (the tree and the review tasks both
    # follow a moved unit): they share the service's one queue and run in turn, under one claim.
    handlers: list[Handler]
    keyed: set[Handler] = field(default_factory=set)

    @property
    def claims(self) -> bool:
        """Whether deliveries go through the inbox: unless every handler's effect is keyed by the
        event itself (see `EventConsumers.on`)."""
        return not all(handler in self.keyed for handler in self.handlers)


@dataclass
class ConsumerConfig:
    service: str
    # The broker user this service connects as (stamped in `user_id` of what it publishes).
    user: str = "guest"
    # The broker user of each publishing service, by service name; a service missing here is
    # expected to publish as a user of its own name.
    publishers: Mapping[str, str] = field(default_factory=dict)
    delivery_limit: int = 10
    max_retries: int = 5
    retry_delay_ms: int = 2000

    def publisher_of(self, event: type[Event]) -> str:
        owner = event.routing_key.split(".", 1)[0]
        return self.publishers.get(owner, owner)


def queue_name(service: str, event: type[Event], part: str | None = None) -> str:
    return f"{service}.{part}.{event.routing_key}" if part else f"{service}.{event.routing_key}"


def work_queue(name: str, routing_key: str, cfg: ConsumerConfig) -> RabbitQueue:
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        routing_key=routing_key,
        arguments={
            # Explicit: RabbitMQ 3.x has no default, 4.x defaults to 20.
            "x-delivery-limit": cfg.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
        },
    )


async def declare_side_queues(broker: RabbitBroker, work: Any, name: str, cfg: ConsumerConfig) -> None:
    """The dead-letter queue and the delayed-retry queue that stand beside a work queue."""
    dlx = await broker.declare_exchange(DEAD_LETTER)
    dead = await broker.declare_queue(RabbitQueue(f"{name}.dead", queue_type=QueueType.QUORUM))
    await dead.bind(dlx, routing_key=name)
    # A message waits here until its own expiration (set per message, so the delay can grow with
    # each retry and a changed RETRY_DELAY_MS needs no new queue), then dead-letters back into the
    # work queue: a delay without any plugin. In and out through the dead-letter exchange, not the
    # default one: services may not write to the default exchange, through which any queue, the
    # event history included, could be written to (decision 0017).
    retry = await broker.declare_queue(
        RabbitQueue(
            f"{name}.retry",
            queue_type=QueueType.QUORUM,
            arguments={"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE, "x-dead-letter-routing-key": again_key(name)},
        )
    )
    await retry.bind(dlx, routing_key=retry_key(name))
    await work.bind(dlx, routing_key=again_key(name))


def retry_key(queue: str) -> str:
    """Into the queue's delayed-retry queue."""
    return f"{queue}.retry"


def again_key(queue: str) -> str:
    """Out of the delayed-retry queue, back into the work queue."""
    return f"{queue}.again"


def retry_delay(retries: int, cfg: ConsumerConfig) -> timedelta:
    return timedelta(milliseconds=min(cfg.retry_delay_ms * 2**retries, MAX_RETRY_DELAY_MS))


class EventConsumers:
    """Registers handlers on a FastStream broker, one queue per (service, event)."""

    def __init__(self, broker: RabbitBroker, cfg: ConsumerConfig, inbox: Inbox) -> None:
        self.broker = broker
        self.cfg = cfg
        self.inbox = inbox
        self.consumers: list[Consumer] = []

    def on(self, event: type[Event], *, part: str | None = None, keyed: bool = False) -> Callable[[Handler], Handler]:
        """`part`: a read model that must see every event even when another handler of the service
        refuses one (it gets a queue, and an inbox claim, of its own).

        `keyed`: the handler's effect is itself keyed by the event (a document whose id comes from
        the event, written by an insert or a versioned write): a copy handled again, at the same
        time on another replica, after a crash mid-handler or replayed from the history, finds the
        effect and adds nothing (nor publishes anything: events ride in the effect's own commit).
        Such a handler needs no inbox, which costs two writes per event (a claim and a "done"), so
        a queue whose handlers are all keyed skips it (decision 0018, part 4)."""

        def register(handler: Handler) -> Handler:
            name = queue_name(self.cfg.service, event, part)
            for consumer in self.consumers:
                if consumer.queue == name:
                    consumer.handlers.append(handler)
                    if keyed:
                        consumer.keyed.add(handler)
                    return handler
            consumer = Consumer(name, event, [handler], {handler} if keyed else set())
            self.consumers.append(consumer)
            self._subscribe(name, event, consumer.handlers)
            return handler

        return register

    async def declare(self) -> None:
        """The work queues, bound, and the queues beside them: from now on no event for this
        service is missed, whether or not it consumes yet (what came before is in the history)."""
        exchange = await self.broker.declare_exchange(EVENTS)
        for consumer in self.consumers:
            queue = await self.broker.declare_queue(work_queue(consumer.queue, consumer.event.routing_key, self.cfg))
            await queue.bind(exchange, routing_key=consumer.event.routing_key)
            await declare_side_queues(self.broker, queue, consumer.queue, self.cfg)

    def _subscribe(self, name: str, event: type[Event], handlers: list[Handler]) -> None:
        broker = self.broker
        cfg = self.cfg
        consumer = next(c for c in self.consumers if c.queue == name)

        @broker.subscriber(
            work_queue(name, event.routing_key, cfg),
            EVENTS,
            ack_policy=AckPolicy.MANUAL,
            decoder=itself,
            title=name,
            description=f"{cfg.service} handles {event.__name__}",
        )
        async def consume(message: RabbitMessage) -> None:  # given by `itself`, not injected
            raw = message.raw_message
            clear_contextvars()
            bind_contextvars(queue=name, message_id=raw.message_id, correlation_id=raw.correlation_id)
            try:
                await self.deliver(consumer, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - never leave a message unsettled
                # The store or the broker failed while settling: give the message back. Every such
                # return counts towards the queue's delivery limit, so this cannot loop for ever.
                log.error("event could not be settled, returned to the queue", error=_short(exc))
                if not raw.processed:
                    await raw.nack(requeue=True)

    async def deliver(self, consumer: Consumer, message: Any, *, source: str = "queue") -> str:
        """Handle one message for one consumer and settle it (`message.ack()`, after a dead-letter or
        a retry if so). The message comes from the consumer's queue, or from the history when the
        service catches up (chassis/catchup.py): the same checks, the same inbox claim. Returns what
        became of it; raises only if the store or the broker failed while settling it."""
        started = time.perf_counter()
        outcome = await self._deliver(consumer, message)
        metrics.event_handled(consumer.queue, outcome, source, time.perf_counter() - started)
        return outcome

    async def _deliver(self, consumer: Consumer, message: Any) -> str:
        broker, cfg, inbox, name, event = self.broker, self.cfg, self.inbox, consumer.queue, consumer.event
        raw = message.raw_message
        if (untrusted := _untrusted_publisher(raw, event, cfg)) is not None:
            await dead_letter(broker, message, name, untrusted, cfg)
            return DEAD_LETTERED
        try:
            envelope = Envelope.model_validate_json(raw.body)
            data = envelope.open(event)
            if envelope.source != event.source():
                raise ValueError(f"source {envelope.source!r} is not {event.source()!r}")
        except (ValidationError, ValueError) as exc:
            await dead_letter(broker, message, name, f"malformed: {_short(exc)}", cfg)
            return DEAD_LETTERED
        bind_contextvars(event_id=envelope.id, event_type=envelope.type, correlation_id=envelope.correlationid)
        if not consumer.claims:
            return await self._deliver_keyed(consumer, message, envelope, data)
        try:
            claim = await inbox.claim(name, envelope)
        except Exception as exc:  # noqa: BLE001 - the store is away: try again later
            return await retry_later(broker, message, name, exc, cfg, event)
        if claim is Claim.DONE:
            log.info("duplicate event ignored")
            await message.ack()
            return DUPLICATE
        if claim is Claim.BUSY:
            # Held by another handler: done in a moment, or by a process that died, whose claim is
            # taken over once its lease is out. Look again then, not sooner: a few quick retries
            # would use up the count while a killed replica's claim still stands.
            return await retry_later(
                broker, message, name, Retry("the same event is being handled elsewhere"), cfg, event, delay=inbox.lease
            )
        try:
            for handler in consumer.handlers:
                await handler(envelope, data)
        except Malformed as exc:
            await _release(inbox, name, envelope)
            await dead_letter(broker, message, name, f"rejected by handler: {exc}", cfg)
            return DEAD_LETTERED
        except asyncio.CancelledError:
            await _release(inbox, name, envelope)
            raise
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, then dead-lettered
            await _release(inbox, name, envelope)
            return await retry_later(broker, message, name, exc, cfg, event)
        try:
            await inbox.done(name, envelope)
        except Exception as exc:  # noqa: BLE001 - effects are stored; a redelivery finds them
            log.warning("handled, but not recorded as handled", error=_short(exc))
        await message.ack()
        log.debug("event handled")
        return HANDLED

    async def _deliver_keyed(self, consumer: Consumer, message: Any, envelope: Envelope, data: Any) -> str:
        """A delivery to handlers whose effects are keyed by the event: no claim, nothing to release
        or record; the same outcomes otherwise."""
        broker, cfg, name = self.broker, self.cfg, consumer.queue
        try:
            for handler in consumer.handlers:
                await handler(envelope, data)
        except Malformed as exc:
            await dead_letter(broker, message, name, f"rejected by handler: {exc}", cfg)
            return DEAD_LETTERED
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, then dead-lettered
            return await retry_later(broker, message, name, exc, cfg, consumer.event)
        await message.ack()
        log.debug("event handled")
        return HANDLED


async def _release(inbox: Inbox, consumer: str, envelope: Envelope) -> None:
    try:
        await inbox.release(consumer, envelope)
    except Exception as exc:  # noqa: BLE001 - the claim then expires after its lease
        log.warning("inbox claim not released", error=_short(exc))


def _untrusted_publisher(raw: Any, event: type[Event], cfg: ConsumerConfig) -> str | None:
    """Why the message cannot be trusted to come from the service that owns its event, or None."""
    expected = cfg.publisher_of(event)
    user = raw.user_id
    if user == expected:
        return None
    if user == cfg.user and (raw.headers or {}).get(PUBLISHER_HEADER) == expected:
        return None  # our own retry of an event we verified when it first came
    return f"untrusted publisher: user_id {user!r}, but {event.__name__} is published by {expected!r}"


def _retries(raw: Any, cfg: ConsumerConfig) -> int | None:
    """How often this service has retried the message, None if the count is not one it wrote. Only
    a count it set itself counts: anyone else's header could say -50 or "x"."""
    if raw.user_id != cfg.user:
        return 0
    value = (raw.headers or {}).get(RETRY_HEADER, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= cfg.max_retries:
        return None
    return value


def _forwarded_headers(raw: Any) -> dict[str, Any]:
    # Our own headers come only from us: drop what a publisher put there.
    return {k: v for k, v in (raw.headers or {}).items() if not str(k).startswith("x-moha-")}


async def dead_letter(broker: RabbitBroker, message: Any, queue: str, reason: str, cfg: ConsumerConfig) -> None:
    raw = message.raw_message
    log.error("event dead-lettered", reason=reason, publisher=raw.user_id)
    headers = _forwarded_headers(raw)
    headers[ERROR_HEADER] = reason[:1000]
    await broker.publish(
        raw.body,
        exchange=DEAD_LETTER,
        routing_key=queue,
        persist=True,
        headers=headers,
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        message_type=raw.type,
        content_type=raw.content_type,
        user_id=cfg.user,
    )
    await message.ack()


async def retry_later(
    broker: RabbitBroker,
    message: Any,
    queue: str,
    exc: Exception,
    cfg: ConsumerConfig,
    event: type[Event],
    delay: timedelta | None = None,
) -> str:
    raw = message.raw_message
    retries = _retries(raw, cfg)
    if retries is None:
        await dead_letter(
            broker,
            message,
            queue,
            f"retry count {RETRY_HEADER} is not one this service wrote; last failure: {_short(exc)}",
            cfg,
        )
        return DEAD_LETTERED
    if retries >= cfg.max_retries:
        await dead_letter(broker, message, queue, f"failed {retries + 1} times: {_short(exc)}", cfg)
        return DEAD_LETTERED
    log.warning("event handling failed, will retry", retries=retries, error=_short(exc))
    headers = _forwarded_headers(raw)
    headers[RETRY_HEADER] = retries + 1
    headers[PUBLISHER_HEADER] = cfg.publisher_of(event)
    await broker.publish(
        raw.body,
        exchange=DEAD_LETTER,
        routing_key=retry_key(queue),
        persist=True,
        expiration=max(retry_delay(retries, cfg), delay or timedelta(0)),
        headers=headers,
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        message_type=raw.type,
        content_type=raw.content_type,
        user_id=cfg.user,
    )
    await message.ack()
    return RETRIED


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, ValidationError):
        text = json.dumps(
            [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)], ensure_ascii=False
        )
    return f"{exc.__class__.__name__}: {text}"[:500]
