"""A platform of a test's own, on a vhost and databases of its own, beside the session's platform."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from chassis.messaging import broker_user
from deploy.launch import Platform, free_port
from deploy.rabbitmq.provision import Management, with_vhost
from tests.support.smtp import SmtpServer

ADMIN_PASSWORD = "E2e-Admin-Password-1"


@contextlib.contextmanager
def separate_platform(
    name: str,
    broker_admin_url: str,
    mongo_url: str,
    run_id: str,
    log_dir: Path,
    replicas: dict[str, int] | None = None,
    **env: str,
) -> Iterator[tuple[Platform, SmtpServer]]:
    """Not started: the test starts what it needs (`platform.start()`, or some services). Services
    start through tests/support/faults.py with accounts' hashes asleep; a FAULTS entry in `env`
    injects more."""
    vhost = f"moha-test-{run_id}-{name}"
    with Management(broker_admin_url) as api:
        api.ensure_vhost(vhost)
        api.grant_all(broker_user(broker_admin_url), vhost)
    smtp = SmtpServer(free_port())
    smtp.start()
    platform = Platform(
        amqp_url=with_vhost(broker_admin_url, vhost),
        mongodb_url=mongo_url,
        log_dir=log_dir / name,
        broker_user_prefix=f"t{run_id}{name}-",
        database_suffix=f"_{name}_{run_id}",
        ports={n: free_port() for n in ("web", "accounts", "forms", "approvals", "notifications")},
        replicas=replicas or {},
        wrapper="tests.support.faults",
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SMTP_PORT": str(smtp.port),
            "RETRY_DELAY_MS": "300",
            "MAIL_RETRY_BASE_SECONDS": "0.2",
            "MAIL_RETRY_MAX_SECONDS": "1",
            "LOG_LEVEL": "info",
            **env,
            "FAULTS": ",".join(filter(None, ("hashes-asleep", env.get("FAULTS")))),
        },
    )
    try:
        yield platform, smtp
    finally:
        platform.stop()
        smtp.stop()
        platform.remove_broker_users()
        with Management(broker_admin_url) as api:
            api.delete_vhost(vhost)
