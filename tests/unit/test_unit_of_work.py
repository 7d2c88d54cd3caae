"""The chassis' unit of work: what it saves, with which events and audit entry, and its one retry
policy on a stale version. Over the in-memory store (tests/support/memory_store.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from chassis.audit import AuditEntry
from chassis.store import StaleVersion
from chassis.unit_of_work import Repository, UnitOfWork, run
from moha_contracts import Event, UnitRenamed
from tests.support.memory_store import MemoryStore


@dataclass
class Thing:
    id: str
    name: str
    version: int = 0
    log: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def rename(self, name: str) -> None:
        self.events.append(
            UnitRenamed(unit_id=self.id, name=name, previous_name=self.name, reason="r", renamed_at=datetime.now(UTC))
        )
        self.name = name

    def note(self, line: str) -> None:
        self.log.append(line)
        self.added.append(line)


class Things(Repository[Thing]):
    collection = "things"

    def to_document(self, aggregate: Thing) -> dict[str, Any]:
        return {"name": aggregate.name}

    def from_document(self, doc: dict[str, Any]) -> Thing:
        return Thing(doc["_id"], doc["name"], doc["version"], list(doc.get("log", [])))

    def appended(self, aggregate: Thing) -> dict[str, list[Any]]:
        return {"log": list(aggregate.added)} if aggregate.added else {}

    def saved(self, aggregate: Thing) -> None:
        aggregate.added.clear()


class ThingsUoW(UnitOfWork):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self.things = Things(self)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def test_a_new_aggregate_is_created_with_its_events_and_the_audit_entry(store):
    uow = ThingsUoW(store)
    thing = uow.things.add(Thing("t1", "a"))
    thing.rename("b")
    await uow.commit(AuditEntry("thing.create", target_id="t1"))
    assert thing.version == 1 and thing.events == []
    assert (await store.find("things", "t1"))["name"] == "b"
    commit = await store.commits.find_one({"_id": "things:t1:1"})
    assert commit["audit"]["action"] == "thing.create"
    assert [e["routing_key"] for e in await store.events()] == ["accounts.unit.renamed.v1"]


async def test_an_unchanged_aggregate_is_not_written_and_the_audit_entry_is_recorded_alone(store):
    await store.insert("things", {"_id": "t1", "name": "a"})
    uow = ThingsUoW(store)
    thing = await uow.things.get("t1")
    assert await uow.things.get("t1") is thing  # one instance per aggregate in a unit of work
    await uow.commit(AuditEntry("thing.read", target_id="t1"))
    assert (await store.find("things", "t1"))["version"] == 1
    recorded = await store.commits.find_one({"collection": "audit-record"})
    assert recorded["audit"]["action"] == "thing.read"


async def test_only_changed_fields_and_appended_items_are_written(store):
    await store.insert("things", {"_id": "t1", "name": "a", "log": ["first"]})
    uow = ThingsUoW(store)
    thing = await uow.things.get("t1")
    thing.note("second")
    await uow.commit()
    commit = await store.commits.find_one({"_id": "things:t1:2"})
    assert commit["set"] == {} and commit["push"] == {"log": ["second"]}
    assert (await store.find("things", "t1"))["log"] == ["first", "second"]
    assert uow.changed() == []  # saved: nothing more to write


async def test_a_stale_version_runs_the_use_case_again_from_its_reads(store):
    await store.insert("things", {"_id": "t1", "name": "a"})
    runs = []

    async def rename(uow: ThingsUoW) -> Thing:
        thing = await uow.things.get("t1")
        runs.append(thing.version)
        if len(runs) == 1:  # someone else renames it between our read and our write
            other = ThingsUoW(store)
            (await other.things.get("t1")).rename("c")
            await other.commit()
        thing.rename(thing.name + "!")
        await uow.commit()
        return thing

    thing = await run(lambda: ThingsUoW(store), rename, pause=0)
    assert runs == [1, 2] and thing.name == "c!" and thing.version == 3


async def test_concurrent_writers_all_land_one_after_another(store):
    await store.insert("things", {"_id": "t1", "name": "", "log": []})

    async def note(uow: ThingsUoW, i: int) -> None:
        thing = await uow.things.get("t1")
        await asyncio.sleep(0)  # let the others read the same version
        thing.note(str(i))
        await uow.commit()

    await asyncio.gather(*(run(lambda: ThingsUoW(store), lambda u, i=i: note(u, i), tries=50) for i in range(8)))
    doc = await store.find("things", "t1")
    assert sorted(doc["log"]) == [str(i) for i in range(8)] and doc["version"] == 9


async def test_a_use_case_that_wrote_something_is_not_run_again(store):
    await store.insert("things", {"_id": "t1", "name": "a"})
    await store.insert("things", {"_id": "t2", "name": "a"})
    runs = []

    async def both(uow: ThingsUoW) -> None:
        runs.append(1)
        one, two = await uow.things.get("t1"), await uow.things.get("t2")
        other = ThingsUoW(store)
        (await other.things.get("t2")).rename("z")
        await other.commit()
        one.rename("b")
        two.rename("b")
        await uow.commit()

    with pytest.raises(StaleVersion):
        await run(lambda: ThingsUoW(store), both, pause=0)
    assert runs == [1]  # t1 was saved: running again would rename it twice
