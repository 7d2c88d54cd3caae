"""The broker goes away mid-flow and comes back: nothing submitted meanwhile is lost, and every
service's consumers resume. Needs a broker this machine controls (the native stack)."""

import os
import shutil
import subprocess
import time
from urllib.parse import urlparse

import pytest

from tests.e2e.test_flow import open_task_for, submission, submit
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def local_broker_control() -> bool:
    host = urlparse(os.environ.get("AMQP_URL", "")).hostname
    return host in ("127.0.0.1", "localhost") and shutil.which("rabbitmqctl") is not None and os.geteuid() == 0


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(not local_broker_control(), reason="needs the native stack's broker (rabbitmqctl, loopback)")
def test_broker_stopped_and_started_loses_nothing(platform, client, district):
    rabbitmqctl("stop_app")
    try:
        # The broker is down, yet the unit's submission is accepted: it waits in forms' outbox.
        response = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="outage-test")
        assert response.status_code == 201, response.text
        sid = response.json()["submission_id"]
        time.sleep(2)
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

    task = open_task_for(client, district["supervisor_auth"], sid, 1, timeout=60)
    decision = client.approvals.post(
        f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
    )
    assert decision.status_code == 200
    # Forms' consumers came back too.
    eventually(lambda: submission(client, district["a_auth"], sid)["status"] == "approved", timeout=60)
    for service in platform.services.values():
        assert client.http[service.name].get("/health/ready").status_code == 200
