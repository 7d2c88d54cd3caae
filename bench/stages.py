"""The platform's own speed against the bare stack, stage by stage, as the data grows; then the
national census (issue 13, parts 2 and 3).

    python -m bench.stages                                  # 1,000, 10,000, 32,000 units, then the census
    python -m bench.stages --sizes 1000 --no-census         # a quick look
    python -m bench.stages --profile bench/results/profile  # py-spy of every service in every stage

One run, on one broker and store (AMQP_URL / MONGODB_URL), on a vhost and databases of its own; at
each data size (units with one reporting account each, under 32 provinces of 10 districts):

1. **bare**: FastStream alone (bench/bare.py, a process of its own): `--bare-events` messages
   waiting in a quorum queue, consumed with manual ack and the services' prefetch, each
   republished with a publisher confirm. The best a stage can do on this broker and machine.
2. **forms**: `--events` submissions over HTTP, `--concurrency` in flight, each to
   FormSubmitted on the bus (approvals and notifications stopped meanwhile, so forms runs alone).
3. **approvals**: the FormSubmitted events of (2), waiting in approvals' queues, consumed by a
   freshly started approvals: a review task each, ReviewTaskOpened on the bus (and the progress
   read model, in queues of its own).
4. **notifications**: `--events` FormApproved (final) published as approvals' broker user while
   forms and approvals are stopped, consumed by a freshly started notifications: a notice each and
   an e-mail queued. (The copies queued for forms and approvals are purged before they start again.)
5. **whole flow**: `--flow-units` units submit; each ReviewTaskOpened is decided over HTTP by the
   reviewing unit's supervisor as soon as it arrives: the district approves, the province
   confirms; done when the unit's notice and e-mail are stored by notifications.

Stages 1, 3 and 4 are timed from their first output to their last (the queue full, as with a
backlog), stages 2 and 5 from their first request. Each stage's rate is printed beside bare's,
with CPU per process (from the first output on) and memory. After the largest size, the census:
the whole flow over every unit (`--no-census` skips it).

Setup is kept out of every figure: units and accounts are registered by publishing the events
accounts would publish (as its broker user), and tokens are signed with the platform's own key
(TOKEN_SIGNING_KEYS, made by the bench): issuing and signing in 32,000 accounts through argon2
would take the best part of an hour and says nothing about the flow (`bench.flow` measures
sign-in). Every account has an e-mail address, so notifications queues and sends real e-mails, to
a sink that keeps nothing (bench/smtp_sink.py); the bench waits for the mail queue to drain
between stages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aio_pika
import httpx
from pymongo import AsyncMongoClient

from bench.flow import (
    FORM_CODE,
    RESULTS_DIR,
    CpuMeter,
    answers_for,
    clean_up,
    event_like_body,
    find_pid,
    latency_ms,
    log_issues,
    machine,
    now,
    proc_status,
    server_name,
    store_version,
)
from bench.profile import Profiler
from chassis.messaging import broker_user
from chassis.runtime import new_event_loop
from deploy.launch import ROOT, SERVICES, WEB, Platform, free_port
from deploy.rabbitmq.provision import with_vhost
from moha_contracts import (
    CONTENT_TYPE,
    EVENTS_EXCHANGE,
    AccountIssued,
    Envelope,
    Event,
    FormApproved,
    UnitRegistered,
)
from services.accounts.tokens import TokenIssuer, load_signing_keys, new_signing_key

PROVINCES, DISTRICTS_PER_PROVINCE = 32, 10
SUBMITTED = "forms.submission.submitted.v1"
OPENED = "approvals.review_task.opened.v1"
APPROVED = "approvals.form.approved.v1"
DELIVERED = "notifications.delivery.delivered.v1"


# the tree the bench registers ------------------------------------------------------------------
@dataclass
class Unit:
    unit_id: str
    code: str
    name: str
    level: str
    parent_id: str
    path: list[str]
    account_id: str = ""
    username: str = ""


@dataclass
class Tree:
    tag: str
    provinces: list[Unit] = field(default_factory=list)
    districts: list[Unit] = field(default_factory=list)
    communes: list[Unit] = field(default_factory=list)
    supervisors: dict[str, Unit] = field(default_factory=dict)  # reviewer unit id -> its supervisor

    def __post_init__(self) -> None:
        t = self.tag
        for p in range(PROVINCES):
            self.provinces.append(
                Unit(f"bp-{t}-{p:02d}", f"P{t}{p:02d}", f"Tỉnh thử {p}", "province", "root", ["root"])
            )
        for d in range(PROVINCES * DISTRICTS_PER_PROVINCE):
            province = self.provinces[d // DISTRICTS_PER_PROVINCE]
            self.districts.append(
                Unit(
                    f"bd-{t}-{d:03d}",
                    f"D{t}{d:03d}",
                    f"Huyện thử {d}",
                    "district",
                    province.unit_id,
                    ["root", province.unit_id],
                )
            )
        for area in (*self.provinces, *self.districts):
            role = f"{area.level}_supervisor"
            self.supervisors[area.unit_id] = Unit(
                area.unit_id,
                "",
                "",
                area.level,
                "",
                [],
                account_id=f"ba-{t}-s-{area.code}",
                username=f"gsv.{area.code}".lower(),
            )
            self.supervisors[area.unit_id].name = role

    def grow(self, size: int) -> list[Unit]:
        added = []
        for i in range(len(self.communes), size):
            district = self.districts[i % len(self.districts)]
            unit = Unit(
                f"bc-{self.tag}-{i:05d}",
                f"X{self.tag}{i:05d}",
                f"Xã thử {i}",
                "commune",
                district.unit_id,
                [*district.path, district.unit_id],
                account_id=f"ba-{self.tag}-u-{i:05d}",
                username=f"dv{i:05d}.{self.tag}",
            )
            self.communes.append(unit)
            added.append(unit)
        return added

    def district_of(self, unit: Unit) -> str:
        return unit.path[-1]


def registration(unit: Unit) -> UnitRegistered:
    return UnitRegistered(
        unit_id=unit.unit_id,
        code=unit.code,
        name=unit.name,
        level=unit.level,
        parent_id=unit.parent_id,
        path=unit.path,
    )


def issued(account_id: str, username: str, unit_id: str, role: str) -> AccountIssued:
    return AccountIssued(
        account_id=account_id,
        username=username,
        unit_id=unit_id,
        role=role,
        email=f"{username}@example.vn",
        display_name=f"Tài khoản {username}",
        issued_by=None,
    )


class Tokens:
    """Tokens as accounts signs them, with the platform's key: no argon2 in the measured flow."""

    def __init__(self, pem: str) -> None:
        self.issuer = TokenIssuer(
            load_signing_keys(pem), issuer="moha-accounts", audience="moha", ttl_seconds=12 * 3600
        )
        self._cache: dict[str, dict[str, str]] = {}

    def bearer(self, account_id: str, username: str, unit_id: str, role: str) -> dict[str, str]:
        if account_id not in self._cache:
            token, _ = self.issuer.issue(
                SimpleNamespace(
                    id=account_id,
                    username=username,
                    unit_id=unit_id,  # type: ignore[arg-type]
                    role=role,
                    must_change_password=False,
                )
            )
            self._cache[account_id] = {"Authorization": f"Bearer {token}"}
        return self._cache[account_id]


