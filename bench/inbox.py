"""What the inbox cost a handler whose effect is keyed by the event (decision 0018, part 4): the
same deliveries through the chassis consumer (`EventConsumers.deliver`), in interleaved rounds with
the inbox (a claim and a "done" around the handler, as before) and without it (`keyed=True`, now),
so the machine's other load falls on both alike. The handler's own effect is one insert keyed by
the event's id in both, as approvals' progress facts and review tasks are.

    python -m bench.inbox --events 2000 --concurrency 32 --rounds 4

No broker: the messages are handed to the consumer as the broker would (settling is a no-op), so
what is measured is the consumer's own work and its store round trips. On the store of
`MONGODB_URL`, a database of its own, dropped at the end. Prints, per mode, events per second and
this process's CPU per event; writes `bench/results/inbox.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.flow import RESULTS_DIR
from bench.rounds import interleaved, report, timed
from chassis import readmodel
from chassis.inbox import Inbox
from chassis.logging import configure
from chassis.messaging import HANDLED, ConsumerConfig, EventConsumers, make_broker
from chassis.runtime import new_event_loop
from chassis.store import Store
from moha_contracts import Envelope, Event, UnitRegistered

MODES = {"claim + done (before)": False, "keyed, no inbox (now)": True}


class _Message:
    """A delivered message as the consumer sees it; settling it costs nothing here."""

    def __init__(self, body: bytes, message_id: str) -> None:
        self.raw_message = SimpleNamespace(
            body=body, message_id=message_id, user_id="accounts", headers={}, correlation_id=None, processed=False
        )

    async def ack(self) -> None:
        return None


async def round_of(consumers: EventConsumers, part: str, events: int, concurrency: int) -> tuple[float, float]:
    consumer = next(c for c in consumers.consumers if c.queue.split(".")[1] == part)
    messages = []
    for n in range(events):
        event: Event = UnitRegistered(
            unit_id=f"u{n}", code=f"{n:06d}", name="Xã", level="commune", parent_id="d", path=["root", "d"]
        )
        envelope = Envelope.wrap(event)
        messages.append(_Message(envelope.model_dump_json().encode(), envelope.id))
    queue: asyncio.Queue[_Message] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker() -> None:  # as the broker's prefetch: `concurrency` deliveries at a time
        while not queue.empty():
            outcome = await consumers.deliver(consumer, queue.get_nowait())
            assert outcome == HANDLED, outcome

    return await timed(asyncio.gather(*(worker() for _ in range(concurrency))), events)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    store = Store(url, f"moha_bench_inbox_{uuid.uuid4().hex[:8]}")
    cfg = ConsumerConfig(service="bench-inbox", user="bench-inbox", publishers={"accounts": "accounts"})
    consumers = EventConsumers(make_broker("amqp://127.0.0.1/", prefetch=32, service="bench-inbox"), cfg, Inbox(store))
    effects = store["effects"]

    async def effect(envelope: Envelope, event: Any) -> None:
        await readmodel.insert_fact(effects, {"_id": envelope.id, "unit_id": event.unit_id})

    for mode, keyed in MODES.items():
        consumers.on(UnitRegistered, part=mode.split(" ")[0], keyed=keyed)(effect)

    async def one_round(mode: str) -> tuple[float, float]:
        return await round_of(consumers, mode.split(" ")[0], args.events, args.concurrency)

    try:
        return await interleaved(args, MODES, one_round)
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="deliveries per round and mode")
    parser.add_argument("--concurrency", type=int, default=32, help="deliveries at a time (the services' prefetch)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "inbox.json")
    args = parser.parse_args()
    configure("bench-inbox", "warning")  # as the services run in the benches
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(run(args))
    report(args, result, "event")


if __name__ == "__main__":
    main()
