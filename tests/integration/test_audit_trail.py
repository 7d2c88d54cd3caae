"""The audit trail over the real store: the entry is in the commit of its action (a crash leaves
both or neither), replicas writing at once make one chain, and the verifier names tampering."""

import asyncio
import contextlib
import io
import os
import subprocess
import sys

import pytest
from pymongo.errors import ConnectionFailure

from chassis.audit import CHAIN, AuditChain, AuditEntry, verify
from chassis.audit import main as audit_command
from chassis.messaging import broker_user, make_broker
from chassis.outbox import OutboxRelay

pytestmark = pytest.mark.integration


@pytest.fixture
async def relay(amqp_url, store):
    broker = make_broker(amqp_url, prefetch=10, service="audit-test")
    await broker.connect()
    yield OutboxRelay(store, broker, user_id=broker_user(amqp_url))
    await broker.stop()


def entry(action: str, **details) -> AuditEntry:
    return AuditEntry(
        action,
        actor_id="admin-1",
        actor_username="admin",
        target_id="t1",
        unit_lineage=["root"],
        ip="127.0.0.1",
        details=details,
    )


async def chained(store) -> list[dict]:
    return [d async for d in store[CHAIN].find({}).sort("_id", 1)]


async def test_the_entry_is_written_in_the_commit_of_its_action_and_then_chained(store, relay):
    await store.insert("accounts", {"_id": "t1", "role": "reporting_unit"}, audit=entry("account_issued"))
    await store.update("accounts", "t1", 1, {"status": "revoked"}, audit=entry("account_revoked"))
    await store.record(entry("login", outcome="unknown_name"))
    commit = await store.commits.find_one({"_id": "accounts:t1:2"})
    assert commit["set"] == {"status": "revoked"} and commit["audit"]["action"] == "account_revoked"
    # Nothing ran the relay yet: the entries wait behind their markers, flagged.
    assert await store.outbox.count_documents({"audit": True}) == 3
    assert await relay.drain() == 3
    trail = await chained(store)
    assert [(e["_id"], e["action"]) for e in trail] == [(1, "account_issued"), (2, "account_revoked"), (3, "login")]
    assert trail[1]["source"] == "accounts:t1:2" and trail[1]["at"] == commit["at"]
    assert await store.outbox.count_documents({}) == 0
    assert (await verify(store)).intact


async def test_a_writer_dying_right_after_its_commit_leaves_the_action_and_its_entry(mongo_url, amqp_url, store, relay):
    await store.insert("shared", {"_id": "s", "by": "nobody"})
    await relay.drain()
    child = subprocess.run(
        [sys.executable, "-m", "tests.support.audit_writer", mongo_url, store.db.name, amqp_url, "r1", "1", "crash"],
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == 70, child.stderr.decode()[-2000:]
    # Died after the commit: neither applied nor chained yet, but both are stored, in one write.
    assert (await store.find("shared", "s"))["version"] == 1
    assert (await store.commits.find_one({"_id": "shared:s:2"}))["audit"]["actor_id"] == "r1"
    assert await chained(store) == []
    # The relay's recovery (any replica's, after the grace period) finishes both.
    await relay.drain()
    assert (await store.find("shared", "s"))["crashed"] is True
    assert [(e["source"], e["actor_id"]) for e in await chained(store)] == [("shared:s:2", "r1")]
    assert (await verify(store)).intact


class _StoreAway:
    """The commits collection as a store that went away at the moment of the write."""

    def __init__(self, real):
        self.real = real

    async def insert_one(self, doc):
        raise ConnectionFailure("store away")

    def __getattr__(self, name):
        return getattr(self.real, name)


async def test_a_write_that_never_committed_leaves_neither_the_action_nor_its_entry(store, relay, monkeypatch):
    await store.insert("accounts", {"_id": "t1", "status": "active"})
    monkeypatch.setattr(store, "commits", _StoreAway(store.commits))
    with pytest.raises(ConnectionFailure):
        await store.update("accounts", "t1", 1, {"status": "revoked"}, audit=entry("account_revoked"))
    with pytest.raises(ConnectionFailure):
        await store.record(entry("login"))
    monkeypatch.undo()
    assert await store.outbox.count_documents({"audit": True}) == 2  # the markers went first
    await relay.drain()
    assert (await store.find("accounts", "t1"))["status"] == "active"
    assert await chained(store) == []
    assert await store.outbox.count_documents({}) == 0


async def test_two_replicas_writing_at_once_make_one_chain_without_fork_or_gap(mongo_url, amqp_url, store):
    """Two processes, each with four writers and its relay chaining as it goes, change one
    document (racing for its versions) and record entries of their own."""
    await store.insert("shared", {"_id": "s", "by": "nobody"})
    count = 60
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.audit_writer",
            mongo_url,
            store.db.name,
            amqp_url,
            name,
            str(count),
            "2",  # replicas: they start writing together
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("r1", "r2")
    ]
    results = [await asyncio.wait_for(c.communicate(), 120) for c in children]
    assert [c.returncode for c in children] == [0, 0], [err.decode()[-2000:] for _, err in results]

    trail = await chained(store)
    audited = [c["_id"] async for c in store.commits.find({"audit": {"$exists": True}})]
    assert len(audited) == 4 * count
    assert [e["_id"] for e in trail] == list(range(1, 4 * count + 1))  # no gap, no number twice
    assert sorted(e["source"] for e in trail) == sorted(audited)  # every entry once
    # They did write at once: the chain goes from one replica's entries to the other's many times.
    assert sum(a["actor_id"] != b["actor_id"] for a, b in zip(trail, trail[1:], strict=False)) > 4
    report = await verify(store)
    assert report.intact and report.entries == 4 * count