# the broker, as the bench sees it ----------------------------------------------------------------
async def publish(url: str, events: list[Event], batch: int = 500) -> float:
    """Publish events as the user of `url` (a service's own, so consumers trust them), with confirms
    awaited `batch` at a time. Returns the seconds it took."""
    user = broker_user(url)
    envelopes = [Envelope.wrap(e) for e in events]
    t0 = now()
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        for start in range(0, len(envelopes), batch):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            e.model_dump_json().encode(),
                            message_id=e.id,
                            type=e.type,
                            correlation_id=e.correlationid,
                            content_type=CONTENT_TYPE,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            user_id=user,
                        ),
                        routing_key=e.routing_key,
                    )
                    for e in envelopes[start : start + batch]
                )
            )
    return now() - t0


class Watch:
    """A queue of the bench's own on the events exchange: when each event was seen, by a key the
    bench chooses (None: not ours), and callbacks for the flow."""

    def __init__(self, url: str, keys: dict[str, Callable[[dict[str, Any], Any], str | None]]) -> None:
        self.url, self.keys = url, keys
        self.seen: dict[str, dict[str, float]] = {k: {} for k in keys}
        self.data: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in keys}
        self.on: dict[str, Callable[[str, dict[str, Any]], None]] = {}
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Watch:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=2000)
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"bench-watch-{uuid.uuid4().hex[:8]}", exclusive=True)
        for key in self.keys:
            await queue.bind(exchange, key)
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        t = now()
        rk = message.routing_key or ""
        if rk not in self.keys:
            return
        body = json.loads(message.body)
        key = self.keys[rk](body, message)
        if key is None or key in self.seen[rk]:
            return
        self.seen[rk][key] = t
        self.data[rk][key] = body
        if rk in self.on:
            self.on[rk](key, body)
        self._changed.set()

    async def wait(self, rk: str, keys: set[str], timeout: float) -> bool:
        deadline = now() + timeout
        while not keys <= self.seen[rk].keys():
            self._changed.clear()
            if now() > deadline:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(1.0, max(0.01, deadline - now())))
        return True


def by_subject(prefix: str) -> Callable[[dict[str, Any], Any], str | None]:
    return lambda body, _m: body.get("subject") if str(body.get("subject", "")).startswith(prefix) else None


async def queue_depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count or 0


async def wait_drained(channel: aio_pika.abc.AbstractChannel, names: list[str], timeout: float = 300) -> None:
    deadline, quiet = now() + timeout, 0
    while quiet < 3:
        depths = [await queue_depth(channel, n) for n in names]
        quiet = quiet + 1 if not any(depths) else 0
        if now() > deadline:
            raise TimeoutError(f"queues not drained: {dict(zip(names, depths, strict=True))}")
        await asyncio.sleep(0.2)


