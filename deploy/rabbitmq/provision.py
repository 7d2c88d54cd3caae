"""Who may do what on the broker (decision 0008), applied through RabbitMQ's management API or
written out as a definitions file.

Each service has a user of its own. It may publish on `moha.events` only the routing keys that
begin with its name (a topic permission), it declares and reads only queues named after itself,
and every message it publishes carries its user in `user_id`, which RabbitMQ checks against the
connection's user: so a consumer knows who published an event from the message itself. A subscriber
(another ministry) may read the exchange into queues named with its prefix and publish nothing.
The exchanges are declared here, by the operator, not by the services, and so is the event history:
a stream bound to the events exchange with every routing key, kept by age and size
(`HISTORY_MAX_AGE`, `HISTORY_MAX_BYTES`), which services and subscribers may read and nobody may
write into but that binding (decision 0017).

    python -m deploy.rabbitmq.provision apply --admin-url amqp://admin:…@host:5672/ --vhost moha
    python -m deploy.rabbitmq.provision definitions --vhost / > definitions.json

Passwords come from the environment (`BROKER_PASSWORD_<SERVICE>`, `BROKER_PASSWORD_<SUBSCRIBER>`)
or are generated and printed once.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from deploy.tls import client_tls

EVENTS_EXCHANGE = "moha.events"
DEAD_LETTER_EXCHANGE = "moha.dead-letter"
# The event history (a stream): every event published on moha.events, in order, for replay.
HISTORY_STREAM = "moha.events.history"
HISTORY_POLICY = "moha-events-history"
SERVICES = ("accounts", "forms", "approvals", "notifications", "personnel")
EXCHANGES = ({"name": EVENTS_EXCHANGE, "type": "topic"}, {"name": DEAD_LETTER_EXCHANGE, "type": "direct"})
_EXCHANGES = f"{re.escape(EVENTS_EXCHANGE)}|{re.escape(DEAD_LETTER_EXCHANGE)}"
_HISTORY = re.escape(HISTORY_STREAM)


@dataclass(frozen=True)
class HistoryRetention:
    """How long and how much of the event history the broker keeps. Age and size are a policy
    (changed by applying again); the segment size is fixed when the stream is created, and size
    retention drops whole segments, so it must be well below `max_bytes`."""

    max_age: str = "730D"  # RabbitMQ's units: Y, M, D, h, m, s
    max_bytes: int = 50_000_000_000
    segment_bytes: int = 100_000_000

    @classmethod
    def from_env(cls) -> HistoryRetention:
        return cls(
            max_age=os.environ.get("HISTORY_MAX_AGE") or cls.max_age,
            max_bytes=int(os.environ.get("HISTORY_MAX_BYTES") or cls.max_bytes),
            segment_bytes=int(os.environ.get("HISTORY_SEGMENT_BYTES") or cls.segment_bytes),
        )

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[1-9][0-9]*[YMDhms]", self.max_age):
            raise ValueError(f"HISTORY_MAX_AGE {self.max_age!r} is not a number and a unit (Y, M, D, h, m, s)")
        if not 0 < self.segment_bytes < self.max_bytes:
            raise ValueError("HISTORY_SEGMENT_BYTES must be above 0 and below HISTORY_MAX_BYTES")

    def policy(self) -> dict:
        return {
            "pattern": f"^{_HISTORY}$",
            "apply-to": "queues",
            "priority": 10,
            "definition": {"max-age": self.max_age, "max-length-bytes": self.max_bytes},
        }

    def arguments(self) -> dict:
        return {"x-queue-type": "stream", "x-stream-max-segment-size-bytes": self.segment_bytes}


@dataclass(frozen=True)
class BrokerUser:
    name: str
    password: str
    configure: str
    write: str
    read: str
    topic_write: str
    topic_read: str = ".*"
    tags: str = ""


def service_user(service: str, name: str, password: str) -> BrokerUser:
    """A service's queues are `<service>.<routing key>` (+ `.retry`, `.dead`). It writes to them (to
    bind them), to the events exchange (its own routing keys only) and to the dead-letter exchange
    (its dead letters, and its retries, bound there); it reads its queues, the exchanges and the
    history. Not the default exchange: through it, a user could write into any queue, the history
    included."""
    own = f"{re.escape(service)}\\..*"
    return BrokerUser(
        name=name,
        password=password,
        configure=f"^{own}$",
        write=f"^({own}|{_EXCHANGES})$",
        read=f"^({own}|{_EXCHANGES}|{_HISTORY})$",
        topic_write=f"^{re.escape(service)}\\.",
    )


def subscriber_user(prefix: str, name: str, password: str) -> BrokerUser:
    """Another ministry: durable queues named `<prefix>.…`, bound to the events exchange, and the
    history to read; no publishing."""
    if prefix == "moha" or prefix in SERVICES or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", prefix):
        # `moha.` names the exchanges and the history, a service's name its queues.
        raise ValueError(
            f"subscriber prefix {prefix!r}: lower-case letters, digits and dashes, not 'moha' nor a service's name"
        )
    own = f"{re.escape(prefix)}\\..*"
    return BrokerUser(
        name=name,
        password=password,
        configure=f"^{own}$",
        write=f"^{own}$",
        read=f"^({own}|{re.escape(EVENTS_EXCHANGE)}|{_HISTORY})$",
        topic_write="^$",
    )


def monitor_user(name: str, password: str) -> BrokerUser:
    """A reader of queue lengths through the management API (KEDA's, to scale consumers): tagged
    `monitoring`, with access to the vhost and no right on anything in it."""
    return BrokerUser(
        name=name,
        password=password,
        configure="^$",
        write="^$",
        read="^$",
        topic_write="^$",
        topic_read="^$",
        tags="monitoring",
    )


def admin_user(name: str, password: str) -> BrokerUser:
    return BrokerUser(
        name=name, password=password, configure=".*", write=".*", read=".*", topic_write=".*", tags="administrator"
    )


def platform_users(prefix: str = "", passwords: dict[str, str] | None = None) -> dict[str, BrokerUser]:
    """The services' users, named `<prefix><service>`, with the given or fresh passwords."""
    passwords = passwords or {}
    return {s: service_user(s, f"{prefix}{s}", passwords.get(s) or secrets.token_urlsafe(24)) for s in SERVICES}


def amqp_url_for(admin_url: str, user: BrokerUser, vhost: str) -> str:
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user.name, safe='')}:{quote(user.password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def with_vhost(amqp_url: str, vhost: str) -> str:
    """The same user and host, on another vhost."""
    parts = urlsplit(amqp_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def vhost_of(amqp_url: str) -> str:
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


class Management:
    """RabbitMQ's management HTTP API (the `rabbitmq_management` plugin), as an administrator."""

    def __init__(self, admin_amqp_url: str, management_url: str | None = None) -> None:
        parts = urlsplit(admin_amqp_url)
        self.base = (
            management_url
            or os.environ.get("RABBITMQ_MANAGEMENT_URL")
            or f"http://{parts.hostname or '127.0.0.1'}:15672"
        ).rstrip("/")
        auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
        self.http = httpx.Client(base_url=self.base, auth=auth, timeout=30.0, verify=client_tls())

    def __enter__(self) -> Management:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _call(
        self, method: str, path: str, body: dict | None = None, *, missing_ok: bool = False, conflict_ok: bool = False
    ) -> None:
        try:
            response = self.http.request(method, "/api" + path, json=body)
        except httpx.HTTPError as exc:
            raise SystemExit(
                f"RabbitMQ's management API does not answer at {self.base} ({exc}); enable the "
                "rabbitmq_management plugin (deploy/local/stack.sh does) or set "
                "RABBITMQ_MANAGEMENT_URL"
            ) from exc
        if missing_ok and response.status_code == 404:
            return
        # A queue declared before with other arguments (a segment size set at its creation) stays.
        if conflict_ok and response.status_code == 400 and "inequivalent" in response.text:
            return
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")

    def ensure_vhost(self, vhost: str) -> None:
        self._call("PUT", f"/vhosts/{quote(vhost, safe='')}", {})

    def delete_vhost(self, vhost: str) -> None:
        self._call("DELETE", f"/vhosts/{quote(vhost, safe='')}", missing_ok=True)

    def put_user(self, user: BrokerUser, vhost: str) -> None:
        name, v = quote(user.name, safe=""), quote(vhost, safe="")
        self._call("PUT", f"/users/{name}", {"password": user.password, "tags": user.tags})
        self._call(
            "PUT", f"/permissions/{v}/{name}", {"configure": user.configure, "write": user.write, "read": user.read}
        )
        self._call(
            "PUT",
            f"/topic-permissions/{v}/{name}",
            {"exchange": EVENTS_EXCHANGE, "write": user.topic_write, "read": user.topic_read},
        )

    def grant_all(self, username: str, vhost: str) -> None:
        """Full rights on a vhost for an administrator (who made it)."""
        self._call(
            "PUT",
            f"/permissions/{quote(vhost, safe='')}/{quote(username, safe='')}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )

    def delete_user(self, name: str) -> None:
        self._call("DELETE", f"/users/{quote(name, safe='')}", missing_ok=True)

    def declare_exchanges(self, vhost: str) -> None:
        for exchange in EXCHANGES:
            self._call(
                "PUT",
                f"/exchanges/{quote(vhost, safe='')}/{quote(exchange['name'], safe='')}",
                {"type": exchange["type"], "durable": True, "auto_delete": False, "internal": False, "arguments": {}},
            )

    def declare_history(self, vhost: str, retention: HistoryRetention | None = None) -> None:
        """The history stream, bound to the events exchange with every routing key, and its retention.
        Declared once with its segment size; the retention policy is set again at every apply."""
        retention = retention or HistoryRetention.from_env()
        v, q = quote(vhost, safe=""), quote(HISTORY_STREAM, safe="")
        self._call(
            "PUT",
            f"/queues/{v}/{q}",
            {"durable": True, "auto_delete": False, "arguments": retention.arguments()},
            conflict_ok=True,
        )
        # The same binding twice is one binding.
        self._call("POST", f"/bindings/{v}/e/{quote(EVENTS_EXCHANGE, safe='')}/q/{q}", {"routing_key": "#"})
        self._call("PUT", f"/policies/{v}/{quote(HISTORY_POLICY, safe='')}", retention.policy())

    def declare_topology(self, vhost: str, retention: HistoryRetention | None = None) -> None:
        self.declare_exchanges(vhost)
        self.declare_history(vhost, retention)

    def provision(self, vhost: str, users: list[BrokerUser], retention: HistoryRetention | None = None) -> None:
        self.ensure_vhost(vhost)
        self.declare_topology(vhost, retention)
        for user in users:
            self.put_user(user, vhost)


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(vhost: str, users: list[BrokerUser], retention: HistoryRetention | None = None) -> dict:
    """A definitions file (RabbitMQ's `load_definitions`) for Compose and Kubernetes."""
    retention = retention or HistoryRetention.from_env()
    return {
        "users": [
            {
                "name": u.name,
                "password_hash": password_hash(u.password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [u.tags] if u.tags else [],
            }
            for u in users
        ],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": u.name, "vhost": vhost, "configure": u.configure, "write": u.write, "read": u.read} for u in users
        ],
        "topic_permissions": [
            {"user": u.name, "vhost": vhost, "exchange": EVENTS_EXCHANGE, "write": u.topic_write, "read": u.topic_read}
            for u in users
        ],
        "exchanges": [
            {
                "name": e["name"],
                "vhost": vhost,
                "type": e["type"],
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for e in EXCHANGES
        ],
        "queues": [
            {
                "name": HISTORY_STREAM,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": retention.arguments(),
            }
        ],
        "bindings": [
            {
                "source": EVENTS_EXCHANGE,
                "vhost": vhost,
                "destination": HISTORY_STREAM,
                "destination_type": "queue",
                "routing_key": "#",
                "arguments": {},
            }
        ],
        "policies": [{"vhost": vhost, "name": HISTORY_POLICY, **retention.policy()}],
    }


def _users_from_env(
    subscribers: list[str], admin: str | None, monitors: tuple[str, ...] = ()
) -> tuple[list[BrokerUser], dict[str, str]]:
    generated: dict[str, str] = {}

    def password(key: str) -> str:
        env = "BROKER_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", key.upper())
        if not (value := os.environ.get(env)):
            value = generated[env] = secrets.token_urlsafe(24)
        return value

    users = [service_user(s, s, password(s)) for s in SERVICES]
    users += [subscriber_user(p, p, password(p)) for p in subscribers]
    users += [monitor_user(m, password(m)) for m in monitors]
    if admin:
        users.append(admin_user(admin, password(admin)))
    return users, generated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("apply", "definitions"))
    parser.add_argument("--vhost", default="/")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        help="apply: an administrator's AMQP URL (its host and credentials reach the management API)",
    )
    parser.add_argument(
        "--subscriber",
        action="append",
        default=[],
        help="a read-only subscriber (another ministry), its user and queue prefix",
    )
    parser.add_argument(
        "--monitor",
        action="append",
        default=[],
        help="a user that may read queue lengths through the management API (KEDA's)",
    )
    parser.add_argument("--admin", help="definitions: also an administrator user of this name")
    args = parser.parse_args(argv)
    users, generated = _users_from_env(args.subscriber, args.admin, args.monitor)
    if args.command == "definitions":
        json.dump(definitions(args.vhost, users), sys.stdout, indent=2)
        print()
    else:
        with Management(args.admin_url) as api:
            api.provision(args.vhost, users)
    for env, value in generated.items():
        print(f"{env}={value}", file=sys.stderr)


if __name__ == "__main__":
    main()
