"""Prometheus metrics every service exposes at `/metrics` (decision 0017): HTTP requests by route and
status with their latency, events handled per queue and what became of them, the outbox, the
catch-up from the event history. Services add their own here (mails, sign-in failures), so that
every name the dashboard (deploy/grafana/moha.json) reads is in one place.

Each metric carries the service's name as a label: replicas of one service are told apart by the
scraper's `instance`, services by `service`, whatever the scrape configuration adds.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

_service = "service"

# Latency buckets (seconds): from a cached read to a sheet's import.
LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

http_requests = Counter(
    "moha_http_requests_total",
    "HTTP requests answered, by route template and status",
    ["service", "method", "route", "status"],
)
http_latency = Histogram(
    "moha_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["service", "method", "route"],
    buckets=LATENCY,
)
events = Counter(
    "moha_events_total",
    "Events delivered to a consumer, by queue, by what became of them (handled, duplicate, retried, "
    "dead_lettered) and where they came from (queue, history)",
    ["service", "queue", "outcome", "source"],
)
event_latency = Histogram(
    "moha_event_handling_seconds",
    "Time to handle and settle one event, by queue",
    ["service", "queue"],
    buckets=LATENCY,
)
outbox_depth = Gauge("moha_outbox_depth", "Commits whose events are not published yet (outbox markers)", ["service"])
outbox_oldest = Gauge(
    "moha_outbox_oldest_age_seconds", "Age of the oldest commit whose events are not published yet", ["service"]
)
outbox_published = Counter("moha_outbox_published_total", "Events published by the outbox relay", ["service"])
caught_up = Gauge(
    "moha_caught_up", "1 once the service has read from the event history what its queues never held", ["service"]
)
catch_up_events = Counter(
    "moha_catch_up_events_total", "Events read from the event history while catching up", ["service"]
)
mails = Counter(
    "moha_mails_total",
    "E-mails by what became of them: queued, sent, retried (a failed attempt that "
    "will be tried again), failed (given up)",
    ["service", "outcome"],
)
mail_queue = Gauge("moha_mail_queue_depth", "E-mails waiting to be sent", ["service"])
sign_in_failures = Counter("moha_sign_in_failures_total", "Refused sign-ins, by reason", ["service", "reason"])


def set_service(name: str) -> None:
    """The service this process is: the label every metric carries."""
    global _service
    _service = name
    caught_up.labels(name).set(0)


def service() -> str:
    return _service


def event_handled(queue: str, outcome: str, source: str, seconds: float) -> None:
    events.labels(_service, queue, outcome, source).inc()
    event_latency.labels(_service, queue).observe(seconds)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class HttpMetrics:
    """ASGI middleware: every request counted by its route's template (`/tasks/{task_id}`, never the
    path itself, which would make a series per id) and status, and timed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            http_requests.labels(_service, method, route, str(status)).inc()
            http_latency.labels(_service, method, route).observe(time.perf_counter() - started)
