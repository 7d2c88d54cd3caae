"""The chassis over the real broker and store: the outbox relay, the inbox, retries and the
dead-letter queue."""

import asyncio
import uuid

import pytest
from pymongo import monitoring

from chassis import readmodel
from chassis.messaging import Malformed, Retry, broker_user, make_broker
from chassis.outbox import OutboxRelay
from chassis.store import StaleVersion
from moha_contracts import Envelope, UnitRegistered
from tests.integration.conftest import start
from tests.support.events import EventTap, drained

pytestmark = pytest.mark.integration


def unit_event(code: str) -> UnitRegistered:
    return UnitRegistered(
        unit_id=code, code=code, name=f"Đơn vị {code}", level="commune", parent_id="d", path=["root", "d"]
    )


async def collect(tap: EventTap, count: int, timeout: float = 10.0) -> list[Envelope]:
    for _ in range(int(timeout / 0.05)):
        await tap.drain()
        if len(tap.seen) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # and nothing more arrives
    await tap.drain()
    return [e for e, _ in tap.seen]


async def settled(tap: EventTap, consumers) -> None:
    """Every copy delivered and settled: the work and retry queues stay empty for several polls
    (not a fixed sleep before asserting that something did not happen)."""
    queues = [q for c in consumers.consumers for q in (c.queue, c.queue + ".retry")]
    await drained(tap.channel, queues)


async def test_events_stored_with_the_change_survive_a_relay_that_never_ran(amqp_url, store):
    code = uuid.uuid4().hex[:8]
    async with EventTap(amqp_url, "accounts.unit.registered.v1") as tap:
        # The write commits; the process "dies" before any relay runs.
        await store.insert("units", {"_id": code, "name": "x"}, [unit_event(code)])
        commit = await store.commits.find_one({"_id": f"units:{code}:1"})
        assert len(commit["events"]) == 1
        assert await store.outbox.find_one({"_id": commit["_id"]}) is not None

        # A new process, a new relay: the event goes out once and the commit is marked.
        broker = make_broker(amqp_url, prefetch=10, service="relay-test")
        await broker.connect()
        relay = OutboxRelay(store, broker, user_id=broker_user(amqp_url))
        assert await relay.drain() == 1
        assert await relay.drain() == 0
        await broker.stop()
        seen = [e for e in await collect(tap, 1) if e.subject == code]
    assert len(seen) == 1 and seen[0].id == commit["events"][0]["id"]
    assert await store.outbox.count_documents({}) == 0  # the backlog is empty again


async def test_a_commit_its_writer_never_applied_is_finished_by_recovery(amqp_url, store, monkeypatch):
    await store.insert("tasks", {"_id": "t1", "status": "open"})
    real_apply = store.apply

    async def crash(commit):  # the writer dies after the commit, before applying it
        pass

    monkeypatch.setattr(store, "apply", crash)
    await store.update("tasks", "t1", 1, {"status": "approved"}, [unit_event("t1")])
    monkeypatch.setattr(store, "apply", real_apply)
    assert (await store.find("tasks", "t1"))["status"] == "open"
    # Meanwhile a write based on the old version is refused: the version is taken.
    with pytest.raises(StaleVersion):
        await store.update("tasks", "t1", 1, {"status": "returned"})

    broker = make_broker(amqp_url, prefetch=10, service="relay-test")
    await broker.connect()
    assert await OutboxRelay(store, broker, user_id=broker_user(amqp_url)).drain() == 1
    await broker.stop()
    doc = await store.find("tasks", "t1")
    assert (doc["status"], doc["version"]) == ("approved", 2)
    assert await store.outbox.count_documents({}) == 0


