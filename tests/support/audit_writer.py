"""A replica of a service writing audited changes, as a process of its own: `python -m
tests.support.audit_writer MONGODB_URL DATABASE AMQP_URL NAME COUNT [crash | PEERS]`.

It runs a store and its outbox relay as a service does (the relay chains each commit's entry as it
comes), waits until PEERS replicas (itself included) are ready, makes COUNT audited changes and
COUNT audited records from several tasks at once, then finishes what is pending. With `crash`, it
makes one audited change with the fault injection on and dies right after the commit (exit 70)."""

from __future__ import annotations

import asyncio
import sys

from chassis.audit import AuditEntry
from chassis.messaging import broker_user, make_broker
from chassis.outbox import OutboxRelay
from chassis.store import StaleVersion, Store
from tests.support import faults

TASKS = 4


async def write(url: str, database: str, amqp_url: str, name: str, count: int, peers: int = 1) -> None:
    store = Store(url, database)
    broker = make_broker(amqp_url, prefetch=10, service=f"audit-writer-{name}")
    await broker.connect()
    relay = OutboxRelay(store, broker, user_id=broker_user(amqp_url), grace_seconds=60)
    running = asyncio.create_task(relay.run())
    # All replicas start writing together: on a busy machine one process can start seconds after
    # the other, and a replica that is done before the other begins races with nobody.
    await store["ready"].insert_one({"_id": name})
    while await store["ready"].count_documents({}) < peers:
        await asyncio.sleep(0.01)

    async def one(task: int) -> None:
        for i in range(task, count, TASKS):
            # A document both replicas change: their commits race for its versions.
            for _ in range(100):
                doc = await store.find("shared", "s")
                try:
                    await store.update(
                        "shared",
                        "s",
                        doc["version"],
                        {"by": name, "i": i},
                        audit=AuditEntry("shared_changed", actor_id=name, target_id="s", details={"i": i}),
                    )
                    break
                except StaleVersion:
                    continue
            await store.record(AuditEntry("exported", actor_id=name, details={"i": i}))

    await asyncio.gather(*(one(t) for t in range(TASKS)))
    while not relay._fresh.empty():
        await asyncio.sleep(0.01)
    # Cancelled until done: a relay before the fix of chassis/outbox.py's wait could drop one.
    while not running.done():
        running.cancel()
        await asyncio.wait([running], timeout=0.1)
    await relay.drain()
    await broker.stop()
    await store.close()


async def crash(url: str, database: str, name: str) -> None:
    faults.crash_after_commit()
    store = Store(url, database)
    doc = await store.find("shared", "s")
    await store.update(
        "shared",
        "s",
        doc["version"],
        {"by": name, "crashed": True},
        audit=AuditEntry("shared_changed", actor_id=name, target_id="s"),
    )
    raise AssertionError("the fault injection should have ended the process")


if __name__ == "__main__":
    url, database, amqp_url, name, count = sys.argv[1:6]
    if sys.argv[6:] == ["crash"]:
        asyncio.run(crash(url, database, name))
    else:
        asyncio.run(write(url, database, amqp_url, name, int(count), *map(int, sys.argv[6:7])))
