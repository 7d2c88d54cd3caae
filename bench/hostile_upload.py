"""Sign-in while hostile sheets are uploaded (issue 11, item 1): is accounts still answering?

    python -m bench.hostile_upload [--seconds 20] [--signins 4] [--uploaders 2]

On the broker and store of AMQP_URL / MONGODB_URL (the vhost of AMQP_URL unless --vhost):

1. Starts the four services (deploy.launch.Platform) on free loopback ports with databases of
   their own (`_bench_<id>`, dropped at the end), and issues one account to sign in with.
2. Baseline: `--signins` clients sign in again and again for `--seconds`; each sign-in's latency.
3. Under attack: the same, while `--uploaders` clients upload hostile .xlsx files to
   `POST /units/import` as the central administrator, one after the other, for as long: a 5 KB
   sheet declaring A1:XFD1048576 with a cell in the last column and one in the last row, a cell a
   million rows down, a zip bomb (100 MB of XML from 150 KB), XML entities, and 40 MB of blank
   rows from 60 KB, and a dense sheet just under 1 MB (400,000 cells to read: the costliest).
4. Prints both side by side (p50, p99, max, sign-ins/s; uploads done and how they were answered)
   and writes them to bench/results/hostile-upload.json. The target: sign-in p99 under 1 s
   while the sheets come in.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.flow import RESULTS_DIR, bench_vhost, clean_up, machine, pct, proc_status, with_vhost
from deploy.launch import SERVICES, Platform, free_port
from tests.support import hostile_sheets

ADMIN_PASSWORD = "Bench-Admin-Password-1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
now = time.perf_counter


def summary(latencies: list[float], seconds: float) -> dict[str, Any]:
    ms = [v * 1000 for v in latencies]
    return {
        "n": len(ms),
        "per_s": round(len(ms) / seconds, 1),
        **{f"p{p}": round(pct(ms, p) or 0, 1) for p in (50, 90, 99)},
        "max": round(max(ms, default=0), 1),
    }


async def sign_in_loop(base: str, username: str, password: str, seconds: float, clients: int) -> list[float]:
    latencies: list[float] = []
    deadline = now() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one() -> None:
            while now() < deadline:
                started = now()
                response = await http.post("/auth/token", json={"username": username, "password": password})
                if response.status_code != 200:
                    raise RuntimeError(f"sign-in answered {response.status_code}: {response.text[:200]}")
                latencies.append(now() - started)

        await asyncio.gather(*(one() for _ in range(clients)))
    return latencies


SHEETS = [
    (name, getattr(hostile_sheets, name)())
    for name in ("huge_dimension", "far_rows", "zip_bomb", "entity_bomb", "blank_rows", "dense")
]


async def upload_loop(base: str, auth: dict[str, str], seconds: float, clients: int) -> dict[str, Any]:
    bodies = itertools.cycle(SHEETS)
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    deadline = now() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:

        async def one() -> None:
            while now() < deadline:
                name, body = next(bodies)
                started = now()
                response = await http.post("/units/import", content=body, headers={**auth, "Content-Type": XLSX})
                latencies.append(now() - started)
                code = response.json().get("error", {}).get("code", "") if response.content else ""
                answers[f"{name} {response.status_code} {code}".strip()] += 1

        await asyncio.gather(*(one() for _ in range(clients)))
    return {"uploads": len(latencies), "latency_ms": summary(latencies, seconds), "answers": dict(answers)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    admin_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    # A vhost of the run's own unless one is named: no queue of tests or a demo beside it is touched.
    amqp_url = with_vhost(admin_url, args.vhost) if args.vhost else bench_vhost(admin_url, run_id)
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    suffix = f"_bench_{run_id}"
    result: dict[str, Any] = {
        "run_id": run_id,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": vars(args) | {"json": str(args.json)},
        "machine": machine(),
        "sheet_bytes": {name: len(body) for name, body in SHEETS},
    }
    platform = Platform(
        amqp_url=amqp_url,
        mongodb_url=mongodb_url,
        log_dir=Path(tempfile.mkdtemp(prefix=f"moha-bench-{run_id}-")),
        database_suffix=suffix,
        broker_user_prefix=f"b{run_id}-",
        ports={name: free_port() for name in SERVICES},
        extra_env={"BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD, "LOG_LEVEL": "warning"},
    )
    try:
        print("[bench] starting the platform ...", flush=True)
        await asyncio.to_thread(platform.start)
        base = platform.services["accounts"].url
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            token = (await http.post("/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})).json()
            admin = {"Authorization": f"Bearer {token['access_token']}"}
            if token.get("must_change_password"):
                changed = await http.post(
                    "/auth/password",
                    headers=admin,
                    json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "-2"},
                )
                admin = {"Authorization": f"Bearer {changed.json()['access_token']}"}
            issued = (
                await http.post(
                    "/accounts",
                    headers=admin,
                    json={
                        "username": f"bench.{run_id}",
                        "unit_id": "root",
                        "role": "central_admin",
                        "display_name": "Bench",
                        "email": None,
                    },
                )
            ).json()
        user, password = issued["username"], issued["initial_password"]

        print(f"[bench] baseline: sign-in for {args.seconds} s, {args.signins} clients ...", flush=True)
        started = now()
        baseline = await sign_in_loop(base, user, password, args.seconds, args.signins)
        result["baseline"] = summary(baseline, now() - started)

        print(f"[bench] under attack: the same, with {args.uploaders} clients uploading hostile sheets ...", flush=True)
        started = now()
        attacked, uploads = await asyncio.gather(
            sign_in_loop(base, user, password, args.seconds, args.signins),
            upload_loop(base, admin, args.seconds, args.uploaders),
        )
        result["under_attack"] = summary(attacked, now() - started)
        result["uploads"] = uploads
        pid = platform.services["accounts"].process.pid  # type: ignore[union-attr]
        result["accounts_peak_rss_mib"] = round((proc_status(pid, "VmHWM") or 0) / 1024, 1)
    finally:
        print("[bench] stopping the platform ...", flush=True)
        await asyncio.to_thread(platform.stop)
        mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, serverSelectionTimeoutMS=10_000)
        await clean_up(platform, mongo, admin_url, suffix, keep_data=False)
    return result


def report(r: dict[str, Any]) -> str:
    b, a, u = r["baseline"], r["under_attack"], r["uploads"]
    lines = [f"{'sign-in (POST /auth/token)':<28}{'no upload':>14}{'hostile uploads':>18}"]
    for key, label in (
        ("p50", "p50 ms"),
        ("p90", "p90 ms"),
        ("p99", "p99 ms"),
        ("max", "max ms"),
        ("per_s", "sign-ins/s"),
        ("n", "sign-ins"),
    ):
        lines.append(f"  {label:<26}{b[key]:>14}{a[key]:>18}")
    lines.append(
        f"hostile uploads answered: {u['uploads']} in {r['params']['seconds']} s "
        f"(p50 {u['latency_ms']['p50']} ms, p99 {u['latency_ms']['p99']} ms)"
    )
    lines += [f"  {k}: {v}" for k, v in sorted(u["answers"].items())]
    lines.append(f"accounts peak RSS: {r['accounts_peak_rss_mib']} MiB")
    verdict = "met" if a["p99"] < 1000 else "NOT met"
    lines.append(f"target (sign-in p99 < 1000 ms during the uploads): {verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--signins", type=int, default=4, help="clients signing in at once")
    parser.add_argument("--uploaders", type=int, default=2, help="clients uploading hostile sheets at once")
    parser.add_argument("--vhost", default="", help="RabbitMQ vhost (default: AMQP_URL's own)")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "hostile-upload.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print()
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")


if __name__ == "__main__":
    main()