async def test_appended_items_are_kept_once_in_order_and_the_commit_holds_only_the_new_one(
    amqp_url, store, monkeypatch
):
    """A career's entries grow with every change: each commit carries the entry it adds, and applying
    a commit again (the relay's recovery after a writer died) does not add it twice."""
    version = await store.save("records", "r1", 0, {"state": {"n": 0}}, append={"entries": [{"seq": 1}]})
    version = await store.save("records", "r1", version, {"state": {"n": 1}}, append={"entries": [{"seq": 2}]})
    commit = await store.commits.find_one({"_id": "records:r1:2"})
    assert commit["push"] == {"entries": [{"seq": 2}]} and "entries" not in commit["set"]

    real_apply = store.apply

    async def crash(commit):  # the writer dies after the commit, before applying it
        pass

    monkeypatch.setattr(store, "apply", crash)
    await store.update(
        "records", "r1", version, {"state": {"n": 2}}, [unit_event("r1")], append={"entries": [{"seq": 3}, {"seq": 4}]}
    )
    monkeypatch.setattr(store, "apply", real_apply)
    assert [e["seq"] for e in (await store.find("records", "r1"))["entries"]] == [1, 2]
    broker = make_broker(amqp_url, prefetch=10, service="relay-test")
    await broker.connect()
    relay = OutboxRelay(store, broker, user_id=broker_user(amqp_url))
    assert await relay.drain() == 1
    await store.apply(await store.commits.find_one({"_id": "records:r1:3"}))  # once more: no effect
    await broker.stop()
    doc = await store.find("records", "r1")
    assert [e["seq"] for e in doc["entries"]] == [1, 2, 3, 4] and doc["state"] == {"n": 2} and doc["version"] == 3


async def test_many_documents_created_at_once_are_created_once_with_their_events(amqp_url, store):
    """An import's thousands of records in a few round trips: the same commits and markers as one by
    one, an id created before is refused (not overwritten), and every event goes out once."""
    codes = [f"{uuid.uuid4().hex[:6]}-{i}" for i in range(30)]
    await store.insert("units", {"_id": codes[0], "name": "first"})
    async with EventTap(amqp_url, "accounts.unit.registered.v1") as tap:
        created = await store.insert_many("units", [({"_id": c, "name": "bulk"}, [unit_event(c)]) for c in codes])
        assert created == [False] + [True] * 29
        assert (await store.find("units", codes[0]))["name"] == "first"
        assert await store.commits.count_documents({"doc_id": {"$in": codes}}) == 30
        broker = make_broker(amqp_url, prefetch=10, service="relay-test")
        await broker.connect()
        await OutboxRelay(store, broker, user_id=broker_user(amqp_url)).drain()
        await broker.stop()
        seen = [e for e in await collect(tap, 29) if e.subject in codes]
    assert sorted(e.subject for e in seen) == sorted(codes[1:])
    assert [(await store.find("units", c))["version"] for c in codes[1:]] == [1] * 29
    assert await store.outbox.count_documents({}) == 0


async def test_concurrent_writers_exactly_one_wins_each_version(mongo_url, store):
    """The store's own guarantee, measured on the real server (FerretDB's conditional updates alone
    are not atomic: docs/decisions/0002)."""
    from chassis.store import Store

    await store.insert("counters", {"_id": "c", "n": 0})
    writers = [Store(mongo_url, store.db.name) for _ in range(4)]

    async def bump(writer: Store) -> int:
        wins = 0
        for _ in range(25):
            doc = await writer.find("counters", "c")
            try:
                await writer.update("counters", "c", doc["version"], {"n": doc["n"] + 1})
                wins += 1
            except StaleVersion:
                pass
        return wins

    wins = sum(await asyncio.gather(*(bump(w) for w in writers)))
    doc = await store.find("counters", "c")
    for w in writers:
        await w.close()
    assert doc["n"] == wins == doc["version"] - 1  # no lost update, no double win


