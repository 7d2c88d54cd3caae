"""What the audit trail costs (issue 11, item 14; docs/decisions/0016-audit-trail.md).

    python -m bench.audit [--writes 1000] [--concurrency 16] [--rounds 3] [--replicas 2]

On the store of MONGODB_URL (and the broker of AMQP_URL, which the relay connects to), in a
database of its own (`moha_bench_audit_<id>`, dropped at the end):

1. The hot path: `--concurrency` writers each change a document of their own, `--writes` changes
   in all, with the outbox relay running as in a service: without audit entries, then with one in
   each commit, `--rounds` times interleaved. The writer's latency per change (p50, p99) and
   changes/s; and how long after the last write the last entry was chained.
2. An action that changes nothing stored (`Store.record`: a sign-in, an export), same writers.
3. The alternative: each writer chains its entry itself before it answers, same writers.
4. Replicas: `--replicas` processes, each with its writers and its relay, record entries at once
   into one chain: entries chained per second, and the chain checked (no fork, no gap); beside
   the same with chaining switched off (what the writes cost alone, on this machine's cores).
5. The verifier: entries per second, with each entry checked against its commit and without.

Prints a table and writes bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from bench.flow import RESULTS_DIR, machine, pct
from chassis.audit import CHAIN, AuditChain, AuditEntry, verify
from chassis.messaging import broker_user, make_broker
from chassis.outbox import OutboxRelay
from chassis.store import Store

now = time.perf_counter


def summary(latencies: list[float], seconds: float) -> dict[str, Any]:
    ms = [v * 1000 for v in latencies]
    return {
        "n": len(ms),
        "per_s": round(len(ms) / seconds, 1),
        **{f"p{p}": round(pct(ms, p) or 0, 2) for p in (50, 90, 99)},
        "max": round(max(ms, default=0), 2),
    }


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        "account_revoked",
        actor_id="bench-admin",
        actor_username="admin",
        target_id=f"acc-{i}",
        unit_lineage=["root", "p-01", "d-0101"],
        ip="10.1.2.3",
        details={"role": "reporting_unit"},
    )


class NoChain:
    """A relay's chainer that chains nothing: the baseline of the replicas' figure."""

    async def append(self, commits: Any, *, fresh: bool = False) -> int:
        return 0


class Service:
    """A store and its relay, as a service process runs them."""

    def __init__(self, mongo_url: str, database: str, amqp_url: str, name: str, chain: bool = True) -> None:
        self.store = Store(mongo_url, database)
        self.broker = make_broker(amqp_url, prefetch=10, service=f"bench-audit-{name}")
        self.relay = OutboxRelay(
            self.store,
            self.broker,
            user_id=broker_user(amqp_url),
            grace_seconds=600,
            chain=None if chain else cast(AuditChain, NoChain()),  # the relay only calls append
        )
        self.task: asyncio.Task | None = None
        self.mine: list[str] = []  # the commits this process made: their markers tell when it is done
        self.store.on_commit(lambda commit: self.mine.append(commit["_id"]))

    async def __aenter__(self) -> Service:
        await self.broker.connect()
        await AuditChain(self.store).create_indexes()
        self.task = asyncio.create_task(self.relay.run())
        return self

    async def settle(self) -> float:
        """Seconds until the relay has finished (chained, published) every commit of this process."""
        started = now()
        while await self.store.outbox.count_documents({"_id": {"$in": self.mine}}):
            await asyncio.sleep(0.005)
        self.mine.clear()
        return now() - started

    async def __aexit__(self, *_exc: object) -> None:
        assert self.task is not None
        while not self.task.done():  # until done, as a service's stop should
            self.task.cancel()
            await asyncio.wait([self.task], timeout=0.1)
        await self.broker.stop()
        await self.store.close()


async def writers(
    store: Store,
    writes: int,
    concurrency: int,
    *,
    audited: bool,
    record: bool = False,
    tag: str = "",
    inline: AuditChain | None = None,
) -> tuple[list[float], float]:
    latencies: list[float] = []
    per_writer = writes // concurrency
    if not record:
        for w in range(concurrency):
            await store.insert("bench_docs", {"_id": f"{tag}doc-{w}", "n": 0})

    async def one(w: int) -> None:
        version = 1
        for i in range(per_writer):
            started = now()
            if record:
                await store.record(entry(i))
            else:
                version = await store.update(
                    "bench_docs", f"{tag}doc-{w}", version, {"n": i}, audit=entry(i) if audited else None
                )
                if inline is not None:  # the alternative: the writer chains its entry before answering
                    await inline.append(
                        [
                            {
                                "_id": f"bench_docs:{tag}doc-{w}:{version}",
                                "at": datetime.now(UTC),
                                "audit": entry(i).fields(),
                            }
                        ],
                        fresh=True,
                    )
            latencies.append(now() - started)

    started = now()
    await asyncio.gather(*(one(w) for w in range(concurrency)))
    return latencies, now() - started


async def replica(
    mongo_url: str, database: str, amqp_url: str, name: str, writes: int, concurrency: int, chain: bool
) -> None:
    async with Service(mongo_url, database, amqp_url, name, chain) as service:
        latencies, seconds = await writers(service.store, writes, concurrency, audited=True, record=True)
        lag = await service.settle()
    chained = service.relay.chain
    print(
        json.dumps(
            {
                "name": name,
                "record": summary(latencies, seconds),
                "chained_after_s": round(lag, 3),
                "chained": getattr(chained, "chained", 0),
                "lost_claims": getattr(chained, "lost_claims", 0),
            }
        )
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    mongo_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    database = f"moha_bench_audit_{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "writes": args.writes,
        "concurrency": args.concurrency,
    }
    try:
        async with Service(mongo_url, database, amqp_url, "main") as service:
            # Interleaved rounds: the machine's other load falls on both sides alike.
            for round_ in range(args.rounds):
                for name, audited in (("update_without_entry", False), ("update_with_entry", True)):
                    latencies, seconds = await writers(
                        service.store, args.writes, args.concurrency, audited=audited, tag=f"{name}-{round_}"
                    )
                    results.setdefault(name, []).append(
                        summary(latencies, seconds) | {"chained_after_s": round(await service.settle(), 3)}
                    )
                latencies, seconds = await writers(
                    service.store, args.writes, args.concurrency, audited=True, record=True
                )
                results.setdefault("record", []).append(
                    summary(latencies, seconds) | {"chained_after_s": round(await service.settle(), 3)}
                )
        # The alternative not taken: each writer chains its own entry before it answers (a claim
        # per sequence number in the writer). The relay chains nothing here.
        async with Service(mongo_url, f"{database}_inline", amqp_url, "inline", chain=False) as service:
            inline = AuditChain(service.store)
            for round_ in range(args.rounds):
                latencies, seconds = await writers(
                    service.store, args.writes, args.concurrency, audited=False, tag=f"inline-{round_}", inline=inline
                )
                results.setdefault("update_chained_by_writer", []).append(
                    summary(latencies, seconds) | {"chained_after_s": 0.0}
                )

        for name, chain in (("replicas_without_chaining", False), ("replicas", True)):
            before = await _count(mongo_url, database)
            children = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.audit",
                    "--replica",
                    f"r{i}",
                    "--database",
                    database,
                    "--writes",
                    str(args.writes),
                    "--concurrency",
                    str(args.concurrency),
                    *([] if chain else ["--no-chain"]),
                    stdout=asyncio.subprocess.PIPE,
                )
                for i in range(args.replicas)
            ]
            outputs = [json.loads((await c.communicate())[0].decode().strip().splitlines()[-1]) for c in children]
            chained = await _count(mongo_url, database) - before
            results[name] = {
                "replicas": args.replicas,
                "entries": chained,
                "record_per_s": round(sum(o["record"]["per_s"] for o in outputs), 1),
                "record_p50": max(o["record"]["p50"] for o in outputs),
                "record_p99": max(o["record"]["p99"] for o in outputs),
                "chained_after_s": max(o["chained_after_s"] for o in outputs),
                "lost_claims": sum(o["lost_claims"] for o in outputs),
                "each": outputs,
            }

        store = Store(mongo_url, database)
        try:
            for name, commits in (("verify_with_commits", True), ("verify_links_only", False)):
                started = now()
                report = await verify(store, commits=commits)
                seconds = now() - started
                results[name] = {
                    "entries": report.entries,
                    "intact": report.intact,
                    "per_s": round(report.entries / seconds, 1),
                }
        finally:
            await store.close()
    finally:
        store = Store(mongo_url, database)
        await store.client.drop_database(database)
        await store.client.drop_database(f"{database}_inline")
        await store.close()
    return results


async def _count(mongo_url: str, database: str) -> int:
    store = Store(mongo_url, database)
    try:
        return await store[CHAIN].count_documents({})
    finally:
        await store.close()


def show(results: dict[str, Any]) -> None:
    print(f"{'':24} {'n':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'chained after s':>16}")
    for name in ("update_without_entry", "update_with_entry", "record", "update_chained_by_writer"):
        for r in results[name]:
            print(f"{name:24} {r['n']:>6} {r['per_s']:>8} {r['p50']:>8} {r['p99']:>8} {r['chained_after_s']:>16}")
    for name in ("replicas_without_chaining", "replicas"):
        r = results[name]
        print(
            f"{r['replicas']} {name.replace('_', ' ')}: records {r['record_per_s']}/s, p50 {r['record_p50']} ms, "
            f"p99 {r['record_p99']} ms; {r['entries']} chained (claims lost to the other: {r['lost_claims']}), "
            f"the last {r['chained_after_s']} s after its write"
        )
    for name in ("verify_with_commits", "verify_links_only"):
        r = results[name]
        print(f"{name}: {r['entries']} entries, {'intact' if r['intact'] else 'BROKEN'}, {r['per_s']}/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the single-process figures")
    parser.add_argument("--replica", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--no-chain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        asyncio.run(
            replica(
                os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"),
                args.database,
                os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
                args.replica,
                args.writes,
                args.concurrency,
                not args.no_chain,
            )
        )
        sys.exit(0)
    results = asyncio.run(main(args))
    show(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "audit.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
