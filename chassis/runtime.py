"""One service process: the HTTP API, the event consumers and the outbox relay, started and
stopped together. `bootstrap.py` of each service builds a Runtime; `__main__.py` serves it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import uvicorn
import uvloop
from fastapi import APIRouter, FastAPI, Response

from . import metrics, tracing
from .audit import AuditChain
from .auth import TokenVerifier
from .catchup import CatchUp
from .http import create_app
from .inbox import Inbox
from .logging import configure, get_logger
from .messaging import ConsumerConfig, EventConsumers, broker_user, make_broker
from .outbox import OutboxRelay
from .server import Server
from .sessions import SessionDirectory
from .settings import KEEP_ALIVE_SECONDS, ServiceSettings
from .store import Store
from .tree import UnitDirectory

log = get_logger("chassis.runtime")


class Runtime:
    def __init__(self, settings: ServiceSettings, *, verify_tokens: bool = True) -> None:
        self.settings = settings
        # Before the broker: its middleware carries traces only if they are on.
        tracing.configure(settings.service_name, settings.otel_traces_exporter)
        self.store = Store(settings.mongodb_url, settings.database)
        self.broker = make_broker(settings.amqp_url, prefetch=settings.prefetch, service=settings.service_name)
        self.consumers = EventConsumers(
            self.broker,
            ConsumerConfig(
                service=settings.service_name,
                user=broker_user(settings.amqp_url),
                publishers=settings.broker_users,
                delivery_limit=settings.delivery_limit,
                max_retries=settings.max_retries,
                retry_delay_ms=settings.retry_delay_ms,
            ),
            Inbox(self.store),
        )
        # The service's audit chain: the relay appends each commit's entry (chassis/audit.py).
        self.audit = AuditChain(self.store)
        self.relay = OutboxRelay(
            self.store,
            self.broker,
            user_id=broker_user(settings.amqp_url),
            poll_seconds=settings.relay_poll_seconds,
            grace_seconds=settings.relay_grace_seconds,
            batch=settings.relay_batch,
            chain=self.audit,
        )
        self.verifier = (
            TokenVerifier(settings.jwks_url, issuer=settings.token_issuer, audience=settings.token_audience)
            if verify_tokens
            else None
        )
        self.units = UnitDirectory(self.store)
        self.sessions = SessionDirectory(self.store)
        if verify_tokens:
            # Every service that accepts tokens learns of revoked accounts; see sessions.py.
            self.sessions.subscribe(self.consumers)
        self.catch_up = CatchUp(self.store, self.consumers, settings.amqp_url)
        self.caught_up = False
        self.startup: list[Callable[[], Awaitable[Any]]] = [self.store.create_indexes, self.audit.create_indexes]
        # Started once the service has caught up from the event history (the relay at once).
        self.background: list[Callable[[], Coroutine[Any, Any, Any]]] = []
        metrics.set_service(settings.service_name)

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {}
        try:
            checks["store"] = await asyncio.wait_for(self.store.ping(), 2.0)
        except Exception:  # noqa: BLE001
            checks["store"] = False
        checks["broker"] = await self.broker.ping(timeout=2.0)
        # Not ready while catching up from the event history: its read models are not whole yet. An
        # HTTP-only process waits for its service's consumers to have caught up (their records).
        if self.settings.service_role == "http":
            try:
                checks["caught_up"] = not await asyncio.wait_for(self.catch_up.pending(), 2.0)
            except Exception:  # noqa: BLE001
                checks["caught_up"] = False
            return checks
        checks["caught_up"] = self.caught_up
        checks["consumers"] = self.caught_up and await self.consuming()
        return checks

    async def consuming(self) -> bool:
        """Every subscriber holds a consumer on an open channel, and the broker has not cancelled it
        (a queue deleted from under it, a node lost: the channel stays open, the consumer is gone).
        After a reconnect, consumers have also been seen not to come back (faststream 2758,
        aio-pika 231/632): then the service must say it is not ready, so the orchestrator restarts
        it rather than leave events waiting."""
        for subscriber in self.broker.subscribers:
            queue = getattr(subscriber, "_queue_obj", None)
            tag = getattr(subscriber, "_consumer_tag", None)
            if queue is None or tag is None or queue.channel.is_closed:
                return False
            try:
                underlay = await queue.channel.get_underlay_channel()
            except Exception:  # noqa: BLE001 - not open (yet, or any more)
                return False
            if tag not in underlay.consumers:
                return False
        return True

    def app(self, title: str, *routers: APIRouter) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            async with self.running():
                yield

        app = create_app(
            title,
            verifier=self.verifier,
            max_body_bytes=self.settings.max_body_bytes,
            readiness=self.readiness,
            lifespan=lifespan,
            docs=self.settings.api_docs,
        )
        for router in routers:
            app.include_router(router)

        @app.get("/metrics", include_in_schema=False)
        async def prometheus() -> Response:
            """Prometheus' scrape (decision 0017): on the service's own port, like its health."""
            body, content_type = metrics.exposition()
            return Response(body, media_type=content_type)

        if tracing.enabled():
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

            FastAPIInstrumentor.instrument_app(app, excluded_urls="/health/,/metrics")
        # Outermost: it sees every answer, the shell's own errors included.
        app.add_middleware(metrics.HttpMetrics)
        app.state.runtime = self
        app.state.sessions = self.sessions
        app.state.trust_forwarded_for = self.settings.trust_forwarded_for
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        for hook in self.startup:
            await hook()
        await self.broker.connect()
        # The queues exist and are bound before anything is read: from here on nothing is missed.
        await self.consumers.declare()
        tasks = [asyncio.create_task(self.relay.run(), name="relay")]
        if self.settings.service_role != "http":
            tasks.append(asyncio.create_task(self._follow(tasks), name="follow"))
        else:
            log.info("service started, HTTP only")
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.broker.stop()
            await self.store.close()
            tracing.shutdown()
            log.info("service stopped")

    async def _follow(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Catch up from the event history, then consume the queues and start the background jobs
        (reminders, mail: they act on read models, which must be whole first)."""
        while True:
            try:
                await self.catch_up.run()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or store away: the inbox makes a second try safe
                log.warning("catching up from the event history failed, will try again", error=str(exc)[:300])
                await asyncio.sleep(2.0)
        await self.broker.start()
        self.caught_up = True
        metrics.caught_up.labels(self.settings.service_name).set(1)
        tasks += [asyncio.create_task(job(), name=getattr(job, "__qualname__", "job")) for job in self.background]
        log.info("service started", consumers=[c.queue for c in self.consumers.consumers])


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop every process of the platform runs on (the benchmark's bare stage too):
    uvloop's, which spends far less CPU per socket operation than the standard library's, and a
    service is mostly socket operations (HTTP, the broker, the store)."""
    return uvloop.new_event_loop()


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    configure(settings.service_name, settings.log_level)
    # HTTP parsed by httptools (C) rather than h11 (pure Python).
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        http="httptools",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(Server(config).serve())
