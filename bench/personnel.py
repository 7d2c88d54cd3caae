"""Officials' records at scale: import rows/s and search latency at 100,000 records.

    python -m bench.personnel [--records 100000] [--import-concurrency 4] [--searches 400] [--concurrency 8]

On the broker and store of AMQP_URL / MONGODB_URL (default: the native stack), in a vhost and
databases of the run's own (dropped at the end unless --keep-data):

1. Starts the platform (deploy.launch.Platform), loads Lạng Sơn's tree (556 units, one sheet, as
   the demo does) and signs in a province supervisor: the widest scope a search has in a province.
2. Import: `--records` generated officials (deploy/officials.py) spread over the province's 545
   units, one sheet per unit (POST /units/{id}/records/import), `--import-concurrency` sheets in
   flight. Rows/s is records over the time from the first sheet sent to the last answered: each
   answer comes once its records are stored, encrypted, indexed and their events committed.
3. Search: `--searches` requests, `--concurrency` in flight, as the province supervisor, drawn
   evenly from six kinds (a full name; a family and a given name; one given name; a date of birth;
   a position; a district's records), each its first page of 25 with the total, as a person would
   ask. p50/p95/p99 per kind and overall.
4. Prints a table and writes the figures to bench/results/personnel.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.flow import bench_vhost, clean_up, log_issues, machine, pct, store_version
from bench.flow import latency_ms as _latency_ms
from chassis.messaging import broker_user
from deploy import officials
from deploy.lang_son import to_csv, unit_rows
from deploy.launch import ROOT, SERVICES, Platform, free_port
from deploy.rabbitmq.provision import Management, vhost_of
from services.accounts.domain.imports import unit_id_for

RESULTS = ROOT / "bench" / "results" / "personnel.json"
ADMIN_PASSWORD = "Bench-Admin-Password-1"
now = time.perf_counter


def latency_ms(values: list[float]) -> dict[str, float | None]:
    p95 = pct([v * 1000 for v in values], 95)
    return {**_latency_ms(values), "p95": None if p95 is None else round(p95, 1)}


async def sign_in(client: httpx.AsyncClient, accounts: str, username: str, password: str) -> dict[str, str]:
    body = (await client.post(f"{accounts}/auth/token", json={"username": username, "password": password})).json()
    if body["must_change_password"]:
        body = (
            await client.post(
                f"{accounts}/auth/password",
                headers={"Authorization": f"Bearer {body['access_token']}"},
                json={"current_password": password, "new_password": password + "-Moi"},
            )
        ).json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def setup(
    client: httpx.AsyncClient, urls: dict[str, str], mongo: AsyncMongoClient, suffix: str, tag: str
) -> dict[str, Any]:
    admin = await sign_in(client, urls["accounts"], "admin", ADMIN_PASSWORD)
    province_code = f"LS{tag}"
    province = (
        await client.post(
            f"{urls['accounts']}/units",
            headers=admin,
            json={
                "code": province_code,
                "name": "Tỉnh Lạng Sơn (đo hiệu năng)",
                "level": "province",
                "parent_id": "root",
            },
        )
    ).json()
    rows = unit_rows(province_code=province_code)
    imported = await client.post(
        f"{urls['accounts']}/units/import",
        headers={**admin, "Content-Type": "text/csv"},
        content=to_csv(rows),
        timeout=600,
    )
    imported.raise_for_status()
    account = (
        await client.post(
            f"{urls['accounts']}/accounts",
            headers=admin,
            json={
                "username": f"bench.tinh.{tag}",
                "unit_id": province["unit_id"],
                "role": "province_supervisor",
                "display_name": "Sở Nội vụ (đo hiệu năng)",
            },
        )
    ).json()
    supervisor = await sign_in(client, urls["accounts"], account["username"], account["initial_password"])
    units = [unit_id_for(r["code"]) for r in rows if r["level"] != "district"]
    districts = [unit_id_for(r["code"]) for r in rows if r["level"] == "district"]
    # Personnel learns the tree from accounts' events: wait until it knows every unit.
    known = mongo[f"moha_personnel{suffix}"]["units"]
    for _ in range(600):
        if await known.count_documents({"path": province["unit_id"]}) >= len(rows):
            break
        await asyncio.sleep(0.5)
    return {
        "province": province["unit_id"],
        "units": units,
        "districts": districts,
        "headers": supervisor,
        "login": (account["username"], account["initial_password"] + "-Moi"),
    }


async def import_all(
    client: httpx.AsyncClient, url: str, tree: dict[str, Any], total: int, concurrency: int
) -> dict[str, Any]:
    sheets = list(officials.sheets(tree["units"], total))
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    created = 0

    async def one(unit_id: str, sheet: bytes, rows: int) -> None:
        nonlocal created
        async with gate:
            t0 = now()
            response = await client.post(
                f"{url}/units/{unit_id}/records/import",
                content=sheet,
                timeout=600,
                headers={**tree["headers"], "Content-Type": "text/csv"},
            )
            latencies.append(now() - t0)
            if response.status_code != 201:
                errors.append(f"{response.status_code} {response.text[:200]}")
            else:
                created += response.json()["created"]

    t0 = now()
    await asyncio.gather(*(one(*s) for s in sheets))
    seconds = now() - t0
    return {
        "records": total,
        "created": created,
        "sheets": len(sheets),
        "concurrency": concurrency,
        "seconds": round(seconds, 1),
        "rows_per_s": round(created / seconds, 1),
        "errors": errors[:5],
        "sheet_latency_ms": latency_ms(latencies),
        "rows_per_sheet": round(total / max(len(sheets), 1), 1),
    }


def search_cases(rng: random.Random, tree: dict[str, Any], n: int) -> list[tuple[str, dict[str, str]]]:
    sample = [officials.official_row(random.Random(i), i) for i in range(200)]
    kinds = []
    for i in range(n):
        row = rng.choice(sample)
        family, *_, given = row[0].split()
        kind = ("full_name", "family_given", "given", "birth_date", "position", "district")[i % 6]
        params = {
            "full_name": {"q": row[0]},
            "family_given": {"q": f"{family} {given}"},
            "given": {"q": given},
            "birth_date": {"birth_date": datetime.strptime(row[1], "%d/%m/%Y").date().isoformat()},
            "position": {"position": rng.choice(officials.POSITIONS)},
            "district": {"unit": rng.choice(tree["districts"])},
        }[kind]
        kinds.append((kind, params))
    return kinds


async def searches(
    client: httpx.AsyncClient, url: str, tree: dict[str, Any], n: int, concurrency: int
) -> dict[str, Any]:
    cases = search_cases(random.Random(17), tree, n)
    gate = asyncio.Semaphore(concurrency)
    by_kind: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    errors: list[str] = []

    async def one(kind: str, params: dict[str, str]) -> None:
        async with gate:
            t0 = now()
            response = await client.get(f"{url}/records", params={**params, "page_size": "25"}, headers=tree["headers"])
            by_kind.setdefault(kind, []).append(now() - t0)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")
            else:
                totals.setdefault(kind, []).append(response.json()["total"])

    t0 = now()
    await asyncio.gather(*(one(k, p) for k, p in cases))
    seconds = now() - t0
    everything = [v for values in by_kind.values() for v in values]
    return {
        "searches": n,
        "concurrency": concurrency,
        "per_s": round(n / seconds, 1),
        "errors": errors[:5],
        "overall_ms": latency_ms(everything),
        "by_kind": {
            k: {**latency_ms(v), "median_total": pct([float(t) for t in totals.get(k, [])], 50)}
            for k, v in by_kind.items()
        },
    }


async def settle(db: Any, events: int, timeout: float = 3600.0) -> dict[str, Any]:
    """Seconds from the last sheet answered until every event of the import is published (the
    outbox empty) and until personnel has read them all back (its own consumer): search is then
    timed on a quiet service, not beside a backlog."""
    t0 = now()
    published = consumed = None
    while now() - t0 < timeout:
        if published is None and await db["outbox"].count_documents({}) == 0:
            published = round(now() - t0, 1)
        if consumed is None and await db["inbox_done"].count_documents({}) >= events:
            consumed = round(now() - t0, 1)
        if published is not None and consumed is not None:
            break
        await asyncio.sleep(1.0)
    return {"published_s": published, "consumed_s": consumed}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    admin_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    amqp_url = bench_vhost(admin_url, run_id)
    with Management(admin_url) as api:
        api.ensure_vhost(vhost_of(amqp_url))
        api.grant_all(broker_user(admin_url), vhost_of(amqp_url))
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, tz_aware=True)
    suffix = f"_bench_{run_id}"
    log_dir = Path(tempfile.mkdtemp(prefix=f"moha-bench-personnel-{run_id}-"))
    result: dict[str, Any] = {
        "run_id": run_id,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": vars(args) | {"json": str(args.json)},
        "machine": machine(),
        "log_dir": str(log_dir),
    }
    result["machine"]["store"] = await store_version(mongo)
    platform = Platform(
        amqp_url=amqp_url,
        mongodb_url=mongodb_url,
        log_dir=log_dir,
        database_suffix=suffix,
        broker_user_prefix=f"bench{run_id}-",
        ports={name: free_port() for name in (*SERVICES, "web")},
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOG_LEVEL": "warning",
            "MAX_UPLOAD_BYTES": "20000000",
            "SMTP_PORT": str(free_port()),
        },
    )
    client = httpx.AsyncClient(timeout=120.0, limits=httpx.Limits(max_connections=64))
    try:
        print(f"[bench] starting the platform (logs {log_dir}) ...", flush=True)
        await asyncio.to_thread(platform.start)
        urls = {name: s.url for name, s in platform.services.items()}
        print("[bench] Lạng Sơn's tree ...", flush=True)
        tree = await setup(client, urls, mongo, suffix, run_id[:6])
        print(f"[bench] importing {args.records} records into {len(tree['units'])} units ...", flush=True)
        result["import"] = await import_all(client, urls["personnel"], tree, args.records, args.import_concurrency)
        db = mongo[f"moha_personnel{suffix}"]
        stored = await db["records"].count_documents({})
        result["records_stored"] = stored
        print("[bench] waiting for the import's events to be published and read back ...", flush=True)
        result["events_after_import"] = await settle(db, stored)
        print(f"[bench] {stored} records stored; {args.searches} searches ...", flush=True)
        # The import outlasts a token (TOKEN_TTL_SECONDS): the supervisor signs in again.
        tree["headers"] = await sign_in(client, urls["accounts"], *tree["login"])
        await searches(client, urls["personnel"], tree, 30, args.concurrency)  # warm up
        result["search"] = await searches(client, urls["personnel"], tree, args.searches, args.concurrency)
    finally:
        result["loadavg_at_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print("[bench] stopping the platform ...", flush=True)
        await client.aclose()
        await asyncio.to_thread(platform.stop)
        result["log_issues"] = log_issues(platform)
        await clean_up(platform, mongo, admin_url, suffix, keep_data=args.keep_data)
    return result


def report(r: dict[str, Any]) -> str:
    m, imp, s = r["machine"], r.get("import", {}), r.get("search", {})

    def lat(d: dict[str, Any]) -> str:
        return f"p50 {d['p50']} / p95 {d.get('p95')} / p99 {d['p99']} / max {d['max']} ms (n={d['n']})"

    ev = r.get("events_after_import", {})
    lines = [
        f"machine            {m['nproc']} CPU ({m['cpu']}), {m['mem_gib']} GiB; store {m.get('store')}; "
        f"load at start {' '.join(m['loadavg_at_start'])}, at end {r.get('loadavg_at_end')}",
        f"records stored     {r.get('records_stored')}; the import's events all published "
        f"{ev.get('published_s')} s and read back {ev.get('consumed_s')} s after the last sheet",
    ]
    if imp:
        lines += [
            f"IMPORT             {imp['rows_per_s']} rows/s ({imp['created']} of {imp['records']} records, "
            f"{imp['sheets']} sheets of ~{imp['rows_per_sheet']} rows, {imp['concurrency']} in flight, "
            f"{imp['seconds']} s)",
            f"  per sheet        {lat(imp['sheet_latency_ms'])}",
            f"  errors           {imp['errors'] or 'none'}",
        ]
    if s:
        lines += [
            f"SEARCH at {r.get('records_stored')} records, province-wide scope, {s['concurrency']} in flight: "
            f"{s['per_s']} searches/s",
            f"  all              {lat(s['overall_ms'])}",
        ]
        for kind, d in s["by_kind"].items():
            lines.append(f"  {kind:<16} {lat(d)}; median total {d['median_total']}")
        lines.append(f"  errors           {s['errors'] or 'none'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--import-concurrency", type=int, default=4)
    parser.add_argument("--searches", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = asyncio.run(run(args))
    print()
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\n[bench] figures written to {args.json}")


if __name__ == "__main__":
    main()
