"""Readiness says whether the service's consumers are there (issue #16): a process whose consumers
are gone takes no traffic and is restarted by the orchestrator, rather than leave events waiting."""

import asyncio
import uuid

import aio_pika
import pytest

from chassis.messaging import broker_user
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from moha_contracts import FormApproved
from tests.integration.conftest import PLATFORM_SERVICES

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(amqp_url, mongo_url, run_id):
    name = f"it-{uuid.uuid4().hex[:8]}"
    admin = broker_user(amqp_url)
    settings = ServiceSettings(
        service_name=name,
        amqp_url=amqp_url,
        mongodb_url=mongo_url,
        database=f"moha_it_{run_id}_{name[3:]}",
        broker_users=dict.fromkeys(PLATFORM_SERVICES, admin),
    )
    runtime = Runtime(settings, verify_tokens=False)

    async def ignore(envelope, event):
        return None

    runtime.consumers.on(FormApproved)(ignore)
    async with runtime.running():
        for _ in range(200):
            if (await runtime.readiness()).get("consumers"):
                break
            await asyncio.sleep(0.05)
        yield runtime
        await runtime.store.client.drop_database(settings.database)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for consumer in runtime.consumers.consumers:
            for queue in (consumer.queue, consumer.queue + ".retry", consumer.queue + ".dead"):
                await channel.queue_delete(queue)  # deleting a missing queue is no error


async def ready_becomes(runtime, expected: bool, timeout: float = 10.0) -> dict:
    for _ in range(int(timeout / 0.05)):
        checks = await runtime.readiness()
        if all(checks.values()) == expected:
            return checks
        await asyncio.sleep(0.05)
    raise AssertionError(f"readiness stayed {checks}")


async def test_ready_once_caught_up_and_consuming(runtime):
    checks = await ready_becomes(runtime, True)
    assert checks == {"store": True, "broker": True, "caught_up": True, "consumers": True}


async def test_not_ready_when_the_broker_cancels_a_consumer(runtime, amqp_url):
    await ready_becomes(runtime, True)
    # The queue deleted from under it (an operator's mistake, a node lost): the broker cancels the consumer.
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await (await connection.channel()).queue_delete(runtime.consumers.consumers[0].queue)
    checks = await ready_becomes(runtime, False)
    assert checks["consumers"] is False


async def test_not_ready_when_the_consumers_channel_is_closed(runtime):
    await ready_becomes(runtime, True)
    subscriber = runtime.broker.subscribers[0]
    await subscriber._queue_obj.channel.close()
    checks = await ready_becomes(runtime, False)
    assert checks["consumers"] is False
