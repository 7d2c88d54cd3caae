"""End-to-end throughput of the platform, beside the raw throughput of the same broker.

    python -m bench.flow [--submissions N] [--concurrency C] [--no-approve]

One run, on the broker and store of AMQP_URL / MONGODB_URL (default: the native stack):

1. Raw broker: aio-pika straight to a fresh durable quorum queue, M persistent ~1 KB messages with
   publisher confirms (awaited together in batches, and — for reference — one by one), then
   consumed with manual ack and a prefetch. The queue is deleted afterwards.
2. Starts the four services (deploy.launch.Platform) on free loopback ports with databases of
   their own (`_bench_<id>`), creates a province, a district, N communes with a reporting-unit
   account each and a district supervisor, and logs everybody in. Timed, but not part of the flow.
3. Flow: a queue of our own bound to ReviewTaskOpened, then N forms submitted over HTTP with C in
   flight. Submissions/s is N over the time from the first submit to the last task opened.
4. Approve (unless --no-approve): the supervisor approves every task, C in flight; measured to
   FormApproved on the broker and to the submission's status `approved` in forms' database.
5. Prints a table and writes the same figures to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import functools
import io
import json
import os
import platform as pyplatform
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from pymongo import AsyncMongoClient

from chassis.messaging import broker_user
from deploy.lang_son import to_csv
from deploy.launch import ROOT, SERVICES, Platform, free_port
from deploy.rabbitmq.provision import Management, vhost_of, with_vhost
from moha_contracts import EVENTS_EXCHANGE
from services.accounts.domain.imports import account_id_for, unit_id_for
from tests.support.answers import valid_hc_tb

RESULTS_DIR = ROOT / "bench" / "results"
REVIEW_OPENED = "approvals.review_task.opened.v1"
FORM_APPROVED = "approvals.form.approved.v1"
ADMIN_PASSWORD = "Bench-Admin-Password-1"
FORM_CODE = "1/HC-TB"
CLK_TCK = os.sysconf("SC_CLK_TCK")
now = time.perf_counter


# measurements ---------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float | None:
    """Percentile with linear interpolation between closest ranks."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency_ms(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50": _r(pct(ms, 50)),
        "p90": _r(pct(ms, 90)),
        "p99": _r(pct(ms, 99)),
        "max": _r(max(ms) if ms else None),
    }


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def proc_status(pid: int | str, key: str) -> int | None:
    """A kB figure from /proc/<pid>/status (VmHWM = peak RSS, VmRSS = current RSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def cpu_seconds(pid: int | str) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # After "(comm)": state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


def find_pid(comm: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == comm:
                    return int(entry.name)
    return None


class CpuMeter:
    """CPU used by each watched process between start() and stop(): the average over the phase and
    the busiest one-second sample; "other" is what the rest of the machine used meanwhile."""

    def __init__(self, pids: dict[str, int | None], interval: float = 1.0) -> None:
        self.pids = {k: v for k, v in pids.items() if v}
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> tuple[float, dict[str, float | None], tuple[int, int]]:
        return now(), {k: cpu_seconds(p) for k, p in self.pids.items()}, machine_cpu()

    def start(self) -> None:
        self.first = self._sample()
        self.peak: dict[str, float] = {}
        self._task = asyncio.create_task(self._sampler())

    async def _sampler(self) -> None:
        prev = self.first
        while True:
            await asyncio.sleep(self.interval)
            cur = self._sample()
            self._fold(prev, cur)
            prev = cur

    def _fold(self, a: tuple, b: tuple) -> None:
        wall = b[0] - a[0]
        if wall <= 0:
            return
        for k, used in self._used(a, b).items():
            self.peak[k] = max(self.peak.get(k, 0.0), 100 * used / wall)

    def _used(self, a: tuple, b: tuple) -> dict[str, float]:
        used = {k: b[1][k] - a[1][k] for k in self.pids if a[1].get(k) is not None and b[1].get(k) is not None}
        machine_busy = (b[2][0] - a[2][0]) / CLK_TCK
        used["other (outside the platform)"] = max(0.0, machine_busy - sum(used.values()))
        return used

    async def stop(self) -> dict[str, Any]:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        last = self._sample()
        wall = last[0] - self.first[0]
        busy, total = last[2][0] - self.first[2][0], last[2][1] - self.first[2][1]
        procs = {
            k: {
                "cpu_s": round(used, 2),
                "pct_of_one_core": round(100 * used / wall, 1) if wall else None,
                "peak_1s_pct": round(self.peak[k], 1) if k in self.peak else None,
            }
            for k, used in self._used(self.first, last).items()
        }
        return {
            "wall_s": round(wall, 2),
            "machine_busy_pct": round(100 * busy / total, 1) if total else None,
            "processes": procs,
        }


# raw broker -----------------------------------------------------------------------------------
def server_name(connection: aio_pika.abc.AbstractConnection) -> str:
    """The broker's product and version, as it announced them when the connection opened."""
    assert connection.transport is not None, "connected"
    props = connection.transport.connection.server_properties
    return " ".join(
        v.decode() if isinstance(v, bytes) else str(v) for v in (props.get("product"), props.get("version"))
    )


