"""The subscriber example in contracts/examples works as written against the real broker."""

import asyncio
import importlib.util
import uuid
from pathlib import Path

import pytest

from chassis.messaging import broker_user, make_broker, publish_event
from moha_contracts import FormApproved

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "examples" / "ministry_subscriber.py"


async def test_ministry_subscriber_example_receives_events_once(amqp_url, broker_admin_url):
    from deploy.rabbitmq.provision import Management, amqp_url_for, subscriber_user, vhost_of

    # As another ministry would: a read-only user that owns queues named with its prefix.
    ministry = subscriber_user("bo-tai-chinh", f"bo-tai-chinh-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex)
    with Management(broker_admin_url) as api:
        api.put_user(ministry, vhost_of(amqp_url))
    try:
        await _receives_once(amqp_url, amqp_url_for(broker_admin_url, ministry, vhost_of(amqp_url)))
    finally:
        with Management(broker_admin_url) as api:
            api.delete_user(ministry.name)


async def _receives_once(amqp_url: str, ministry_url: str) -> None:
    spec = importlib.util.spec_from_file_location("ministry_subscriber", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    seen: set[str] = set()
    queue = f"bo-tai-chinh.test-{uuid.uuid4().hex[:8]}"
    subscriber = example.build(ministry_url, queue=queue, seen=seen)
    await subscriber.start()
    publisher = make_broker(amqp_url, prefetch=10, service="test")
    await publisher.connect()
    try:
        event = FormApproved(
            task_id="t",
            submission_id=f"s-{queue}",
            unit_id="u",
            revision=1,
            level=1,
            final=True,
            approved_by="a",
            approved_at="2026-04-01T08:00:00Z",
        )
        envelope = await publish_event(publisher, event, user_id=broker_user(amqp_url), correlation_id="c")
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == {envelope.id}
    finally:
        await publisher.stop()
        await subscriber.stop()
        import aio_pika

        connection = await aio_pika.connect(amqp_url)
        async with connection:
            await (await connection.channel()).queue_delete(queue)
