"""Every read model fed by events, against the real store: its events delivered more than once, in
any order, by several consumers at once (each with a Store of its own, as replicas), end in what
folding them once, in the order they were published, gives (decision 0019)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest
from chassis.store import Store
from moha_contracts import SupervisorAssigned

from services.approvals.store import ASSIGNMENTS, TaskStore
from tests.support.deliveries import deliver_concurrently, envelopes

pytestmark = pytest.mark.integration

SEEDS = [1, 2, 3]
CONSUMERS = 4


@pytest.fixture
async def stores(mongo_url, run_id) -> AsyncIterator[list[Store]]:
    """Several clients of one database: the replicas of one service."""
    name = f"moha_it_{run_id}_rm_{uuid.uuid4().hex[:6]}"
    opened = [Store(mongo_url, name) for _ in range(CONSUMERS)]
    yield opened
    await opened[0].client.drop_database(name)
    for store in opened:
        await store.close()


@pytest.mark.parametrize("seed", SEEDS)
async def test_supervisors_assignments_end_at_the_latest(stores, seed):
    rng = random.Random(seed)
    supervisors = [f"sup-{n}" for n in range(3)]
    units = [f"u{n}" for n in range(12)]
    events = []
    for version in range(1, 25):
        for supervisor in supervisors:
            events.append(SupervisorAssigned(
                supervisor_id=supervisor, unit_ids=rng.sample(units, rng.randint(0, 4)), assignment_version=version,
                assigned_by="admin", assigned_at=f"2026-04-01T00:00:{version:02d}Z"))
    rng.shuffle(events)  # the versions of different supervisors interleave; each one's stay in order
    events.sort(key=lambda e: e.assignment_version)
    truth = {e.supervisor_id: e.unit_ids for e in events}  # the last of each, in order

    replicas = [TaskStore(s) for s in stores]

    async def handle(consumer: int, envelope):
        event = envelope.open(SupervisorAssigned)
        await replicas[consumer].set_assignment(event.supervisor_id, event.unit_ids, event.assignment_version)

    await deliver_concurrently(envelopes(events), handle, consumers=CONSUMERS, rng=rng)
    got = {s: await replicas[0].assigned_units(s) for s in supervisors}
    assert got == truth
    assert await stores[0][ASSIGNMENTS].count_documents({}) == len(supervisors)
