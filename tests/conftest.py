import contextlib
import uuid

import pytest

from tests.support.infra import HOW_TO_START, mongodb_url, rabbitmq_url


@pytest.fixture(scope="session")
def amqp_url():
    with rabbitmq_url() as url:
        if url is None:
            pytest.fail(HOW_TO_START, pytrace=False)
        yield url


@pytest.fixture(scope="session")
def mongo_url():
    with mongodb_url() as url:
        if url is None:
            pytest.fail(HOW_TO_START, pytrace=False)
        yield url


@pytest.fixture(scope="session")
def run_id() -> str:
    """Keeps this run's databases apart from any other run's on the same server."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def mongo_client(mongo_url):
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client
    with contextlib.suppress(Exception):
        await client.close()
