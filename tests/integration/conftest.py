import uuid

import pytest

from chassis.inbox import Inbox
from chassis.messaging import ConsumerConfig, EventConsumers, broker_user, make_broker
from chassis.store import Store

pytestmark = pytest.mark.integration
PLATFORM_SERVICES = ("accounts", "forms", "approvals", "notifications", "personnel")


@pytest.fixture
async def store(mongo_url, run_id):
    s = Store(mongo_url, f"moha_it_{run_id}_{uuid.uuid4().hex[:6]}")
    yield s
    await s.client.drop_database(s.db.name)
    await s.close()


@pytest.fixture
def service_name() -> str:
    # A service name of the test's own gives its queues names of their own.
    return f"it-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def consumers(amqp_url, store, service_name):
    """In-process consumers over the real broker, with short retry delays."""
    broker = make_broker(amqp_url, prefetch=10, service=service_name)
    # The tests publish as the run's administrator: it stands for every service here.
    admin = broker_user(amqp_url)
    cfg = ConsumerConfig(
        service=service_name,
        user=admin,
        publishers=dict.fromkeys(PLATFORM_SERVICES, admin),
        delivery_limit=5,
        max_retries=2,
        retry_delay_ms=100,
    )
    registry = EventConsumers(broker, cfg, Inbox(store))
    yield registry
    await broker.stop()
    # Leave nothing behind on the broker.
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for consumer in registry.consumers:
            for name in (consumer.queue, consumer.queue + ".retry", consumer.queue + ".dead"):
                await channel.queue_delete(name)


async def start(registry: EventConsumers) -> None:
    await registry.broker.connect()
    await registry.declare()
    await registry.broker.start()
