"""What marking a commit twice cost each change (decision 0018): writers change documents through
the chassis store, in interleaved rounds marking each commit again always (as before) and only
after a stall (now), so the machine's other load falls on both alike.

    python -m bench.marker --writes 2000 --concurrency 16 --rounds 4

On the store of `MONGODB_URL`, a database of its own, dropped at the end. Prints, per mode, writes
per second and this process's CPU per write (the store's own CPU is shared with whatever else uses
it, so it is not counted here); writes `bench/results/marker.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

from bench.flow import RESULTS_DIR
from bench.rounds import interleaved, report, timed
from chassis.runtime import new_event_loop
from chassis.store import Store

MODES = {"mark twice (before)": 0.0, "mark once (now)": 2.5}


async def round_of(store: Store, writes: int, concurrency: int) -> tuple[float, float]:
    ids = [uuid.uuid4().hex for _ in range(concurrency)]
    for doc_id in ids:
        await store.insert("docs", {"_id": doc_id, "n": 0})
    per_writer = writes // concurrency

    async def writer(doc_id: str) -> None:
        for version in range(1, per_writer + 1):
            await store.update("docs", doc_id, version, {"n": version})
            # As the relay does once a change is applied and published: the outbox stays small.
            await store.outbox.delete_one({"_id": f"docs:{doc_id}:{version + 1}"})

    return await timed(asyncio.gather(*(writer(d) for d in ids)), per_writer * concurrency)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    store = Store(url, f"moha_bench_marker_{uuid.uuid4().hex[:8]}")

    async def one_round(mode: str) -> tuple[float, float]:
        store.remark_after = MODES[mode]
        return await round_of(store, args.writes, args.concurrency)

    try:
        return await interleaved(args, MODES, one_round)
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000, help="versioned updates per round and mode")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "marker.json")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(run(args))
    report(args, result, "write")


if __name__ == "__main__":
    main()