# the run's context -----------------------------------------------------------------------------------
@dataclass
class Bench:
    args: argparse.Namespace
    platform: Platform
    amqp_url: str  # the administrator's, on the bench's vhost
    mongo: AsyncMongoClient
    suffix: str
    tree: Tree
    tokens: Tokens
    http: httpx.AsyncClient
    channel: Any = None
    profiler: Profiler = field(default_factory=lambda: Profiler(None))
    label: str = ""

    def db(self, service: str) -> Any:
        return self.mongo[f"moha_{service}{self.suffix}"]

    def url(self, service: str) -> str:
        return self.platform[service].url

    def pids(self, *names: str) -> dict[str, int | None]:
        pids: dict[str, int | None] = {n: process.pid for n in names if (process := self.alive(n))}
        pids["bench"] = os.getpid()
        pids["rabbitmq (beam.smp)"] = find_pid("beam.smp")
        pids["store"] = find_pid("secantusd-rs") or find_pid("mongod")
        return pids

    def alive(self, name: str) -> subprocess.Popen | None:
        process = self.platform[name].process
        return process if process is not None and process.poll() is None else None

    def running(self) -> list[str]:
        return [n for n in SERVICES if self.alive(n)]

    async def stop(self, *names: str) -> None:
        await asyncio.gather(*(asyncio.to_thread(self.platform[n].stop) for n in names))

    async def start(self, *names: str, wait: bool = True) -> None:
        for n in names:
            if n not in self.running():
                self.platform[n].start()
        if wait:
            await asyncio.gather(*(asyncio.to_thread(self.platform[n].wait_ready, 60.0) for n in names))

    def unit_auth(self, unit: Unit) -> dict[str, str]:
        return self.tokens.bearer(unit.account_id, unit.username, unit.unit_id, "reporting_unit")

    def supervisor_auth(self, reviewer_unit_id: str) -> dict[str, str]:
        s = self.tree.supervisors[reviewer_unit_id]
        return self.tokens.bearer(s.account_id, s.username, s.unit_id, s.name)

    def admin_auth(self) -> dict[str, str]:
        return self.tokens.bearer("bench-admin", "bench.admin", "root", "central_admin")

    async def meter(self, names: tuple[str, ...]) -> CpuMeter:
        m = CpuMeter(self.pids(*names))
        m.start()
        return m

    def profile(self, stage: str, names: tuple[str, ...]) -> None:
        self.profiler.start(f"{self.label}-{stage}", {n: p for n, p in self.pids(*names).items() if n in names})


def load() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


# setup: the tree and its accounts, as accounts would publish them ------------------------------------
async def grow(b: Bench, size: int) -> dict[str, Any]:
    t0 = now()
    first = not b.tree.communes
    added = b.tree.grow(size)
    units = ([*b.tree.provinces, *b.tree.districts] if first else []) + added
    accounts = [issued(u.account_id, u.username, u.unit_id, "reporting_unit") for u in added]
    if first:
        accounts += [issued(s.account_id, s.username, s.unit_id, s.name) for s in b.tree.supervisors.values()]
    before = {s: await b.db(s)["units"].estimated_document_count() for s in ("forms", "approvals", "notifications")}
    recipients = await b.db("notifications")["recipients"].estimated_document_count()
    accounts_url = b.platform.broker_url("accounts")
    # Units first: a service told of an account before its unit retries it later.
    await publish(accounts_url, [registration(u) for u in units])
    await publish(accounts_url, accounts)  # type: ignore[arg-type]
    deadline = now() + 60 + size / 20
    while True:
        known = {s: await b.db(s)["units"].estimated_document_count() - before[s] for s in before}
        known_accounts = await b.db("notifications")["recipients"].estimated_document_count() - recipients
        if all(v >= len(units) for v in known.values()) and known_accounts >= len(accounts):
            break
        if now() > deadline:
            raise TimeoutError(
                f"setup: units known {known} of {len(units)}, accounts {known_accounts} of {len(accounts)}"
            )
        await asyncio.sleep(0.5)
    propagated = now() - t0
    await mail_drained(b, timeout=120 + size / 5)
    return {
        "units": size,
        "added_units": len(units),
        "added_accounts": len(accounts),
        "propagation_s": round(propagated, 1),
        "with_mail_s": round(now() - t0, 1),
    }


async def mail_drained(b: Bench, timeout: float) -> float:
    """Until notifications' mail queue is empty (every e-mail sent), so no stage pays for another's."""
    t0 = now()
    queue = b.db("notifications")["mail_queue"]
    while await queue.count_documents({}, limit=1):
        if now() - t0 > timeout:
            raise TimeoutError(f"mail queue not drained after {timeout:.0f}s")
        await asyncio.sleep(0.5)
    return now() - t0


async def open_campaign(b: Bench, campaign_id: str, review_levels: list[str] | None = None) -> None:
    today = datetime.now(UTC).date()
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "form_code": FORM_CODE,
        "title": f"Đợt đo {campaign_id}",
        "scope_unit_ids": ["root"],
        "opens_on": str(today - timedelta(days=1)),
        "closes_on": str(today + timedelta(days=30)),
    }
    if review_levels:
        body["review_levels"] = review_levels
    r = await b.http.post(b.url("forms") + "/campaigns", json=body, headers=b.admin_auth())
    if r.status_code != 201:
        raise RuntimeError(f"campaign {campaign_id}: {r.status_code} {r.text[:300]}")


async def campaigns_known(b: Bench, ids: list[str], timeout: float = 60) -> None:
    deadline = now() + timeout
    for service in ("approvals", "notifications"):
        while await b.db(service)["campaigns"].count_documents({"_id": {"$in": ids}}) < len(ids):
            if now() > deadline:
                raise TimeoutError(f"{service} does not know campaigns {ids}")
            await asyncio.sleep(0.2)


