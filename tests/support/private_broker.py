"""A RabbitMQ node of a test's own, on free loopback ports, for tests that stop and start the broker
(tests/e2e/test_broker_outage.py): stopping the shared node would cut every other run and a demo
on this machine off their broker. Needs the native stack's RabbitMQ installation and root (the
Debian wrapper runs the node as user `rabbitmq`), as deploy/local/stack.sh does."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.launch import free_port

# The stack's env file: it raises the node's descriptor limit (see deploy/local/stack.sh).
ENV_FILE = Path("/etc/rabbitmq/moha-env.conf")


def available() -> bool:
    return shutil.which("rabbitmq-server") is not None and shutil.which("rabbitmqctl") is not None and os.geteuid() == 0


@dataclass
class PrivateBroker:
    node: str
    amqp_url: str  # the node's default administrator (guest, loopback only)
    management_url: str

    def ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.node, *args], check=True, capture_output=True, timeout=timeout)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup")


@contextlib.contextmanager
def private_broker(start_timeout: float = 120) -> Iterator[PrivateBroker]:
    node = f"moha-test-{uuid.uuid4().hex[:8]}@{socket.gethostname().split('.')[0]}"
    amqp, dist, management = free_port(), free_port(), free_port()
    base = Path(tempfile.mkdtemp(prefix="moha-rabbit-"))
    (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
    shutil.chown(base, "rabbitmq", "rabbitmq")
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
            f'-rabbitmq_management tcp_config [{{ip,"127.0.0.1"}},{{port,{management}}}]'
        ),
    }
    if ENV_FILE.exists():
        env["RABBITMQ_CONF_ENV_FILE"] = str(ENV_FILE)
    subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, capture_output=True, timeout=60)
    broker = PrivateBroker(node, f"amqp://guest:guest@127.0.0.1:{amqp}/", f"http://127.0.0.1:{management}")
    try:
        # -detached returns before the node registers: await_startup refuses a node not yet known.
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                broker.ctl("await_startup", "--timeout", "10", timeout=30)
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in (base / "log").glob("*.log"))
                    raise RuntimeError(f"private RabbitMQ node {node} did not start; log:\n{logs}") from None
                time.sleep(1)
        yield broker
    finally:
        with contextlib.suppress(Exception):
            broker.ctl("shutdown", timeout=60)
        shutil.rmtree(base, ignore_errors=True)
