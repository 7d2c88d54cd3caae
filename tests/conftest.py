import contextlib
import os
import uuid

import pytest

from chassis.logging import configure as configure_logging
from chassis.messaging import broker_user
from deploy.rabbitmq.provision import Management, with_vhost
from tests.support.infra import HOW_TO_START, mongodb_url, rabbitmq_url

# Apps run in this process (TestClient, the in-memory store) log as the services do: JSON, frames
# without their values. Unconfigured, structlog's console renderer drew each traceback with rich,
# locals and all: seconds per unhandled error, and the values the services never log.
configure_logging("tests", "info")


@pytest.fixture(scope="session")
def run_id() -> str:
    """Keeps this run's databases and broker vhost apart from any other run's, or a demo's."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def broker_admin_url():
    """An administrator's URL for the broker (AMQP_URL): it makes this run's vhost and users."""
    with rabbitmq_url() as url:
        if url is None:
            pytest.fail(HOW_TO_START, pytrace=False)
        yield url


@pytest.fixture(scope="session")
def amqp_url(broker_admin_url, run_id):
    """The administrator on a vhost of this run's own, with the platform's exchanges and event
    history, deleted at the end: two runs and a demo on one broker never see each other's queues."""
    vhost = f"moha-test-{run_id}"
    with Management(broker_admin_url) as api:
        api.ensure_vhost(vhost)
        api.grant_all(broker_user(broker_admin_url), vhost)
        api.declare_topology(vhost)
        try:
            yield with_vhost(broker_admin_url, vhost)
        finally:
            api.delete_vhost(vhost)


@pytest.fixture(scope="session")
def mongo_url(run_id):
    """The store; at the end, every database this run made (their names carry the run's id) is
    dropped, so runs do not pile databases up on a shared store. KEEP_TEST_DATA=1 keeps them."""
    with mongodb_url() as url:
        if url is None:
            pytest.fail(HOW_TO_START, pytrace=False)
        yield url
        if os.environ.get("KEEP_TEST_DATA") != "1":
            from pymongo import MongoClient

            with contextlib.suppress(Exception), MongoClient(url, serverSelectionTimeoutMS=10_000) as client:
                for name in client.list_database_names():
                    if run_id in name:
                        client.drop_database(name)


@pytest.fixture
async def mongo_client(mongo_url):
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client
    with contextlib.suppress(Exception):
        await client.close()
