"""The Grafana dashboard (deploy/grafana/moha.json) reads only metrics the services define, and has a
panel for each thing the operators asked to see (decision 0017)."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import chassis.metrics  # noqa: F401 - registers the platform's metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "moha.json"


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_platform_metric_the_dashboard_reads_is_defined():
    defined = set(REGISTRY._names_to_collectors)  # every sample name: _total, _bucket, _count...
    used = {name for expr in expressions() for name in re.findall(r"\bmoha_[a-z_]+", expr)}
    assert used and used <= defined, used - defined


def test_it_shows_throughput_latency_queues_outbox_and_failures():
    text = " ".join(expressions())
    for needle in (
        "moha_http_requests_total",
        "moha_http_request_duration_seconds_bucket",
        "moha_event_handling_seconds_bucket",
        'outcome="handled"',
        "rabbitmq_detailed_queue_messages_ready",
        "moha_outbox_depth",
        "moha_outbox_oldest_age_seconds",
        "retried|dead_lettered",
        "moha_mails_total",
        "moha_sign_in_failures_total",
        'status=~"5.."',
        "moha_caught_up",
    ):
        assert needle in text, needle