class OutboxInserts(monitoring.CommandListener):
    """Counts the inserts into one database's outbox, and those the server refused as duplicates."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.requests: set[int] = set()
        self.inserts = self.refused = 0

    def started(self, event):
        if (
            event.database_name == self.database
            and event.command_name == "insert"
            and event.command.get("insert") == "outbox"
        ):
            self.inserts += 1
            self.requests.add(event.request_id)

    def succeeded(self, event):
        if event.request_id in self.requests and event.reply.get("writeErrors"):
            self.refused += 1

    def failed(self, event):
        pass


async def test_a_write_marks_its_commit_once(mongo_url, store):
    """A write stamps its commit's outbox marker once (decision 0018): marking it again, refused as
    a duplicate every time, was a round trip in every change of every service."""
    from chassis.store import Store

    listener = OutboxInserts(store.db.name)
    monitoring.register(listener)  # for clients made from now on: the writer below
    writer = Store(mongo_url, store.db.name)
    try:
        await writer.insert("tasks", {"_id": "t1", "status": "open"}, [unit_event("t1")])
        await writer.update("tasks", "t1", 1, {"status": "approved"}, [unit_event("t1")])
        await writer.update("tasks", "t1", 2, {"status": "closed"})
    finally:
        await writer.close()
    assert (listener.inserts, listener.refused) == (3, 0)
    assert (await store.find("tasks", "t1"))["version"] == 3


async def test_a_writer_stalled_past_half_the_grace_marks_its_commit_again(amqp_url, store, monkeypatch):
    """A writer that stalls between its marker and its commit may find the marker dropped by a relay
    that saw no commit behind it after the grace period: it marks the commit again, so that if it
    then dies before applying and publishing, recovery still finishes the commit."""
    await store.insert("tasks", {"_id": "t1", "status": "open"})
    relay_broker = make_broker(amqp_url, prefetch=10, service="relay-test")
    relay = OutboxRelay(store, relay_broker, user_id=broker_user(amqp_url), grace_seconds=0.1)
    assert store.remark_after == 0.05  # half the relay's grace
    real_insert, real_apply = store.commits.insert_one, store.apply

    async def stalled(commit, *args, **kwargs):
        await asyncio.sleep(0.2)
        # Meanwhile a relay's recovery saw a marker past its grace with no commit, and dropped it.
        await store.outbox.delete_one({"_id": commit["_id"]})
        return await real_insert(commit, *args, **kwargs)

    async def crash(commit):  # and the writer dies after its commit, before applying it
        pass

    monkeypatch.setattr(store.commits, "insert_one", stalled)
    monkeypatch.setattr(store, "apply", crash)
    async with EventTap(amqp_url, "accounts.unit.registered.v1") as tap:
        await store.update("tasks", "t1", 1, {"status": "approved"}, [unit_event("t1")])
        monkeypatch.setattr(store, "apply", real_apply)
        assert await store.outbox.find_one({"_id": "tasks:t1:2"}) is not None
        await relay_broker.connect()
        assert await relay.drain() == 1
        await relay_broker.stop()
        assert [e.subject for e in await collect(tap, 1)] == ["t1"]
    assert (await store.find("tasks", "t1"))["status"] == "approved"


async def test_two_relays_recovering_together_lose_nothing(amqp_url, store):
    codes = [f"{uuid.uuid4().hex[:6]}-{i}" for i in range(40)]
    async with EventTap(amqp_url, "accounts.unit.registered.v1") as tap:
        for code in codes:
            await store.insert("units", {"_id": code}, [unit_event(code)])
        brokers = [make_broker(amqp_url, prefetch=10, service=f"relay-{i}") for i in range(2)]
        for b in brokers:
            await b.connect()
        relays = [OutboxRelay(store, b, user_id=broker_user(amqp_url)) for b in brokers]
        await asyncio.gather(*(r.drain() for r in relays))
        for b in brokers:
            await b.stop()
        seen = [e for e in await collect(tap, len(codes)) if e.subject in codes]
    # Every event out; one published by both relays carries the same id, which consumers de-duplicate.
    assert {e.subject for e in seen} == set(codes)
    assert len({e.id for e in seen}) == len(codes)
    assert await store.outbox.count_documents({}) == 0


async def test_redelivered_event_has_no_second_effect(consumers, amqp_url):
    effects = []

    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        effects.append(envelope.id)

    await start(consumers)
    envelope = Envelope.wrap(unit_event("dup"))
    async with EventTap(amqp_url, "none") as tap:
        for _ in range(3):
            await tap.publish_raw(envelope.model_dump_json().encode(), envelope.routing_key, message_id=envelope.id)
        await settled(tap, consumers)
    assert effects == [envelope.id]


async def test_not_yet_handleable_event_is_retried_then_handled(consumers, amqp_url):
    attempts = []

    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        attempts.append(envelope.id)
        if len(attempts) < 3:
            raise Retry("parent not known yet")

    await start(consumers)
    envelope = Envelope.wrap(unit_event("late"))
    async with EventTap(amqp_url, "none") as tap:
        await tap.publish_raw(envelope.model_dump_json().encode(), envelope.routing_key, message_id=envelope.id)
        for _ in range(100):
            if len(attempts) >= 3:
                break
            await asyncio.sleep(0.05)
    assert len(attempts) == 3  # two retries after a delay, then success


async def test_failing_handler_ends_in_dead_letter_queue_with_reason(consumers, amqp_url):
    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        raise RuntimeError("store unreachable")

    await start(consumers)
    envelope = Envelope.wrap(unit_event("poison"))
    message = await publish_and_wait_for_dead_letter(amqp_url, envelope, consumers.consumers[0].queue)
    assert message.headers["x-moha-error"] == "failed 3 times: RuntimeError: store unreachable"
    assert message.message_id == envelope.id


async def test_handler_can_refuse_a_message_for_good(consumers, amqp_url):
    calls = []

    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        calls.append(1)
        raise Malformed("unit code reused by another unit")

    await start(consumers)
    envelope = Envelope.wrap(unit_event("refused"))
    message = await publish_and_wait_for_dead_letter(amqp_url, envelope, consumers.consumers[0].queue)
    assert calls == [1]  # no retry for what can never succeed
    assert message.headers["x-moha-error"].startswith("rejected by handler: unit code reused")


async def publish_and_wait_for_dead_letter(amqp_url: str, envelope: Envelope, queue: str):
    async with EventTap(amqp_url, "none") as tap:
        await tap.publish_raw(envelope.model_dump_json().encode(), envelope.routing_key, message_id=envelope.id)
        dead = await tap.channel.declare_queue(f"{queue}.dead", passive=True)
        for _ in range(100):
            if (message := await dead.get(no_ack=True, fail=False)) is not None:
                return message
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing reached {queue}.dead")


async def test_handlers_of_one_event_share_the_queue_and_run_once_each(consumers, amqp_url):
    calls = []

    @consumers.on(UnitRegistered)
    async def first(envelope, event):
        calls.append("first")

    @consumers.on(UnitRegistered)
    async def second(envelope, event):
        calls.append("second")

    await start(consumers)
    assert len(consumers.consumers) == 1
    envelope = Envelope.wrap(unit_event("shared"))
    async with EventTap(amqp_url, "none") as tap:
        for _ in range(2):
            await tap.publish_raw(envelope.model_dump_json().encode(), envelope.routing_key, message_id=envelope.id)
        await settled(tap, consumers)
    assert calls == ["first", "second"]


# Nothing trusted because of where it arrived (issue #11, items 3 and 4) --------------------------------
@pytest.fixture
def intruder(broker_admin_url, amqp_url):
    """Another user of the broker with every right on the vhost: only the messages themselves say who it is."""
    from deploy.rabbitmq.provision import BrokerUser, Management, amqp_url_for, vhost_of

    user = BrokerUser(f"intruder-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, ".*", ".*", ".*", ".*")
    with Management(broker_admin_url) as api:
        api.put_user(user, vhost_of(amqp_url))
        yield amqp_url_for(broker_admin_url, user, vhost_of(amqp_url))
        api.delete_user(user.name)


async def dead_letter_of(amqp_url: str, queue: str):
    async with EventTap(amqp_url, "none") as tap:
        dead = await tap.channel.declare_queue(f"{queue}.dead", passive=True)
        for _ in range(200):
            if (message := await dead.get(no_ack=True, fail=False)) is not None:
                return message
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing reached {queue}.dead")


async def test_an_event_from_another_publisher_is_dead_lettered_not_handled(consumers, amqp_url, intruder):
    calls = []

    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        calls.append(envelope.id)

    await start(consumers)
    forged = Envelope.wrap(unit_event("forged"))
    async with EventTap(intruder, "none") as tap:
        # Signed with its own name (RabbitMQ refuses any other), and with none at all.
        await tap.publish_raw(forged.model_dump_json().encode(), forged.routing_key, message_id=forged.id)
        await tap.publish_raw(forged.model_dump_json().encode(), forged.routing_key, message_id=forged.id, user_id=None)
    queue = consumers.consumers[0].queue
    first, second = await dead_letter_of(amqp_url, queue), await dead_letter_of(amqp_url, queue)
    assert first.headers["x-moha-error"].startswith(f"untrusted publisher: user_id '{tap.user}'")
    assert second.headers["x-moha-error"].startswith("untrusted publisher: user_id None")
    assert calls == []


async def test_a_body_that_is_not_json_is_dead_lettered_with_its_reason(consumers, amqp_url):
    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        raise AssertionError("never called")

    await start(consumers)
    async with EventTap(amqp_url, "none") as tap:
        for _ in range(40):  # more than the prefetch (10): none may stay unsettled
            await tap.publish_raw(b"\xff not json {", "accounts.unit.registered.v1", content_type="application/json")
    queue = consumers.consumers[0].queue
    message = await dead_letter_of(amqp_url, queue)
    assert message.headers["x-moha-error"].startswith("malformed:")
    envelope = Envelope.wrap(unit_event("after-garbage"))
    handled = []
    consumers.consumers[0].handlers[:] = [lambda e, d: _record(handled, e)]
    async with EventTap(amqp_url, "none") as tap:
        await tap.publish_raw(envelope.model_dump_json().encode(), envelope.routing_key, message_id=envelope.id)
    for _ in range(200):
        if handled:
            break
        await asyncio.sleep(0.05)
    assert handled == [envelope.id]  # the consumer is not wedged


async def _record(into: list, envelope) -> None:
    into.append(envelope.id)


@pytest.mark.parametrize("claimed", [-50, "x"])
async def test_a_retry_count_another_service_set_is_ignored(consumers, amqp_url, intruder, claimed):
    attempts = []

    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        attempts.append(1)
        raise RuntimeError("store unreachable")

    # The publisher of the event is another user than the consumer's: its header counts for nothing.
    consumers.cfg.publishers = {"accounts": broker_user(intruder)}
    await start(consumers)
    envelope = Envelope.wrap(unit_event(f"count-{uuid.uuid4().hex[:4]}"))
    async with EventTap(intruder, "none") as tap:
        await tap.publish_raw(
            envelope.model_dump_json().encode(),
            envelope.routing_key,
            message_id=envelope.id,
            headers={"x-moha-retries": claimed},
        )
    message = await dead_letter_of(amqp_url, consumers.consumers[0].queue)
    assert message.headers["x-moha-error"] == "failed 3 times: RuntimeError: store unreachable"
    assert len(attempts) == 3  # max_retries (2) retries, counted by the consumer itself


async def test_a_retry_count_that_is_not_a_count_stops_retries_with_a_reason(consumers, amqp_url):
    attempts = []

    @consumers.on(UnitRegistered)
    async def handle(envelope, event):
        attempts.append(1)
        raise RuntimeError("store unreachable")

    await start(consumers)
    envelope = Envelope.wrap(unit_event(f"count-{uuid.uuid4().hex[:4]}"))
    async with EventTap(amqp_url, "none") as tap:  # as the consumer's own user here
        await tap.publish_raw(
            envelope.model_dump_json().encode(),
            envelope.routing_key,
            message_id=envelope.id,
            headers={"x-moha-retries": "x"},
        )
    message = await dead_letter_of(amqp_url, consumers.consumers[0].queue)
    assert message.headers["x-moha-error"].startswith("retry count x-moha-retries is not one this service wrote")
    assert len(attempts) == 1


async def test_a_relay_stops_when_cancelled_even_as_a_commit_arrives(amqp_url, store):
    """A service stops by cancelling its relay; on Python 3.11 `asyncio.wait_for` dropped a
    cancellation that came as a commit arrived, and the relay (so the service) ran on."""
    broker = make_broker(amqp_url, prefetch=10, service="relay-stop")
    relay = OutboxRelay(store, broker, user_id=broker_user(amqp_url), poll_seconds=60)
    stuck = 0
    for i in range(30):
        task = asyncio.create_task(relay.run())
        await asyncio.sleep(0.01)
        relay._fresh.put_nowait({"_id": f"x:{i}:1", "events": []})
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)  # "never", not "slowly": the machine may be busy
        if not done:
            stuck += 1
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.1)
    assert stuck == 0


# Handlers whose effect is keyed by the event need no inbox (decision 0018, part 4) ------------------
async def test_a_keyed_handler_skips_the_inbox_and_copies_of_its_event_add_nothing(consumers, amqp_url, store):
    calls, attempts = [], []

    @consumers.on(UnitRegistered, keyed=True)
    async def handle(envelope, event):
        calls.append(envelope.id)
        if event.unit_id == "late" and len(attempts) < 2:
            attempts.append(1)
            raise Retry("parent not known yet")
        await readmodel.insert_fact(store["effects"], {"_id": envelope.id, "unit_id": event.unit_id})

    await start(consumers)
    assert not consumers.consumers[0].claims
    envelope, late = Envelope.wrap(unit_event("dup")), Envelope.wrap(unit_event("late"))
    async with EventTap(amqp_url, "none") as tap:
        for e in (envelope, envelope, envelope, late):
            await tap.publish_raw(e.model_dump_json().encode(), e.routing_key, message_id=e.id)
        for _ in range(200):
            if await store["effects"].count_documents({}) == 2:
                break
            await asyncio.sleep(0.05)
        await settled(tap, consumers)
    # Every copy handled, one effect each; retried like any handler; not one inbox write.
    assert calls.count(envelope.id) == 3 and calls.count(late.id) == 3
    assert sorted([d["unit_id"] async for d in store["effects"].find({})]) == ["dup", "late"]
    assert await store["inbox"].count_documents({}) == 0
    assert await store["inbox_done"].count_documents({}) == 0


async def test_a_queue_with_one_handler_not_keyed_keeps_the_inbox(consumers, amqp_url, store):
    calls = []

    @consumers.on(UnitRegistered, keyed=True)
    async def keyed(envelope, event):
        calls.append("keyed")

    @consumers.on(UnitRegistered)
    async def counted(envelope, event):
        calls.append("counted")

    await start(consumers)
    assert consumers.consumers[0].claims
    envelope = Envelope.wrap(unit_event("mixed"))
    async with EventTap(amqp_url, "none") as tap:
        for _ in range(2):
            await tap.publish_raw(envelope.model_dump_json().encode(), envelope.routing_key, message_id=envelope.id)
        await settled(tap, consumers)
    assert calls == ["keyed", "counted"]
    assert await store["inbox_done"].count_documents({}) == 1