def event_like_body(i: int, size: int) -> bytes:
    head: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "vn.gov.moha.bench.raw.v1",
        "source": "/moha/bench",
        "time": datetime.now(UTC).isoformat(),
        "subject": f"bench:{i}",
        "correlationid": str(uuid.uuid4()),
        "schemaversion": "1.0",
        "datacontenttype": "application/json",
        "data": {"n": i, "pad": ""},
    }
    body = json.dumps(head)
    head["data"]["pad"] = "x" * max(0, size - len(body))
    return json.dumps(head).encode()


async def raw_broker(url: str, count: int, size: int, batch: int, prefetch: int, sequential: int) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    name = f"bench.raw.{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {
        "messages": count,
        "body_bytes": size,
        "confirm_batch": batch,
        "prefetch": prefetch,
        "queue_type": "quorum",
        "persistent": True,
    }
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        try:
            bodies = [event_like_body(i, size) for i in range(max(count, sequential))]
            exchange = channel.default_exchange

            def message(i: int) -> aio_pika.Message:
                return aio_pika.Message(
                    bodies[i],
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(i),
                    content_type="application/cloudevents+json",
                )

            # Publish with confirms awaited together, one batch at a time.
            t0 = now()
            for start in range(0, count, batch):
                await asyncio.gather(
                    *(exchange.publish(message(i), routing_key=name) for i in range(start, min(start + batch, count)))
                )
            took = now() - t0
            result["publish_confirmed_s"] = round(took, 3)
            result["publish_confirmed_msgs_per_s"] = round(count / took)

            # Consume with manual ack and a prefetch.
            consumer_channel = await connection.channel()
            await consumer_channel.set_qos(prefetch_count=prefetch)
            cqueue = await consumer_channel.get_queue(name)
            done = asyncio.Event()
            received = 0

            async def on_message(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
                nonlocal received
                await msg.ack()
                received += 1
                if received >= count:
                    done.set()

            t0 = now()
            tag = await cqueue.consume(on_message, no_ack=False)
            await asyncio.wait_for(done.wait(), timeout=max(60.0, count / 100))
            took = now() - t0
            await cqueue.cancel(tag)
            result["consume_s"] = round(took, 3)
            result["consume_msgs_per_s"] = round(count / took)

            # For reference: each publish waits for its own confirm before the next, as a
            # relay that publishes one document's event at a time does.
            if sequential:
                t0 = now()
                for i in range(sequential):
                    await exchange.publish(message(i), routing_key=name)
                took = now() - t0
                result["publish_sequential_messages"] = sequential
                result["publish_sequential_msgs_per_s"] = round(sequential / took)
                result["publish_sequential_ms_each"] = round(1000 * took / sequential, 2)
        finally:
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
        result["server"] = server_name(connection)
    return result


# the platform ---------------------------------------------------------------------------------
def answers_for(i: int, unit_name: str) -> dict[str, Any]:
    """A valid answer to form 1/HC-TB v1 (37 answers, every rule checked on submit), varied per unit."""
    rnd = random.Random(i)
    answers = valid_hc_tb(unit_name)
    staff, contract = rnd.randint(8, 40), rnd.randint(0, 6)
    answers.update(
        {
            "A2.1": staff + contract,
            "A2.1.1": rnd.randint(0, staff),
            "A2.2.1": staff,
            "A2.2.2": rnd.randint(0, 4),
            "A2.2.3": contract,
            "A3.2": rnd.randint(4, 30),
            "A3.3.1": round(rnd.uniform(150, 900), 1),
        }
    )
    return answers


class Http:
    def __init__(self, platform: Platform, limit: int) -> None:
        self.urls = {name: s.url for name, s in platform.services.items()}
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0), limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, service: str, path: str, expect: int, **kw: Any) -> dict[str, Any]:
        response = await self.client.request(method, self.urls[service] + path, **kw)
        while response.status_code == 429 and expect != 429:  # sign-ins beyond accounts' hash queue
            await asyncio.sleep(int(response.headers.get("Retry-After", "1")))
            response = await self.client.request(method, self.urls[service] + path, **kw)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {service}{path}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def login(self, username: str, password: str) -> dict[str, str]:
        body = await self.call(
            "POST", "accounts", "/auth/token", 200, json={"username": username, "password": password}
        )
        # An issued password opens nothing until it is replaced (the bootstrap admin's too).
        if body["must_change_password"]:
            body = await self.call(
                "POST",
                "accounts",
                "/auth/password",
                200,
                headers={"Authorization": f"Bearer {body['access_token']}"},
                json={"current_password": password, "new_password": password + "-Bench1"},
            )
        return {"Authorization": f"Bearer {body['access_token']}"}