# stages ---------------------------------------------------------------------------------------------
async def stage_bare(b: Bench, n: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    queue, rk_in, rk_out = f"bench.bare.{tag}", f"bench.bare.in.{tag}", f"bench.bare.out.{tag}"
    cmd = [
        sys.executable,
        "-m",
        "bench.bare",
        "--url",
        b.amqp_url,
        "--queue",
        queue,
        "--routing-in",
        rk_in,
        "--routing-out",
        rk_out,
        "--prefetch",
        str(b.args.prefetch),
    ]

    def launch() -> subprocess.Popen:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if p.stdout is None or p.stdout.readline().strip() != "ready":
            p.kill()
            raise RuntimeError("bench.bare did not start")
        return p

    # Started once to declare and bind its queue, stopped, filled, started again: the queue is full
    # when it starts, as a platform stage's is.
    first = await asyncio.to_thread(launch)
    first.send_signal(signal.SIGTERM)
    await asyncio.to_thread(first.wait, 30)
    bodies = [event_like_body(i, 1024) for i in range(n)]
    ids = {json.loads(x)["id"] for x in bodies}
    exchange = await b.channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
    user = broker_user(b.amqp_url)
    for start in range(0, n, 500):
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type=CONTENT_TYPE, user_id=user
                    ),
                    routing_key=rk_in,
                )
                for body in bodies[start : start + 500]
            )
        )
    async with Watch(b.amqp_url, {rk_out: lambda body, _m: body["id"]}) as watch:
        process = await asyncio.to_thread(launch)
        try:
            while not watch.seen[rk_out]:
                await asyncio.sleep(0.005)
            meter = CpuMeter({"bare": process.pid, "bench": os.getpid(), "rabbitmq (beam.smp)": find_pid("beam.smp")})
            meter.start()
            b.profiler.start(f"{b.label}-bare", {"bare": process.pid})
            complete = await watch.wait(rk_out, ids, timeout=max(60, n / 50))
            cpu = await meter.stop()
            await b.profiler.stop()
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)
    seen = sorted(watch.seen[rk_out].values())
    with contextlib.suppress(Exception):
        await b.channel.queue_delete(queue)
    return {"events": n, "complete": complete, "per_s": rate(seen), "seconds": round(seen[-1] - seen[0], 3), "cpu": cpu}


def rate(times: list[float]) -> float:
    times = sorted(times)
    return round((len(times) - 1) / (times[-1] - times[0]), 1) if len(times) > 1 and times[-1] > times[0] else 0.0


