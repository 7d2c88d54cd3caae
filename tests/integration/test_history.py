"""The event history (issue #16, decision 0017): a stream that the provisioning binds to the events
exchange with every routing key; services and subscribers read it, nobody writes into it but that
binding; the replaying subscriber example reads it from the first event, from a time and from where
it stopped."""

import asyncio
import importlib.util
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import aiormq
import httpx
import pytest

from chassis.messaging import broker_user, make_broker, publish_event
from deploy.rabbitmq.provision import (
    HistoryRetention,
    Management,
    amqp_url_for,
    service_user,
    subscriber_user,
    vhost_of,
)
from moha_contracts import EVENTS_EXCHANGE, EVENTS_HISTORY, FormApproved

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "examples" / "replaying_subscriber.py"


@pytest.fixture
def users(amqp_url, broker_admin_url):
    """A service's user and a subscriber's, on this run's vhost."""
    tag = uuid.uuid4().hex[:6]
    made = {
        "service": service_user("forms", f"h{tag}-forms", uuid.uuid4().hex),
        "subscriber": subscriber_user("bo-tai-chinh", f"h{tag}-btc", uuid.uuid4().hex),
    }
    vhost = vhost_of(amqp_url)
    with Management(broker_admin_url) as api:
        for user in made.values():
            api.put_user(user, vhost)
    yield {kind: amqp_url_for(broker_admin_url, user, vhost) for kind, user in made.items()}
    with Management(broker_admin_url) as api:
        for user in made.values():
            api.delete_user(user.name)


def test_the_history_is_a_stream_bound_with_every_key_and_kept_as_configured(amqp_url, broker_admin_url):
    vhost = vhost_of(amqp_url)
    with Management(broker_admin_url) as api:
        # Applying again with another retention changes the policy, not the stream.
        api.declare_history(vhost, HistoryRetention(max_age="30D", max_bytes=3_000_000_000, segment_bytes=50_000_000))
        base = api.base
    auth = (broker_user(broker_admin_url), httpx.URL(broker_admin_url).password or "guest")
    queue = httpx.get(f"{base}/api/queues/{vhost}/{EVENTS_HISTORY}", auth=auth).json()
    assert queue["type"] == "stream" and queue["durable"]
    assert queue["arguments"]["x-stream-max-segment-size-bytes"] == HistoryRetention().segment_bytes
    policy = httpx.get(f"{base}/api/policies/{vhost}", auth=auth).json()
    assert [p["definition"] for p in policy if p["name"] == "moha-events-history"] == [
        {"max-age": "30D", "max-length-bytes": 3_000_000_000}
    ]
    bindings = httpx.get(f"{base}/api/queues/{vhost}/{EVENTS_HISTORY}/bindings", auth=auth).json()
    assert [(b["source"], b["routing_key"]) for b in bindings if b["source"]] == [(EVENTS_EXCHANGE, "#")]
    with Management(broker_admin_url) as api:
        api.declare_history(vhost)  # back to the defaults, for the rest of the run


def test_a_retention_that_cannot_work_is_refused():
    with pytest.raises(ValueError, match="HISTORY_MAX_AGE"):
        HistoryRetention(max_age="7 days")
    with pytest.raises(ValueError, match="HISTORY_SEGMENT_BYTES"):
        HistoryRetention(max_bytes=1_000, segment_bytes=10_000)
    with pytest.raises(ValueError, match="prefix"):
        subscriber_user("moha", "moha", "x")  # its queues would be the history's


@pytest.mark.parametrize("kind", ["service", "subscriber"])
async def test_nobody_but_the_binding_writes_into_the_history(users, kind):
    connection = await aio_pika.connect(users[kind])
    async with connection:
        # Through the default exchange, which reaches every queue by name.
        channel = await connection.channel()
        message = aio_pika.Message(b"{}", user_id=broker_user(users[kind]))
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await channel.default_exchange.publish(message, routing_key=EVENTS_HISTORY)
        # Nor by binding it to an exchange, nor by deleting it.
        channel = await connection.channel()
        history = await channel.get_queue(EVENTS_HISTORY, ensure=True)  # passive: reading is allowed
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await history.bind(EVENTS_EXCHANGE, routing_key="x.#")
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await channel.queue_delete(EVENTS_HISTORY)