async def bounded(limit: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await job()

    return await asyncio.gather(*(run(j) for j in jobs))


async def setup_tree(http: Http, n: int, tag: str, limit: int, mongo: AsyncMongoClient, suffix: str) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t_all = t0 = now()
    admin = await http.login("admin", ADMIN_PASSWORD)

    async def unit(parent: str, code: str, name: str, level: str) -> dict[str, Any]:
        return await http.call(
            "POST",
            "accounts",
            "/units",
            201,
            headers=admin,
            json={"code": code, "name": name, "level": level, "parent_id": parent},
        )

    province = await unit("root", f"P{tag}", f"Tỉnh thử {tag}", "province")
    district = await unit(province["unit_id"], f"D{tag}", f"Huyện thử {tag}", "district")
    codes = [f"X{tag}.{i:05d}" for i in range(n)]
    # Units and accounts go in as administrators send them: one sheet each (POST .../import).
    await http.call(
        "POST",
        "accounts",
        "/units/import",
        201,
        headers={**admin, "Content-Type": "text/csv"},
        content=to_csv(
            [
                {"code": c, "name": f"Xã thử {i}", "level": "commune", "parent_code": f"D{tag}"}
                for i, c in enumerate(codes)
            ]
        ),
    )
    communes = [{"unit_id": unit_id_for(c), "code": c, "name": f"Xã thử {i}"} for i, c in enumerate(codes)]
    timings["units_s"] = now() - t0

    t0 = now()
    supervisor = await http.call(
        "POST",
        "accounts",
        "/accounts",
        201,
        headers=admin,
        json={
            "username": f"gsv.{tag}",
            "unit_id": district["unit_id"],
            "role": "district_supervisor",
            "display_name": "GSV",
            "email": f"gsv.{tag}@example.vn",
        },
    )
    issued = await http.call(
        "POST",
        "accounts",
        "/accounts/import",
        201,
        headers={**admin, "Content-Type": "text/csv"},
        content=to_csv(
            [
                {
                    "username": f"dv{i:05d}.{tag}".lower(),
                    "unit_code": c,
                    "role": "reporting_unit",
                    "display_name": f"Đơn vị {i}",
                    "email": f"dv{i:05d}.{tag}@example.vn".lower(),
                }
                for i, c in enumerate(codes)
            ]
        ),
    )
    credentials = await http.client.get(
        http.urls["accounts"] + issued["credentials"], params={"format": "csv"}, headers=admin
    )
    rows = list(csv.reader(io.StringIO(credentials.content.decode("utf-8-sig"))))[1:]
    accounts = [{"username": r[0], "initial_password": r[1], "account_id": account_id_for(r[0])} for r in rows]
    timings["accounts_s"] = now() - t0

    t0 = now()
    supervisor_auth = await http.login(supervisor["username"], supervisor["initial_password"])
    unit_auths = await bounded(
        limit, [functools.partial(http.login, a["username"], a["initial_password"]) for a in accounts]
    )
    timings["logins_s"] = now() - t0

    # Sign-in alone, once every account has its own password: the figure users feel every day.
    async def timed_login(a: dict[str, Any]) -> float:
        start = now()
        await http.call(
            "POST",
            "accounts",
            "/auth/token",
            200,
            json={"username": a["username"], "password": a["initial_password"] + "-Bench1"},
        )
        return now() - start

    t0 = now()
    login_ms = await bounded(limit, [functools.partial(timed_login, a) for a in accounts])
    timings["signin_s"] = now() - t0
    signin = {"per_s": round(len(accounts) / timings["signin_s"], 1), **latency_ms(login_ms)}

    # The services learn units and accounts from events: wait until approvals knows every unit
    # (else a submission is retried with a delay) and notifications every account.
    t0 = now()
    unit_ids = [u["unit_id"] for u in communes]
    account_ids = [a["account_id"] for a in accounts]
    deadline = now() + 120
    while True:
        known_units = await mongo[f"moha_approvals{suffix}"]["units"].count_documents({"_id": {"$in": unit_ids}})
        known_accounts = await mongo[f"moha_notifications{suffix}"]["recipients"].count_documents(
            {"_id": {"$in": account_ids}}
        )
        if known_units == n and known_accounts == n:
            break
        if now() > deadline:
            raise TimeoutError(
                f"after 120s approvals knows {known_units}/{n} units, notifications {known_accounts}/{n} accounts"
            )
        await asyncio.sleep(0.2)
    timings["propagation_s"] = now() - t0
    timings["total_s"] = now() - t_all
    return {
        "admin": admin,
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "district": district,
        "communes": communes,
        "accounts": accounts,
        "supervisor_auth": supervisor_auth,
        "unit_auths": unit_auths,
        "signin": signin,
        "issuance_per_s": round(n / timings["accounts_s"], 1),
    }


class Tap:
    """A queue of our own on the events exchange, recording when each subject's event arrives."""

    def __init__(self, url: str, routing_keys: list[str], prefix: str) -> None:
        self.url, self.routing_keys, self.prefix = url, routing_keys, prefix
        self.seen: dict[str, dict[str, float]] = {k: {} for k in routing_keys}
        self.waiters: dict[str, tuple[int, asyncio.Event]] = {}

    async def __aenter__(self) -> Tap:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        self.queue = await channel.declare_queue(f"bench-tap-{uuid.uuid4().hex[:8]}", exclusive=True)
        for key in self.routing_keys:
            await self.queue.bind(exchange, key)
        await self.queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        t = now()
        subject = json.loads(message.body).get("subject") or ""
        seen = self.seen.get(message.routing_key or "")
        if seen is None or not subject.startswith(self.prefix):
            return
        seen.setdefault(subject, t)
        waiter = self.waiters.get(message.routing_key or "")
        if waiter and len(seen) >= waiter[0]:
            waiter[1].set()

    async def wait(self, routing_key: str, count: int, timeout: float) -> bool:
        event = asyncio.Event()
        self.waiters[routing_key] = (count, event)
        if len(self.seen[routing_key]) >= count:
            return True
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False


async def timed_requests(
    limit: int, requests: dict[str, Callable[[], Awaitable[httpx.Response]]], expect: int
) -> tuple[dict[str, float], list[float], list[str], float]:
    """Runs the requests `limit` at a time; returns start time per key, latencies, errors, last end."""
    started: dict[str, float] = {}
    latencies: list[float] = []
    errors: list[str] = []
    last_end = 0.0
    sem = asyncio.Semaphore(limit)

    async def one(key: str, send: Callable[[], Awaitable[httpx.Response]]) -> None:
        nonlocal last_end
        async with sem:
            t0 = started[key] = now()
            try:
                response = await send()
                ok, detail = response.status_code == expect, f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, detail = False, repr(exc)
            t1 = now()
        last_end = max(last_end, t1)
        if ok:
            latencies.append(t1 - t0)
        else:
            errors.append(f"{key}: {detail}")

    await asyncio.gather(*(one(k, s) for k, s in requests.items()))
    return started, latencies, errors, last_end


def campaign_of(prefix: str, i: int, units: int) -> str:
    # One submission per unit per campaign: more submissions than units means more campaigns.
    return f"{prefix}-c{i // units}"


async def flow(
    http: Http, tap: Tap, tree: dict[str, Any], prefix: str, n: int, concurrency: int, timeout: float
) -> dict[str, Any]:
    requests: dict[str, Callable[[], Awaitable[httpx.Response]]] = {}
    body_bytes = 0
    units = len(tree["communes"])
    # Submissions belong to an open campaign of the form: open those the run needs, before timing.
    today = datetime.now(UTC).date()
    for campaign in sorted({campaign_of(prefix, i, units) for i in range(n)}):
        await http.call(
            "POST",
            "forms",
            "/campaigns",
            201,
            headers=tree["admin"],
            json={
                "campaign_id": campaign,
                "form_code": FORM_CODE,
                "title": f"Đợt đo {campaign}",
                "scope_unit_ids": [tree["district"]["unit_id"]],
                "opens_on": str(today - timedelta(days=1)),
                # One review level: the figures compare with the runs before the chain existed.
                "closes_on": str(today + timedelta(days=30)),
                "review_levels": ["district"],
            },
        )
    for i in range(n):
        unit, auth = tree["communes"][i % units], tree["unit_auths"][i % units]
        campaign = campaign_of(prefix, i, units)
        sid = f"{campaign}:{unit['unit_id']}"
        body = {
            "campaign_id": campaign,
            "form_code": FORM_CODE,
            "unit_id": unit["unit_id"],
            "answers": answers_for(i, unit["name"]),
        }
        body_bytes = body_bytes or len(json.dumps(body).encode())
        requests[sid] = functools.partial(
            http.client.post, http.urls["forms"] + "/submissions", json=body, headers=auth
        )

    started, latencies, errors, http_end = await timed_requests(concurrency, requests, 201)
    first = min(started.values())
    complete = await tap.wait(REVIEW_OPENED, n - len(errors), timeout)
    opened = tap.seen[REVIEW_OPENED]
    e2e = [opened[sid] - started[sid] for sid in started if sid in opened]
    last = max(opened.values()) if opened else now()
    return {
        "submissions": n,
        "units": units,
        "campaigns": -(-n // units),
        "concurrency": concurrency,
        "request_body_bytes": body_bytes,
        "answers_per_form": len(answers_for(0, "x")),
        "submitted_ok": n - len(errors),
        "errors": errors[:10],
        "tasks_opened": len(opened),
        "complete": complete,
        "seconds": round(last - first, 3),
        "submissions_per_s": round(len(opened) / (last - first), 1) if opened else 0.0,
        "http_only_submissions_per_s": round((n - len(errors)) / (http_end - first), 1),
        "http_submit_latency_ms": latency_ms(latencies),
        "submit_to_task_opened_ms": latency_ms(e2e),
        "sids": list(started),
    }


async def approve_all(
    http: Http,
    tap: Tap,
    tree: dict[str, Any],
    sids: list[str],
    forms_db: Any,
    concurrency: int,
    timeout: float,
    poll: float = 0.5,
) -> dict[str, Any]:
    auth = tree["supervisor_auth"]
    campaigns = sorted({sid.split(":", 1)[0] for sid in sids})
    requests: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
        sid: functools.partial(
            http.client.post, f"{http.urls['approvals']}/tasks/{sid}:r1:l1/approve", json={"revision": 1}, headers=auth
        )
        for sid in sids
    }
    approved_in_forms: dict[str, float] = {}

    async def watch_forms() -> None:
        # forms publishes nothing when it records an approval: read its database, `poll` apart.
        while len(approved_in_forms) < len(sids):
            cursor = forms_db["submissions"].find({"campaign_id": {"$in": campaigns}, "status": "approved"}, {"_id": 1})
            t = now()
            async for doc in cursor:
                approved_in_forms.setdefault(doc["_id"], t)
            await asyncio.sleep(poll)

    watcher = asyncio.create_task(watch_forms())
    try:
        started, latencies, errors, http_end = await timed_requests(concurrency, requests, 200)
        first = min(started.values())
        complete_event = await tap.wait(FORM_APPROVED, len(sids) - len(errors), timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(watcher), timeout)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    event_seen = tap.seen[FORM_APPROVED]
    last = max(approved_in_forms.values()) if approved_in_forms else now()
    return {
        "approvals": len(sids),
        "concurrency": concurrency,
        "approved_ok": len(sids) - len(errors),
        "errors": errors[:10],
        "form_approved_events": len(event_seen),
        "complete": complete_event,
        "approved_in_forms": len(approved_in_forms),
        "seconds": round(last - first, 3),
        "approvals_per_s": round(len(approved_in_forms) / (last - first), 1) if approved_in_forms else 0.0,
        "http_only_approvals_per_s": round((len(sids) - len(errors)) / (http_end - first), 1),
        "http_approve_latency_ms": latency_ms(latencies),
        "approve_to_form_approved_event_ms": latency_ms(
            [event_seen[s] - started[s] for s in started if s in event_seen]
        ),
        "approve_to_approved_in_forms_ms": latency_ms(
            [approved_in_forms[s] - started[s] for s in started if s in approved_in_forms]
        ),
        "forms_poll_interval_ms": poll * 1000,
    }


async def progress_reads(http: Http, tree: dict[str, Any], campaign: str, reads: int = 50) -> dict[str, Any]:
    """The progress view of the bench's district (every unit's row) and of the whole country
    (the summary only), one request at a time: what a supervisor waits for."""
    timings: dict[str, list[float]] = {"district": [], "national_summary": []}
    units = 0
    for _ in range(reads):
        for name, params in (
            ("district", {"area": tree["district"]["unit_id"]}),
            ("national_summary", {"area": "root", "units": "false"}),
        ):
            t0 = now()
            response = await http.client.get(
                f"{http.urls['approvals']}/progress/{campaign}", params=params, headers=tree["admin"]
            )
            timings[name].append(now() - t0)
            response.raise_for_status()
            units = max(units, response.json()["summary"]["units"])
    return {"campaign": campaign, "units_counted": units, **{f"{k}_ms": latency_ms(v) for k, v in timings.items()}}


def log_issues(platform: Platform) -> dict[str, dict[str, int]]:
    out = {}
    for name, service in platform.services.items():
        counts = {"warning": 0, "error": 0, "other": 0}
        with contextlib.suppress(FileNotFoundError):
            for line in service.log_path.read_text(errors="replace").splitlines():
                try:
                    level = json.loads(line).get("level", "other")
                except ValueError:
                    level = "other"
                counts[level if level in counts else "other"] += 1
        out[name] = counts
    return out


async def clean_up(
    platform: Platform, mongo: AsyncMongoClient, admin_url: str, suffix: str, *, keep_data: bool
) -> None:
    """What a benchmark's run leaves on the shared broker and store: its databases (unless kept),
    its vhost, and the services' broker and database users. Best effort: the figures are taken."""
    if not keep_data:
        with contextlib.suppress(Exception):
            for name in SERVICES:
                await asyncio.wait_for(mongo.drop_database(f"moha_{name}{suffix}"), 60)
    with contextlib.suppress(Exception):
        await mongo.close()
    with contextlib.suppress(Exception):
        await asyncio.to_thread(platform.remove_broker_users)
    with contextlib.suppress(Exception), Management(admin_url) as api:
        api.delete_vhost(vhost_of(platform.amqp_url))


def machine() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": pyplatform.release(),
        "python": pyplatform.python_version(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "aio_pika": aio_pika.__version__,
        "httpx": httpx.__version__,
    }


async def store_version(mongo: AsyncMongoClient) -> str:
    info = await mongo.admin.command("buildInfo")
    # SecantusDB answers buildInfo with the MongoDB version it speaks; its process tells it apart.
    if find_pid("secantusd-rs"):
        return f"SecantusDB secantusd-rs (MongoDB wire {info.get('version')})"
    return f"MongoDB {info.get('version')}"


# isolation on the broker --------------------------------------------------------------------------
def bench_vhost(admin_url: str, run_id: str) -> str:
    """A vhost of the run's own (made by the platform's provisioning, deleted at the end): the bench
    never takes or deletes the queues of tests or a demo running beside it."""
    return with_vhost(admin_url, f"moha-bench-{run_id}")


# the run --------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.smtp import SmtpServer

    run_id = uuid.uuid4().hex[:8]
    admin_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    amqp_url = bench_vhost(admin_url, run_id)
    with Management(admin_url) as api:  # the raw broker part runs on the vhost before the platform
        api.ensure_vhost(vhost_of(amqp_url))
        api.grant_all(broker_user(admin_url), vhost_of(amqp_url))
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    result: dict[str, Any] = {
        "run_id": run_id,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {
            "submissions": args.submissions,
            "units": args.units,
            "concurrency": args.concurrency,
            "vhost": vhost_of(amqp_url),
            "setup_concurrency": args.setup_concurrency,
            "approve": args.approve,
        },
        "machine": machine(),
    }
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, tz_aware=True, serverSelectionTimeoutMS=10_000)
    result["machine"]["store"] = await store_version(mongo)

    print(f"[bench] run {run_id}: raw broker, {args.raw_messages} messages ...", flush=True)
    raw_meter = CpuMeter({"bench": os.getpid(), "rabbitmq (beam.smp)": find_pid("beam.smp")})
    raw_meter.start()
    result["raw_broker"] = await raw_broker(
        amqp_url, args.raw_messages, args.raw_bytes, args.raw_batch, args.raw_prefetch, args.raw_sequential
    )
    result["raw_cpu"] = await raw_meter.stop()
    result["machine"]["broker"] = result["raw_broker"].pop("server")

    suffix = f"_bench_{run_id}"
    log_dir = Path(tempfile.mkdtemp(prefix=f"moha-bench-{run_id}-"))
    result["log_dir"] = str(log_dir)
    smtp = SmtpServer(free_port())
    smtp.start()
    platform = Platform(
        amqp_url=amqp_url,
        mongodb_url=mongodb_url,
        log_dir=log_dir,
        database_suffix=suffix,
        broker_user_prefix=f"bench{run_id}-",
        ports={name: free_port() for name in SERVICES},
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOG_LEVEL": args.log_level,
            "SMTP_PORT": str(smtp.port),
        },
    )
    http = Http(platform, max(args.concurrency, args.setup_concurrency) + 8)
    try:
        print(f"[bench] starting the platform (logs {log_dir}) ...", flush=True)
        t0 = now()
        await asyncio.to_thread(platform.start)
        result["platform_start_s"] = round(now() - t0, 2)
        pids: dict[str, int | None] = {name: s.process.pid for name, s in platform.services.items() if s.process}
        pids["bench"] = os.getpid()
        pids["rabbitmq (beam.smp)"] = find_pid("beam.smp")
        pids["store"] = find_pid("secantusd-rs") or find_pid("mongod")

        units = min(args.units or args.submissions, args.submissions)
        print(f"[bench] setup: {units} units and accounts ...", flush=True)
        tag = run_id[:6]
        tree = await setup_tree(http, units, tag, args.setup_concurrency, mongo, suffix)
        result["setup"] = tree["timings"]
        result["accounts"] = {"bulk_issuance_per_s": tree["issuance_per_s"], "signin": tree["signin"]}

        prefix = f"bench-{run_id}"
        flow_timeout = max(120.0, args.submissions * 0.5)
        async with Tap(amqp_url, [REVIEW_OPENED, FORM_APPROVED], prefix=prefix + "-") as tap:
            print(f"[bench] flow: {args.submissions} submissions, {args.concurrency} in flight ...", flush=True)
            meter = CpuMeter(pids)
            meter.start()
            result["flow"] = await flow(http, tap, tree, prefix, args.submissions, args.concurrency, flow_timeout)
            result["flow_cpu"] = await meter.stop()
            sids = result["flow"].pop("sids")
            if args.approve:
                print(f"[bench] approve: {len(sids)} tasks, {args.concurrency} in flight ...", flush=True)
                meter.start()
                result["approve"] = await approve_all(
                    http, tap, tree, sids, mongo[f"moha_forms{suffix}"], args.concurrency, flow_timeout
                )
                result["approve_cpu"] = await meter.stop()
            print("[bench] progress reads ...", flush=True)
            result["progress"] = await progress_reads(http, tree, campaign_of(prefix, 0, len(tree["communes"])))
        result["mails_received"] = len(smtp.messages)

        memory = {
            name: proc_status(pid, "VmHWM")
            for name, pid in pids.items()
            if pid and (name in SERVICES or name == "bench")
        }
        result["peak_rss_mib"] = {k: round(v / 1024, 1) if v else None for k, v in memory.items()}
        # The broker and the store run for longer than this bench: their current RSS, for scale.
        result["infra_rss_mib"] = {
            name: round((proc_status(pid, "VmRSS") or 0) / 1024, 1)
            for name, pid in pids.items()
            if pid and name not in memory
        }
    finally:
        print("[bench] stopping the platform ...", flush=True)
        await http.close()
        await asyncio.to_thread(_stop, platform)
        smtp.stop()
        result["log_issues"] = log_issues(platform)
        await clean_up(platform, mongo, admin_url, suffix, keep_data=args.keep_data)
    return result