async def stage_forms(b: Bench, campaigns: list[str], units: list[Unit], n: int) -> dict[str, Any]:
    """Forms alone: n submissions over HTTP to FormSubmitted on the bus."""
    await b.stop("approvals", "notifications")
    jobs = [(campaigns[i // len(units)], units[i % len(units)], i) for i in range(n)]
    sem = asyncio.Semaphore(b.args.concurrency)
    started: dict[str, float] = {}
    latency: list[float] = []
    errors: list[str] = []
    failed: set[str] = set()

    async def submit(campaign: str, unit: Unit, i: int) -> None:
        sid = f"{campaign}:{unit.unit_id}"
        body = {
            "campaign_id": campaign,
            "form_code": FORM_CODE,
            "unit_id": unit.unit_id,
            "answers": answers_for(i, unit.name),
        }
        async with sem:
            t0 = started[sid] = now()
            try:
                r = await b.http.post(b.url("forms") + "/submissions", json=body, headers=b.unit_auth(unit))
                ok, why = r.status_code == 201, f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                ok, why = False, repr(exc)
            if ok:
                latency.append(now() - t0)
            else:
                errors.append(why)
                failed.add(sid)

    prefix = campaigns[0].rsplit("-", 1)[0]
    async with Watch(b.amqp_url, {SUBMITTED: by_subject(prefix)}) as watch:
        meter = await b.meter(("forms",))
        b.profile("forms", ("forms",))
        t0 = now()
        await asyncio.gather(*(submit(*j) for j in jobs))
        http_end = now()
        complete = await watch.wait(SUBMITTED, set(started) - failed, timeout=60 + n / 10)
        cpu = await meter.stop()
        await b.profiler.stop()
    seen = watch.seen[SUBMITTED]
    to_bus = [seen[s] - started[s] for s in started if s in seen]
    last = max(seen.values()) if seen else now()
    return {
        "events": n,
        "complete": complete,
        "errors": errors[:5],
        "error_count": len(errors),
        "per_s": round(len(seen) / (last - t0), 1) if seen else 0.0,
        "http_only_per_s": round((n - len(errors)) / (http_end - t0), 1),
        "http_submit_ms": latency_ms(latency),
        "submit_to_event_ms": latency_ms(to_bus),
        "cpu": cpu,
    }


async def stage_approvals(b: Bench, campaigns: list[str], n: int) -> dict[str, Any]:
    """Approvals alone: the FormSubmitted events waiting in its queues, to ReviewTaskOpened."""
    await b.start("notifications")
    await wait_drained(b.channel, ["notifications." + SUBMITTED])
    prefix = campaigns[0].rsplit("-", 1)[0]
    progress = b.db("approvals")["progress_g1"]

    async def progress_count() -> int:
        return sum([await progress.count_documents({"_id": {"$gte": c + ":", "$lt": c + ";"}}) for c in campaigns])

    async with Watch(b.amqp_url, {OPENED: by_subject(prefix)}) as watch:
        await b.start("approvals", wait=False)
        ready = asyncio.create_task(asyncio.to_thread(b.platform["approvals"].wait_ready, 60.0))
        while not watch.seen[OPENED]:
            if ready.done() and ready.exception():
                raise ready.exception()  # type: ignore[misc]
            await asyncio.sleep(0.005)
        meter = await b.meter(("approvals",))
        b.profile("approvals", ("approvals",))
        deadline = now() + 60 + n / 5
        while len(watch.seen[OPENED]) < n and now() < deadline:
            await asyncio.sleep(0.05)
        complete = len(watch.seen[OPENED]) >= n
        opened_at = now()
        while await progress_count() < n and now() < deadline:
            await asyncio.sleep(0.1)
        progress_done = now()
        cpu = await meter.stop()
        await b.profiler.stop()
        await ready
    seen = sorted(watch.seen[OPENED].values())
    return {
        "events": n,
        "complete": complete,
        "per_s": rate(seen),
        "seconds": round(seen[-1] - seen[0], 3),
        "progress_done_after_s": round(progress_done - seen[0], 2),
        "progress_lag_s": round(progress_done - opened_at, 2),
        "cpu": cpu,
    }


async def stage_notifications(b: Bench, campaign: str, units: list[Unit], n: int) -> dict[str, Any]:
    """Notifications alone: FormApproved (final) to a notice and an e-mail queued each."""
    await b.stop("forms", "approvals", "notifications")
    province = b.tree.supervisors[b.tree.provinces[0].unit_id]
    at = datetime.now(UTC)
    events = [
        FormApproved(
            task_id=f"{campaign}:{u.unit_id}:r1:l2",
            submission_id=f"{campaign}:{u.unit_id}",
            unit_id=u.unit_id,
            revision=1,
            level=2,
            final=True,
            approved_by=province.account_id,
            approved_at=at,
            campaign_id=campaign,
        )
        for u in units[:n]
    ]
    await publish(b.platform.broker_url("approvals"), events)  # type: ignore[arg-type]
    deliveries = b.db("notifications")["deliveries"]
    before = await deliveries.estimated_document_count()
    await b.start("notifications", wait=False)
    ready = asyncio.create_task(asyncio.to_thread(b.platform["notifications"].wait_ready, 60.0))
    while await deliveries.estimated_document_count() == before:
        await asyncio.sleep(0.02)
    first = now()
    meter = await b.meter(("notifications",))
    b.profile("notifications", ("notifications",))
    deadline = first + 60 + n / 5
    count = before
    while count < before + len(events) and now() < deadline:
        await asyncio.sleep(0.05)
        count = await deliveries.estimated_document_count()
    last = now()
    cpu = await meter.stop()
    await b.profiler.stop()
    await ready
    # forms and approvals must never see these: they describe no task or submission of theirs.
    for queue in ("forms." + APPROVED, "approvals." + APPROVED, "approvals.progress." + APPROVED):
        await (await b.channel.get_queue(queue, ensure=False)).purge()
    mail_t0 = now()
    mail_s = await mail_drained(b, timeout=120 + n / 5)
    await b.start("forms", "approvals")
    return {
        "events": n,
        "complete": count >= before + n,
        "per_s": round((n - 1) / (last - first), 1),
        "seconds": round(last - first, 3),
        "mail_drained_after_s": round(mail_s, 1),
        "mails_per_s": round(n / (now() - mail_t0), 1) if mail_s else None,
        "cpu": cpu,
    }


async def whole_flow(b: Bench, campaign: str, units: list[Unit], label: str) -> dict[str, Any]:
    """Submit -> district approval -> province confirmation -> unit notified (notice + e-mail queued)."""
    await b.start(*SERVICES)
    sem = asyncio.Semaphore(b.args.concurrency)
    started: dict[str, float] = {}
    submit_ms: list[float] = []
    decide_ms: list[float] = []
    errors: list[str] = []
    account_of = {f"{campaign}:{u.unit_id}": u.account_id for u in units}
    final_ids: dict[str, str] = {}  # submission -> the delivery id its final FormApproved makes
    notified: dict[str, float] = {}
    decisions: list[asyncio.Task[None]] = []

    async def call(url: str, body: dict[str, Any], headers: dict[str, str], expect: int, into: list[float]) -> None:
        async with sem:
            t0 = now()
            try:
                r = await b.http.post(url, json=body, headers=headers)
                ok, why = r.status_code == expect, f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                ok, why = False, repr(exc)
            (into.append(now() - t0) if ok else errors.append(why))

    async def submit(unit: Unit, i: int) -> None:
        sid = f"{campaign}:{unit.unit_id}"
        started[sid] = now()
        await call(
            b.url("forms") + "/submissions",
            {
                "campaign_id": campaign,
                "form_code": FORM_CODE,
                "unit_id": unit.unit_id,
                "answers": answers_for(i, unit.name),
            },
            b.unit_auth(unit),
            201,
            submit_ms,
        )

    def on_opened(key: str, body: dict[str, Any]) -> None:
        data = body["data"]
        decisions.append(
            asyncio.create_task(
                call(
                    f"{b.url('approvals')}/tasks/{data['task_id']}/approve",
                    {"revision": data["revision"]},
                    b.supervisor_auth(data["reviewer_unit_id"]),
                    200,
                    decide_ms,
                )
            )
        )

    def on_approved(key: str, body: dict[str, Any]) -> None:
        data = body["data"]
        if data["final"] and data["submission_id"] in account_of:
            final_ids[data["submission_id"]] = f"{body['id']}:{account_of[data['submission_id']]}:email"

    def task_key(body: dict[str, Any], _m: Any) -> str | None:
        return body["data"]["task_id"] if body["data"].get("campaign_id") == campaign else None

    deliveries = b.db("notifications")["deliveries"]

    async def poll_notified() -> None:
        while len(notified) < len(units):
            waiting = [s for s in final_ids if s not in notified]
            for start in range(0, len(waiting), 2000):
                chunk = {final_ids[s]: s for s in waiting[start : start + 2000]}
                t = now()
                async for doc in deliveries.find({"_id": {"$in": list(chunk)}}, {"_id": 1}):
                    notified[chunk[doc["_id"]]] = t
            await asyncio.sleep(0.2)

    names = tuple(SERVICES)
    async with Watch(b.amqp_url, {OPENED: task_key, APPROVED: task_key}) as watch:
        watch.on = {OPENED: on_opened, APPROVED: on_approved}
        meter = await b.meter(names)
        b.profile(label, names)
        loads = [load()]
        t0 = now()
        poller = asyncio.create_task(poll_notified())
        await asyncio.gather(*(submit(u, i) for i, u in enumerate(units)))
        http_end = now()
        try:
            await asyncio.wait_for(asyncio.shield(poller), timeout=120 + len(units) / 10)
        except TimeoutError:
            pass
        poller.cancel()
        await asyncio.gather(*decisions, return_exceptions=True)
        cpu = await meter.stop()
        await b.profiler.stop()
        loads.append(load())
    last = max(notified.values()) if notified else now()
    e2e = [notified[s] - started[s] for s in notified]
    mail_t0 = now()
    mail_s = await mail_drained(b, timeout=300 + len(units) / 5)
    return {
        "units": len(units),
        "complete": len(notified) == len(units),
        "notified": len(notified),
        "errors": errors[:5],
        "error_count": len(errors),
        "seconds": round(last - t0, 2),
        "per_s": round(len(notified) / (last - t0), 1) if notified else 0.0,
        "submit_phase_s": round(http_end - t0, 2),
        "http_submit_ms": latency_ms(submit_ms),
        "http_approve_ms": latency_ms(decide_ms),
        "submit_to_notified_ms": latency_ms(e2e),
        "mail_drained_after_s": round(mail_s, 1),
        "mails_per_s": round(2 * len(units) / (now() - mail_t0 + (last - t0)), 1),
        "load": loads,
        "cpu": cpu,
    }


# one data size ----------------------------------------------------------------------------------------
async def at_size(b: Bench, size: int) -> dict[str, Any]:
    b.label = f"u{size}"
    result: dict[str, Any] = {"units": size, "load_at_start": load()}
    print(f"[bench] {size} units: registering the tree and accounts ...", flush=True)
    result["setup"] = await grow(b, size)
    n = min(b.args.events, size * 4)
    units = b.tree.communes[:size]
    # Spread over the whole tree, so that a bigger tree is really used.
    step = max(1, size // min(n, size))
    picked = units[::step][:n] if n <= size else units
    k = -(-n // len(picked))
    tag = f"s{size}-{uuid.uuid4().hex[:4]}"
    forms_campaigns = [f"{tag}-forms-{i}" for i in range(k)]
    flow_campaign = f"{tag}-flow-0"
    for c in [*forms_campaigns, flow_campaign]:
        await open_campaign(b, c)
    await campaigns_known(b, [*forms_campaigns, flow_campaign])

    stages = b.args.stages
    if "bare" in stages:
        print(f"[bench] {size} units: bare FastStream, {b.args.bare_events} messages ...", flush=True)
        result["bare"] = await stage_bare(b, b.args.bare_events)
    if "forms" in stages:
        print(f"[bench] {size} units: forms, {n} submissions ...", flush=True)
        result["forms"] = await stage_forms(b, forms_campaigns, picked, n)
    if "approvals" in stages and "forms" in stages:
        print(f"[bench] {size} units: approvals ...", flush=True)
        result["approvals"] = await stage_approvals(b, forms_campaigns, n)
    if "notifications" in stages:
        print(f"[bench] {size} units: notifications ...", flush=True)
        result["notifications"] = await stage_notifications(b, f"{tag}-notify-0", picked, min(n, len(picked)))
    if "flow" in stages:
        flow_units = units[:: max(1, size // b.args.flow_units)][: b.args.flow_units]
        print(f"[bench] {size} units: whole flow, {len(flow_units)} units ...", flush=True)
        result["flow"] = await whole_flow(b, flow_campaign, flow_units, "flow")
    result["rss_mib"] = {
        name: round((proc_status(p, "VmRSS") or 0) / 1024, 1) for name, p in b.pids(*SERVICES).items() if p
    }
    result["load_at_end"] = load()
    add_cpu_per_event(result)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    admin_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    amqp_url = with_vhost(admin_url, f"moha-bench-{run_id}")
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    pem = new_signing_key()
    os.environ["TOKEN_SIGNING_KEYS"] = pem  # the platform's accounts signs with it; so does the bench
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, tz_aware=True, serverSelectionTimeoutMS=10_000)
    result: dict[str, Any] = {
        "run_id": run_id,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {
            k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items() if k not in ("json", "profile")
        },
        "machine": machine(),
    }
    result["machine"]["store"] = await store_version(mongo)
    suffix = f"_bench_{run_id}"
    log_dir = Path(tempfile.mkdtemp(prefix=f"moha-bench-{run_id}-"))
    result["log_dir"] = str(log_dir)
    smtp_port = free_port()
    smtp = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "bench.smtp_sink.Discard", "-l", f"127.0.0.1:{smtp_port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    platform = Platform(
        amqp_url=amqp_url,
        mongodb_url=mongodb_url,
        log_dir=log_dir,
        database_suffix=suffix,
        broker_user_prefix=f"bench{run_id}-",
        ports={name: free_port() for name in (*SERVICES, WEB)},
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": "Bench-Admin-Password-1",
            "LOG_LEVEL": args.log_level,
            "SMTP_PORT": str(smtp_port),
            **dict(e.split("=", 1) for e in args.env),
        },
    )
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(120.0),
        limits=httpx.Limits(max_connections=args.concurrency + 8, max_keepalive_connections=args.concurrency + 8),
    )
    b = Bench(
        args, platform, amqp_url, mongo, suffix, Tree(run_id[:5]), Tokens(pem), http, profiler=Profiler(args.profile)
    )
    connection = None
    try:
        print(f"[bench] run {run_id}: starting the platform (logs {log_dir}) ...", flush=True)
        await asyncio.to_thread(platform.start)
        platform[WEB].stop()  # nothing here asks the web front
        result["machine"]["broker"] = await broker_version(amqp_url)
        connection = await aio_pika.connect(amqp_url)
        b.channel = await connection.channel(publisher_confirms=True)
        result["sizes"] = []
        for size in args.sizes:
            result["sizes"].append(await at_size(b, size))
            print(report_size(result["sizes"][-1]), flush=True)
        if args.census:
            b.label = "census"
            print(f"[bench] census: the whole flow over all {len(b.tree.communes)} units ...", flush=True)
            tag = f"census-{uuid.uuid4().hex[:4]}"
            await open_campaign(b, tag)
            await campaigns_known(b, [tag])
            result["census"] = await whole_flow(b, tag, b.tree.communes, "census")
            result["census"]["load_at_end"] = load()
            c = result["census"]
            c["cpu_ms_per_unit"] = {
                "services": cpu_ms(c["cpu"], c["units"], *SERVICES),
                "store": cpu_ms(c["cpu"], c["units"], "store"),
                "broker": cpu_ms(c["cpu"], c["units"], "rabbitmq (beam.smp)"),
            }
    finally:
        print("[bench] stopping the platform ...", flush=True)
        with contextlib.suppress(Exception):
            await b.profiler.stop()
        await http.aclose()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        await asyncio.to_thread(platform.stop)
        smtp.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            smtp.wait(10)
        result["log_issues"] = log_issues(platform)
        await clean_up(platform, mongo, admin_url, suffix, keep_data=args.keep_data)
    return result


async def broker_version(url: str) -> str:
    connection = await aio_pika.connect(url)
    async with connection:
        return server_name(connection)


# the report ------------------------------------------------------------------------------------------
def _lat(d: dict[str, Any] | None) -> str:
    return f"p50 {d['p50']} / p99 {d['p99']} ms" if d and d.get("n") else "-"


def _cpu(c: dict[str, Any]) -> str:
    procs = sorted(c["processes"].items(), key=lambda kv: -kv[1]["cpu_s"])
    return ", ".join(f"{k.split(' ')[0]} {v['pct_of_one_core']:.0f}%" for k, v in procs if v["cpu_s"] >= 0.05)


def cpu_ms(c: dict[str, Any], n: int, *names: str) -> float:
    """CPU time per event of the named processes (all of the platform's if none named): steadier
    than a rate on a machine shared with others, who slow the rate but not the work per event."""
    procs = c["processes"]
    chosen = names or tuple(k for k in procs if k not in ("bench", "other (outside the platform)"))
    return round(1000 * sum(procs[k]["cpu_s"] for k in chosen if k in procs) / max(n, 1), 2)


def add_cpu_per_event(s: dict[str, Any]) -> None:
    for stage, own in (
        ("bare", "bare"),
        ("forms", "forms"),
        ("approvals", "approvals"),
        ("notifications", "notifications"),
    ):
        if stage not in s:
            continue
        st = s[stage]
        st["cpu_ms_per_event"] = {
            "own": cpu_ms(st["cpu"], st["events"], own),
            "store": cpu_ms(st["cpu"], st["events"], "store"),
            "broker": cpu_ms(st["cpu"], st["events"], "rabbitmq (beam.smp)"),
        }
    if "flow" not in s:
        return
    fl = s["flow"]
    fl["cpu_ms_per_unit"] = {
        "services": cpu_ms(fl["cpu"], fl["units"], *SERVICES),
        "store": cpu_ms(fl["cpu"], fl["units"], "store"),
        "broker": cpu_ms(fl["cpu"], fl["units"], "rabbitmq (beam.smp)"),
    }


def _ms(st: dict[str, Any], key: str = "cpu_ms_per_event") -> str:
    c = st.get(key)
    return "" if not c else " / ".join(f"{v}" for v in c.values()) + " ms CPU"


def report_size(s: dict[str, Any]) -> str:
    bare = (s.get("bare") or {}).get("per_s") or 0
    rows = [
        f"\n== {s['units']} units (load {' '.join(s['load_at_start'])} -> {' '.join(s.get('load_at_end', []))}); "
        f"setup {s['setup']['with_mail_s']} s",
        f"{'stage':<44}{'per s':>9}{'x bare':>8}  latency; CPU in % of one core",
    ]

    def line(label: str, st: dict[str, Any], detail: str) -> None:
        ratio = f"{st['per_s'] / bare:>8.2f}" if bare else f"{'-':>8}"
        rows.append(f"{label:<44}{st['per_s']:>9}{ratio}  {detail}")
        rows.append(f"{'':<61}{_cpu(st['cpu'])}")
        rows.append(f"{'  CPU per event (own / store / broker)':<61}{_ms(st)}")

    if "bare" in s:
        line("bare FastStream consume+republish (confirms)", s["bare"], "")
    if "forms" in s:
        f = s["forms"]
        line(
            "forms: submit -> FormSubmitted",
            f,
            f"HTTP {_lat(f['http_submit_ms'])}; to bus {_lat(f['submit_to_event_ms'])}; errors {f['error_count']}",
        )
    if "approvals" in s:
        a = s["approvals"]
        line(
            "approvals: FormSubmitted -> ReviewTaskOpened",
            a,
            f"progress read model done {a['progress_lag_s']} s after the last task",
        )
    if "notifications" in s:
        nt = s["notifications"]
        line("notifications: FormApproved -> notice+mail", nt, f"then e-mails sent at {nt['mails_per_s']}/s")
    if "flow" in s:
        fl = s["flow"]
        rows.append(
            f"{'whole flow: submit -> ... -> unit notified':<44}{fl['per_s']:>9}{'':>8}  "
            f"{fl['notified']}/{fl['units']} units; submit {_lat(fl['http_submit_ms'])}; approve "
            f"{_lat(fl['http_approve_ms'])}; end to end {_lat(fl['submit_to_notified_ms'])}; "
            f"errors {fl['error_count']}"
        )
        rows.append(f"{'':<61}{_cpu(fl['cpu'])}")
        rows.append(f"{'  CPU per unit (services / store / broker)':<61}{_ms(fl, 'cpu_ms_per_unit')}")
    rows.append(f"{'RSS after this size (MiB)':<44}  " + ", ".join(f"{k} {v}" for k, v in s["rss_mib"].items()))
    return "\n".join(rows)


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
        f"machine: {m['nproc']} CPU ({m['cpu']}), {m['mem_gib']} GiB, Python {m['python']}, load at start "
        f"{' '.join(m['loadavg_at_start'])}",
        f"broker / store: {m.get('broker')} / {m.get('store')}",
    ]
    sizes = r.get("sizes", [])
    for s in sizes:
        out.append(report_size(s))
    if len(sizes) > 1:
        out.append("\n== as the data grows (per s; change from the smallest size)")
        for key, label in (
            ("bare", "bare"),
            ("forms", "forms"),
            ("approvals", "approvals"),
            ("notifications", "notifications"),
            ("flow", "whole flow"),
        ):
            if any(key not in s for s in sizes):
                continue
            figures = [s[key]["per_s"] for s in sizes]
            change = " ".join(f"{100 * (x / figures[0] - 1):+.0f}%" if figures[0] else "-" for x in figures[1:])
            out.append(
                f"  {label:<16}"
                + "  ".join(f"{s['units']}: {x}" for s, x in zip(sizes, figures, strict=True))
                + f"   ({change})"
            )
        if all("forms" in s for s in sizes):
            out.append(
                f"  {'HTTP submit':<16}"
                + "  ".join(
                    f"{s['units']}: p50 {s['forms']['http_submit_ms'].get('p50')} / p99 "
                    f"{s['forms']['http_submit_ms'].get('p99')} ms"
                    for s in sizes
                )
            )
    c = r.get("census")
    if c:
        out.append(
            f"\n== census: {c['notified']}/{c['units']} units submitted, approved, confirmed and notified in "
            f"{c['seconds']} s ({c['per_s']}/s); submit {_lat(c['http_submit_ms'])}, approve "
            f"{_lat(c['http_approve_ms'])}, end to end {_lat(c['submit_to_notified_ms'])}; errors "
            f"{c['error_count']}; every e-mail sent {c['mail_drained_after_s']} s later; load {c['load']}"
        )
        out.append(
            f"   CPU: {_cpu(c['cpu'])} (machine busy {c['cpu']['machine_busy_pct']}% of {m['nproc']}); "
            f"per unit (services / store / broker): {_ms(c, 'cpu_ms_per_unit')}"
        )
    if r.get("log_issues"):
        out.append(
            "\nservice log lines (warning/error): "
            + ", ".join(f"{k} {v['warning']}/{v['error']}" for k, v in r["log_issues"].items())
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 10000, 32000],
        help="data sizes, in units (default 1000,10000,32000)",
    )
    parser.add_argument("--events", type=int, default=2000, help="events per platform stage")
    parser.add_argument("--bare-events", type=int, default=5000, help="messages through bare FastStream")
    parser.add_argument("--flow-units", type=int, default=1000, help="units in the whole flow at each size")
    parser.add_argument("--concurrency", "-c", type=int, default=32, help="HTTP requests in flight")
    parser.add_argument("--prefetch", type=int, default=32, help="bare FastStream's prefetch (the services' default)")
    parser.add_argument(
        "--stages",
        type=lambda s: set(s.split(",")),
        default={"bare", "forms", "approvals", "notifications", "flow"},
        help="which stages to run at each size (approvals needs forms)",
    )
    parser.add_argument(
        "--no-census",
        dest="census",
        action="store_false",
        help="skip the whole flow over every unit after the largest size",
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy every service of every stage into DIR")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for every service (repeatable)")
    parser.add_argument("--log-level", default="warning", help="LOG_LEVEL of the services")
    parser.add_argument("--keep-data", action="store_true", help="keep the run's databases")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "stages.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # The load generator on the services' own event loop: what it spends is taken from the platform.
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(run(args))
    print()
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\n[bench] figures written to {args.json}")
    if args.profile:
        print(f"[bench] profiles in {args.profile}: python -m bench.profile {args.profile}/*.txt")


if __name__ == "__main__":
    main()