def run_verifier(mongo_url: str, database: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MONGODB_URL": mongo_url, "DATABASE": database}
    return subprocess.run(
        [sys.executable, "-m", "chassis.audit", "verify", "--service", "accounts", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def verifier(monkeypatch, mongo_url: str, database: str, *extra: str) -> tuple[int, str]:
    """The same command run in this process, in a thread (it runs an event loop of its own): its exit
    code and what it printed. A process per case cost two seconds of imports each."""
    monkeypatch.setenv("MONGODB_URL", mongo_url)
    monkeypatch.setenv("DATABASE", database)

    def run() -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = audit_command(["verify", "--service", "accounts", *extra])
        return code, out.getvalue()

    return await asyncio.to_thread(run)


async def test_the_verifier_names_the_first_entry_edited_removed_or_moved(mongo_url, store, relay, monkeypatch):
    for i in range(8):
        await store.record(entry("export", n=i))
    await relay.drain()
    good = run_verifier(mongo_url, store.db.name)  # the command itself, once, as an operator runs it
    assert good.returncode == 0 and "intact, 8 entries" in good.stdout, good.stdout + good.stderr
    head = good.stdout.rsplit("head ", 1)[1].strip()
    collection = store[CHAIN]
    original = await chained(store)

    async def restore():
        await collection.delete_many({})
        await collection.insert_many(original)
        assert (await verifier(monkeypatch, mongo_url, store.db.name))[0] == 0

    async def named(n: int, words: str, *extra: str):
        code, printed = await verifier(monkeypatch, mongo_url, store.db.name, *extra)
        assert code == 1 and f"BROKEN at entry {n}" in printed, printed
        assert words in printed, printed
        await restore()

    # Edited: who did it.
    await collection.update_one({"_id": 3}, {"$set": {"actor_id": "someone-else"}})
    await named(3, "does not match its hash")
    # Edited, with its hash computed again: the commit it was written with still tells.
    forged = {**original[3], "outcome": "refused"}
    from chassis.audit import entry_hash

    forged["hash"] = entry_hash(forged)
    await collection.replace_one({"_id": 4}, forged)
    await named(4, "differs from the commit")
    # ... and without the commits, the next link tells.
    await collection.replace_one({"_id": 4}, forged)
    await named(5, "does not follow entry 4", "--no-commits")
    # Removed.
    await collection.delete_one({"_id": 5})
    await named(5, "missing")
    # Moved: two entries swapped.
    await collection.delete_many({"_id": {"$in": [6, 7]}})
    await collection.insert_many([{**original[6], "_id": 6}, {**original[5], "_id": 7}])
    await named(6, "does not match its hash")
    # The last entry removed: a shorter chain is intact by itself; the head recorded before tells.
    await collection.delete_one({"_id": 8})
    assert (await verifier(monkeypatch, mongo_url, store.db.name))[0] == 0
    await named(8, "recorded earlier is gone", "--expect-head", head)


async def test_entries_written_before_the_chain_are_adopted_once(store):
    from datetime import UTC, datetime

    await store["audit"].insert_many(
        [
            {
                "_id": "old-2",
                "at": datetime(2026, 1, 2, tzinfo=UTC),
                "action": "account_revoked",
                "outcome": "ok",
                "actor_id": "a",
                "actor_username": "admin",
                "target_id": "t",
                "unit_lineage": ["root"],
                "ip": None,
                "details": {"reason": "left"},
            },
            {
                "_id": "old-1",
                "at": datetime(2026, 1, 1, tzinfo=UTC),
                "action": "login",
                "outcome": "ok",
                "actor_id": "a",
                "actor_username": "admin",
                "target_id": "a",
                "unit_lineage": ["root"],
                "ip": "10.0.0.1",
                "details": {},
            },
        ]
    )
    chain = AuditChain(store)
    assert await chain.adopt("audit") == 2
    assert await AuditChain(store).adopt("audit") == 0  # a second start, or another replica
    assert [(e["source"], e["action"]) for e in await chained(store)] == [
        ("legacy:old-1", "login"),
        ("legacy:old-2", "account_revoked"),
    ]
    assert (await chained(store))[1]["details"] == {}  # its free-text reason is not kept for ever
    assert (await verify(store)).intact


async def test_chainers_offered_the_same_entries_at_once_chain_each_once(store):
    """The writer's relay and another replica's recovery (or a reader catching up) may take the
    same commit at the same moment: each entry is chained once, in one chain."""
    for i in range(30):
        await store.record(entry("export", n=i))
    commits = [c async for c in store.commits.find({}).sort("at", 1)]
    chainers = [AuditChain(store) for _ in range(3)]
    added = await asyncio.gather(
        chainers[0].append(commits, fresh=True),
        chainers[1].append(commits, fresh=True),
        chainers[2].append(list(reversed(commits))),
    )
    assert sum(added) == 30
    trail = await chained(store)
    assert sorted(e["source"] for e in trail) == sorted(c["_id"] for c in commits)
    assert (await verify(store)).intact
