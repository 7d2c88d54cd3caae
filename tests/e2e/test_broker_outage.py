"""The broker goes away mid-flow and comes back: nothing submitted meanwhile is lost, and every
service's consumers resume. The broker stopped is a node of this test's own, with a platform of its
own on it (tests/support/private_broker.py): stopping the shared node would cut every other test
run and a demo on this machine off their broker."""

import time

import pytest

from chassis.messaging import broker_user
from deploy.launch import SERVICES, WEB, Platform, free_port
from deploy.rabbitmq.provision import Management, with_vhost
from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.test_flow import open_task_for, submission, submit
from tests.support import private_broker
from tests.support.platform import Client, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def broker():
    with private_broker.private_broker() as node, pytest.MonkeyPatch.context() as env:
        # The launcher and the provisioning find the management API of this node, not the shared one.
        env.setenv("RABBITMQ_MANAGEMENT_URL", node.management_url)
        yield node


@pytest.fixture(scope="module")
def platform(broker, mongo_url, run_id, smtp_server, tmp_path_factory):
    """The same platform as every e2e test's, on the private node."""
    vhost = f"moha-outage-{run_id}"
    with Management(broker.amqp_url, broker.management_url) as api:
        api.ensure_vhost(vhost)
        api.grant_all(broker_user(broker.amqp_url), vhost)
        api.declare_topology(vhost)
    running = Platform(
        amqp_url=with_vhost(broker.amqp_url, vhost),
        broker_user_prefix=f"o{run_id}-",
        mongodb_url=mongo_url,
        log_dir=tmp_path_factory.mktemp("outage-logs"),
        database_suffix=f"_outage_{run_id}",
        ports={name: free_port() for name in (*SERVICES, WEB)},
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SMTP_PORT": str(smtp_server.port),
            "RETRY_DELAY_MS": "300",
            "TOKEN_TTL_SECONDS": "7200",
            "FAULTS": "hashes-asleep",
        },
        wrapper="tests.support.faults",
    )
    running.start()
    yield running
    running.stop()
    running.remove_broker_users()


@pytest.fixture(scope="module")
def client(platform) -> Client:
    return Client(platform)


@pytest.mark.skipif(not private_broker.available(), reason="needs the native stack's RabbitMQ and root")
def test_broker_stopped_and_started_loses_nothing(broker, platform, client, district):
    broker.stop_app()
    try:
        # The broker is down, yet the unit's submission is accepted: it waits in forms' outbox.
        response = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="outage-test")
        assert response.status_code == 201, response.text
        sid = response.json()["submission_id"]
        time.sleep(2)
    finally:
        broker.start_app()

    task = open_task_for(client, district["supervisor_auth"], sid, 1, timeout=60)
    decision = client.approvals.post(
        f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
    )
    assert decision.status_code == 200
    # Forms' consumers came back too.
    eventually(lambda: submission(client, district["a_auth"], sid)["status"] == "approved", timeout=60)
    # Every service ready again: each reconnects on its own schedule, so wait for it.
    for service in platform.services.values():
        eventually(lambda s=service: client.http[s.name].get("/health/ready").status_code == 200, timeout=60)
