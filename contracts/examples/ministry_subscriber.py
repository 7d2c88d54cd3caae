"""How another ministry subscribes to the platform's events (runnable; the test suite runs it).

    pip install moha-contracts "faststream[rabbit]"
    AMQP_URL=amqp://<user>:<password>@<broker>:5672/ python ministry_subscriber.py

Bind a durable queue of your own to the topic exchange `moha.events` with the routing-key pattern
you need; nobody has to grant the binding. Your broker user is read-only: it may make and read
queues named with your prefix (here `bo-tai-chinh.`), bind them, and publish nothing. Delivery is
at least once: keep the ids you have handled. Each event's publisher is in the message's
`user_id` (RabbitMQ checks it): `accounts.…` events come from the user `accounts`, and so on.
"""

from __future__ import annotations

import os

from faststream import AckPolicy, FastStream
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from moha_contracts import EVENTS_EXCHANGE, Envelope, FormApproved

# The Ministry declares the exchange; a subscriber only checks that it is there.
EVENTS = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True, declare=False)


def build(amqp_url: str, queue: str = "bo-tai-chinh.form-approved", seen: set[str] | None = None) -> RabbitBroker:
    broker = RabbitBroker(amqp_url)
    seen = seen if seen is not None else set()  # use your own database in production

    @broker.subscriber(
        RabbitQueue(queue, queue_type=QueueType.QUORUM, routing_key="approvals.form.approved.v1"),
        EVENTS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_form_approved(body: bytes) -> None:
        envelope = Envelope.model_validate_json(body)
        if envelope.id in seen:
            return
        approved = envelope.open(FormApproved)
        print(f"{approved.submission_id} approved at level {approved.level} (final: {approved.final})")
        seen.add(envelope.id)

    return broker


if __name__ == "__main__":
    import asyncio

    asyncio.run(FastStream(build(os.environ["AMQP_URL"])).run())
