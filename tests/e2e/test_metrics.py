"""Every service exposes Prometheus metrics at /metrics (issue #16, decision 0017): HTTP requests by
route template and status with their latency, events per queue and what became of them (handled,
retried, dead-lettered) with their handling time, the outbox, mail, sign-in failures, catch-up."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moha_contracts import Envelope, FormApproved, FormSubmitted
from tests.e2e.test_flow import open_task_for, submit
from tests.support.events import publish_as
from tests.support.platform import TLS, eventually

pytestmark = pytest.mark.e2e
SERVICES = ("accounts", "forms", "approvals", "notifications")


def scrape(platform, service: str) -> dict[tuple[str, tuple], float]:
    response = httpx.get(platform[service].url + "/metrics", timeout=10, verify=TLS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_each_service_counts_its_requests_events_and_outbox(platform, client, district, smtp_server):
    sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="metrics").json()["submission_id"]
    task = open_task_for(client, district["supervisor_auth"], sid, 1)
    client.approvals.post(
        f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
    )
    smtp_server.wait_for(district["account_a"]["username"] + "@example.vn", template="form_approved")
    for service in SERVICES:
        samples = scrape(platform, service)
        assert value(samples, "moha_caught_up", service=service) == 1
        # By the route's template, never the path with its ids.
        assert value(samples, "moha_http_requests_total", service=service, route="/health/ready", status="200") > 0
        assert not any("route" in dict(ls) and sid in dict(ls)["route"] for (_, ls) in samples)
        assert value(samples, "moha_http_request_duration_seconds_count", service=service) > 0
        assert ("moha_outbox_depth", (("service", service),)) in samples
        assert ("moha_outbox_oldest_age_seconds", (("service", service),)) in samples
    approvals = scrape(platform, "approvals")
    queue = "approvals.forms.submission.submitted.v1"
    assert value(approvals, "moha_events_total", queue=queue, outcome="handled") >= 1
    assert value(approvals, "moha_event_handling_seconds_count", queue=queue) >= 1
    assert value(approvals, "moha_http_requests_total", route="/tasks/{task_id}/approve", status="200") >= 1
    forms = scrape(platform, "forms")
    assert value(forms, "moha_outbox_published_total") >= 1
    # FastStream's middleware: what was published, by exchange and routing key.
    assert (
        value(
            forms,
            "faststream_published_messages_total",
            destination="moha.events.forms.submission.submitted.v1",
            status="success",
        )
        >= 1
    )
    notifications = scrape(platform, "notifications")
    assert value(notifications, "moha_mails_total", outcome="queued") >= 1
    assert value(notifications, "moha_mails_total", outcome="sent") >= 1
    assert ("moha_mail_queue_depth", (("service", "notifications"),)) in notifications


def test_sign_in_failures_are_counted(platform, client, district):
    before = value(scrape(platform, "accounts"), "moha_sign_in_failures_total", reason="wrong_password")
    response = client.accounts.post(
        "/auth/token", json={"username": district["account_b"]["username"], "password": "not-the-password-1A!"}
    )
    assert response.status_code == 401
    assert value(scrape(platform, "accounts"), "moha_sign_in_failures_total", reason="wrong_password") == before + 1


async def test_retried_and_dead_lettered_events_are_counted(platform, district, amqp_url):
    queue = "approvals.forms.submission.submitted.v1"
    before = scrape(platform, "approvals")
    # From forms' own user, about a campaign approvals never heard of: retried until it gives up.
    unknown = Envelope.wrap(
        FormSubmitted(
            submission_id=f"m-{uuid.uuid4().hex[:6]}",
            campaign_id=f"never-{uuid.uuid4().hex[:6]}",
            form_code="1/HC-TB",
            unit_id=district["unit_a"]["unit_id"],
            revision=1,
            submitted_by="x",
            submitted_at=datetime.now(UTC),
            answers={},
        )
    )
    await publish_as(
        platform.broker_url("forms"), unknown.model_dump_json().encode(), unknown.routing_key, message_id=unknown.id
    )
    # From the broker's administrator: not trusted, dead-lettered at once.
    forged = Envelope.wrap(
        FormApproved(
            task_id="t",
            submission_id="s",
            unit_id=district["unit_a"]["unit_id"],
            revision=1,
            level=1,
            final=True,
            approved_by="x",
            approved_at=datetime.now(UTC),
        )
    )
    await publish_as(amqp_url, forged.model_dump_json().encode(), forged.routing_key, message_id=forged.id)
    eventually(
        lambda: (
            value(scrape(platform, "approvals"), "moha_events_total", queue=queue, outcome="retried")
            > value(before, "moha_events_total", queue=queue, outcome="retried")
        )
    )
    eventually(
        lambda: (
            value(
                scrape(platform, "approvals"),
                "moha_events_total",
                queue="approvals.approvals.form.approved.v1",
                outcome="dead_lettered",
            )
            > value(before, "moha_events_total", queue="approvals.approvals.form.approved.v1", outcome="dead_lettered")
        )
    )