def _example():
    spec = importlib.util.spec_from_file_location("replaying_subscriber", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


async def _publish(amqp_url: str, tag: str, batch: str, n: int) -> list[str]:
    publisher = make_broker(amqp_url, prefetch=10, service="test")
    await publisher.connect()
    try:
        ids = []
        for i in range(n):
            event = FormApproved(
                task_id=f"{tag}-{batch}-{i}",
                submission_id=f"s-{tag}",
                unit_id="u",
                revision=1,
                level=1,
                final=True,
                approved_by="a",
                approved_at="2026-04-01T08:00:00Z",
            )
            ids.append((await publish_event(publisher, event, user_id=broker_user(amqp_url))).id)
        return ids
    finally:
        await publisher.stop()


async def _read(
    example, url: str, checkpoint, *, until: str, since=None, publishers=None, until_offset: int | None = None
) -> list[str]:
    """Run the example until it has handled the event `until` (or read past `until_offset`); the ids
    it handled, in order (of this test's events: the run's other tests publish on the same vhost)."""
    seen: list[str] = []
    done = asyncio.Event()
    tag, last = until.split("|")

    async def handle(envelope):
        if envelope.data.get("submission_id") == f"s-{tag}":
            seen.append(envelope.id)
        if envelope.id == last:
            done.set()

    # A minute early, not ten: this run's history holds thousands of other tests' events, each read
    # one at a time (this broker's clock lagged 11 s at worst).
    broker = example.build(
        url, checkpoint, handle, since=since, publishers=publishers, seek_margin=timedelta(minutes=1)
    )
    await broker.start()
    try:
        async with asyncio.timeout(30):
            while not done.is_set() and (until_offset is None or (checkpoint.offset or -1) < until_offset):
                await asyncio.sleep(0.02)
    finally:
        await broker.stop()
    return seen


async def test_the_replaying_subscriber_reads_from_the_first_event_a_time_and_where_it_stopped(
    amqp_url, users, tmp_path
):
    example = _example()
    tag = uuid.uuid4().hex[:8]
    admin = broker_user(amqp_url)
    publishers = {"approvals": admin}  # in the tests every event is published by the run's administrator
    first = await _publish(amqp_url, tag, "a", 5)
    # A time between the batches, by the publisher's clock: the example seeks earlier (the broker's
    # clock may lag, as this machine's once did by 11 s) and keeps what was stamped from then on.
    between = datetime.now(UTC)
    second = await _publish(amqp_url, tag, "b", 3)

    # From the first event kept, as the subscriber's read-only user: all of them, in order.
    checkpoint = example.Checkpoint(tmp_path / "offset.json")
    assert (
        await _read(example, users["subscriber"], checkpoint, until=f"{tag}|{second[-1]}", publishers=publishers)
        == first + second
    )
    # From where it stopped (a checkpoint kept in a file): only what came since. The stream is in
    # order, so anything read again would have come before the last new event.
    third = await _publish(amqp_url, tag, "c", 2)
    again = example.Checkpoint(tmp_path / "offset.json")
    assert again.offset is not None
    assert await _read(example, users["subscriber"], again, until=f"{tag}|{third[-1]}", publishers=publishers) == third
    # From a time: what was published from then on.
    fresh = example.Checkpoint(tmp_path / "other.json")
    assert (
        await _read(
            example, users["subscriber"], fresh, until=f"{tag}|{third[-1]}", since=between, publishers=publishers
        )
        == second + third
    )
    # The history keeps who published each event: one from an unexpected user is not handled.
    assert (
        await _read(
            example,
            users["subscriber"],
            example.Checkpoint(tmp_path / "strict.json"),
            until=f"{tag}|{third[-1]}",
            since=between,
            publishers={"approvals": "approvals"},
            until_offset=fresh.offset,
        )
        == []
    )
