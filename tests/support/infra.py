"""Where the tests find a broker and a store: AMQP_URL / MONGODB_URL when set, containers when a
Docker engine answers, otherwise a clear message on how to start the native stack."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

HOW_TO_START = (
    "No broker/store for the integration tests. Either\n"
    "  - start the native stack:  bash deploy/local/stack.sh up\n"
    "    then export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ MONGODB_URL=mongodb://127.0.0.1:27017/\n"
    "    (AMQP_URL is an administrator's: each run makes a vhost and users of its own through RabbitMQ's\n"
    "    management API, RABBITMQ_MANAGEMENT_URL, by default port 15672 of AMQP_URL's host)\n"
    "  - or run a Docker engine, and testcontainers will start RabbitMQ and MongoDB by itself."
)


def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means no usable engine
        return False


@contextlib.contextmanager
def rabbitmq_url() -> Iterator[str | None]:
    if url := os.environ.get("AMQP_URL"):
        yield url
        return
    if not docker_available():
        yield None
        return
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
        host = rabbit.get_container_host_ip()
        # The fixtures make a vhost and users per run through the management API.
        os.environ["RABBITMQ_MANAGEMENT_URL"] = f"http://{host}:{rabbit.get_exposed_port(15672)}"
        yield f"amqp://guest:guest@{host}:{rabbit.get_exposed_port(5672)}/"


@contextlib.contextmanager
def mongodb_url() -> Iterator[str | None]:
    if url := os.environ.get("MONGODB_URL"):
        yield url
        return
    if not docker_available():
        yield None
        return
    from testcontainers.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:7.0") as mongo:
        yield mongo.get_connection_url()