def _stop(platform: Platform) -> None:
    for service in platform.services.values():
        service.stop(timeout=10.0)


# the report -----------------------------------------------------------------------------------
def report(r: dict[str, Any]) -> str:
    m, raw, f = r["machine"], r["raw_broker"], r.get("flow", {})
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        rows.append((label, "" if value is None else str(value)))

    def lat(d: dict[str, Any] | None) -> str:
        if not d or not d.get("n"):
            return "-"
        return f"p50 {d['p50']} / p90 {d['p90']} / p99 {d['p99']} / max {d['max']} ms (n={d['n']})"

    add(
        "machine",
        f"{m['nproc']} CPU ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}, "
        f"load at start {' '.join(m['loadavg_at_start'])}",
    )
    add("python / aio-pika", f"{m['python']} / {m['aio_pika']}")
    add("broker / store", f"{m.get('broker')} / {m.get('store')}")
    add("", "")
    add("RAW BROKER (aio-pika, durable quorum queue, persistent)", "")
    add(
        f"  publish+confirm, batches of {raw['confirm_batch']}",
        f"{raw['publish_confirmed_msgs_per_s']} msgs/s ({raw['messages']} x {raw['body_bytes']} B)",
    )
    if "publish_sequential_msgs_per_s" in raw:
        add(
            "  publish+confirm, one at a time",
            f"{raw['publish_sequential_msgs_per_s']} msgs/s ({raw['publish_sequential_ms_each']} ms each, "
            f"{raw['publish_sequential_messages']} msgs)",
        )
    add(f"  consume, manual ack, prefetch {raw['prefetch']}", f"{raw['consume_msgs_per_s']} msgs/s")
    add("", "")
    s = r.get("setup", {})
    add(
        f"SETUP (not in the flow figures), {r.get('flow', {}).get('units')} units",
        f"{s.get('total_s')} s total; platform start {r.get('platform_start_s')} s",
    )
    add(
        "  units sheet / accounts sheet / first logins / propagation",
        f"{s.get('units_s')} / {s.get('accounts_s')} / {s.get('logins_s')} / {s.get('propagation_s')} s",
    )
    acc = r.get("accounts")
    if acc:
        add("", "")
        add("ACCOUNTS", "")
        add("  bulk issuance (one sheet, argon2id, initial passwords)", f"{acc['bulk_issuance_per_s']} accounts/s")
        si = acc["signin"]
        add(
            "  sign-in (POST /auth/token, argon2id verify)",
            f"{si['per_s']} logins/s; p50 {si.get('p50')} / p99 {si.get('p99')} ms",
        )
    if f:
        add("", "")
        add(
            f"FLOW submit -> ReviewTaskOpened (N={f['submissions']}, C={f['concurrency']})",
            f"{f['units']} units x {f['campaigns']} campaign(s)",
        )
        add(
            "  platform submissions/s",
            f"{f['submissions_per_s']}  ({f['tasks_opened']}/{f['submissions']} tasks "
            f"opened in {f['seconds']} s{'' if f['complete'] else ', INCOMPLETE'})",
        )
        add("  HTTP-only submissions/s", f["http_only_submissions_per_s"])
        add("  HTTP POST /submissions latency", lat(f["http_submit_latency_ms"]))
        add("  submit -> task opened latency", lat(f["submit_to_task_opened_ms"]))
        add("  errors", f"{f['submissions'] - f['submitted_ok']} {f['errors'][:2] if f['errors'] else ''}")
        add(
            "  request body",
            f"{f['request_body_bytes']} B, {f.get('answers_per_form')} answers, "
            "checked against the latest 1/HC-TB on submit",
        )
    a = r.get("approve")
    if a:
        add("", "")
        add(f"APPROVE (supervisor, C={a['concurrency']})", "")
        add(
            "  approvals/s (to status approved in forms)",
            f"{a['approvals_per_s']}  ({a['approved_in_forms']}/"
            f"{a['approvals']} in {a['seconds']} s{'' if a['complete'] else ', INCOMPLETE'})",
        )
        add("  HTTP-only approvals/s", a["http_only_approvals_per_s"])
        add("  HTTP POST approve latency", lat(a["http_approve_latency_ms"]))
        add("  approve -> FormApproved on broker", lat(a["approve_to_form_approved_event_ms"]))
        add(
            f"  approve -> approved in forms (poll {int(a['forms_poll_interval_ms'])} ms)",
            lat(a["approve_to_approved_in_forms_ms"]),
        )
        add("  mails received by the SMTP sink", r.get("mails_received"))
    pr = r.get("progress")
    if pr:
        add("", "")
        add(f"PROGRESS VIEW (GET /progress, one at a time, {pr['units_counted']} units)", "")
        add("  the district, every unit's row", lat(pr["district_ms"]))
        add("  the whole country, summary only", lat(pr["national_summary_ms"]))
    for key, title in (
        ("raw_cpu", "CPU during the raw broker test"),
        ("flow_cpu", "CPU during the flow"),
        ("approve_cpu", "CPU during approve"),
    ):
        c = r.get(key)
        if c:
            add("", "")
            add(
                f"{title} ({c['wall_s']} s wall, machine busy {c['machine_busy_pct']}% of {m['nproc']} CPU)",
                "% of one core: average (CPU s), busiest 1 s",
            )
            for name, v in sorted(c["processes"].items(), key=lambda kv: -kv[1]["cpu_s"]):
                add(
                    f"  {name}",
                    f"{v['pct_of_one_core']}%  ({v['cpu_s']} s)"
                    + (f", peak {v['peak_1s_pct']}%" if v["peak_1s_pct"] is not None else ""),
                )
    if r.get("peak_rss_mib"):
        add("", "")
        add("PEAK RSS (VmHWM)", ", ".join(f"{k} {v} MiB" for k, v in r["peak_rss_mib"].items()))
        add("infra current RSS", ", ".join(f"{k} {v} MiB" for k, v in r.get("infra_rss_mib", {}).items()))
    if r.get("log_issues"):
        add(
            "service log lines (warning/error)",
            ", ".join(f"{k} {v['warning']}/{v['error']}" for k, v in r["log_issues"].items()),
        )
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join(f"{label:<{width}}{value}" if value or label else "" for label, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", "-n", type=int, default=200, help="N units, one submission each")
    parser.add_argument(
        "--units",
        type=int,
        default=0,
        help="units (and accounts) to create; fewer than N spreads the submissions over "
        "several campaigns, one per unit each (default: N units)",
    )
    parser.add_argument("--concurrency", "-c", type=int, default=32, help="HTTP requests in flight in the flow")
    parser.add_argument("--setup-concurrency", type=int, default=8, help="requests in flight during setup")
    parser.add_argument("--no-approve", dest="approve", action="store_false", help="skip the approve phase")
    parser.add_argument("--raw-messages", type=int, default=5000)
    parser.add_argument("--raw-bytes", type=int, default=1024)
    parser.add_argument("--raw-batch", type=int, default=500, help="publishes whose confirms are awaited together")
    parser.add_argument("--raw-prefetch", type=int, default=100)
    parser.add_argument("--raw-sequential", type=int, default=500, help="messages published one confirm at a time")
    parser.add_argument("--log-level", default="warning", help="LOG_LEVEL of the services")
    parser.add_argument("--keep-data", action="store_true", help="keep the run's databases")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = asyncio.run(run(args))
    print()
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\n[bench] figures written to {args.json}")


if __name__ == "__main__":
    main()
