"""Traces across HTTP and the bus (issue #16, decision 0017): with OTLP export configured, one
submission's path is one trace, from forms' HTTP request through the events it causes to the
consumers in approvals and notifications; each event's envelope carries the trace beside its
correlation id."""

import uuid

import pytest

from tests.support.events import EventTap
from tests.support.otlp import OtlpReceiver
from tests.support.platform import Client, eventually
from tests.support.platforms import ADMIN_PASSWORD, separate_platform
from tests.support.workload import build_province, login, open_campaign, submit

pytestmark = pytest.mark.e2e
SERVER, CONSUMER = 2, 5  # OTLP span kinds


@pytest.fixture
def traced(broker_admin_url, mongo_url, run_id, tmp_path):
    with (
        OtlpReceiver() as receiver,
        separate_platform(
            "traced",
            broker_admin_url,
            mongo_url,
            run_id,
            tmp_path,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="200",
            LOG_LEVEL="debug",
        ) as (platform, _smtp),
    ):  # "event handled" is a debug line
        platform.start(("accounts", "forms", "approvals", "notifications"))
        yield platform, receiver


async def test_one_submission_is_one_trace_across_the_services(traced):
    platform, receiver = traced
    client = Client(platform)
    admin = client.admin_auth = login(client, "admin", ADMIN_PASSWORD)
    p = build_province(client, admin, uuid.uuid4().hex[:5], districts=1, communes=1)
    open_campaign(client, admin, p)
    async with EventTap(platform.amqp_url, "#") as tap:
        code = next(iter(p.usernames))
        submit(client, p, code)
        submitted, _ = await tap.wait_for("forms.submission.submitted.v1", subject=p.submissions[code])
        opened, _ = await tap.wait_for("approvals.review_task.opened.v1")
    # The envelope carries the trace of the request that committed it, beside its correlation id.
    assert submitted.traceparent is not None
    trace_id = submitted.traceparent.split("-")[1]
    assert opened.traceparent.split("-")[1] == trace_id  # caused by it, in approvals: the same trace
    assert opened.correlationid == submitted.correlationid

    def spans():
        # Each process exports its spans in its own batches: wait until every one asserted on is in.
        found = receiver.of_trace(trace_id)
        by_service = {}
        for span in found:
            by_service.setdefault(span.service, []).append(span)
        whole = (
            any(s.kind == SERVER and s.name == "POST /submissions" for s in by_service.get("forms", []))
            and any(s.kind == CONSUMER for s in by_service.get("approvals", []))
            and any(s.kind == CONSUMER for s in by_service.get("notifications", []))
        )
        return whole and found

    # The request in forms, the handling of its event in approvals and notifications, all linked.
    found = eventually(spans, timeout=30)
    # The log lines written while handling it name the trace too.
    assert f'"trace_id": "{trace_id}"' in platform["approvals"].log_path.read_text()
    ids = {s.span_id for s in found}
    roots = [s for s in found if not s.parent_id or s.parent_id not in ids]
    assert len(roots) == 1 and roots[0].service == "forms", [(s.service, s.name) for s in roots]
