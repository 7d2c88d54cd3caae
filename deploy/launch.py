"""Runs the five services and the web front as separate processes on this machine, for the demo and
for the tests.

    python -m deploy.launch --demo     # start everything, load the demo data, print URLs and logins

It needs a broker and a store: AMQP_URL and MONGODB_URL, or the native stack (deploy/local/stack.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chassis.messaging import broker_user
from chassis.personal_data import new_key
from chassis.sealing import Sealer
from deploy.mongo import users as mongo_users
from deploy.rabbitmq.provision import BrokerUser, Management, amqp_url_for, platform_users, vhost_of, with_vhost
from deploy.tls import client_tls
from services.accounts.tokens import new_signing_key

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("accounts", "forms", "approvals", "notifications", "personnel")
WEB = "web"
DEFAULT_PORTS = {
    "web": 8000,
    "accounts": 8001,
    "forms": 8002,
    "approvals": 8003,
    "notifications": 8004,
    "personnel": 8005,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    module: str = ""
    # A module that runs the service's module given to it (tests inject faults this way:
    # tests/support/faults.py); none in production.
    wrapper: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"{self.name}: port {self.port} is taken (is another platform running?)")
        env = {**os.environ, **self.env, **extra_env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        log = self.log_path.open("ab")
        module = self.module or f"services.{self.name}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", *((self.wrapper, module) if self.wrapper else (module,))],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        # One client for the whole wait, on the process's one TLS context (deploy/tls.py).
        with httpx.Client(timeout=1.0, verify=client_tls()) as http:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}; log:\n{self.log_tail()}")
                try:
                    if http.get(self.url + "/health/ready").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; log:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class Platform:
    # An administrator's URL on the vhost the platform runs in: it makes each service's broker user
    # (decision 0008), and the services connect as those users.
    amqp_url: str
    mongodb_url: str
    log_dir: Path
    database_suffix: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    # Broker users are global to the broker: platforms on one broker need prefixes of their own.
    broker_user_prefix: str = ""
    broker_users: dict[str, BrokerUser] = field(default_factory=dict)
    # With an administrator's store URL (authentication on), each service gets a database user of
    # its own: (database, user, password) by service.
    store_users: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # Processes per service (the first is `services[name]`; the others share its database and queues).
    replicas: dict[str, int] = field(default_factory=dict)
    # Run each service through this module (ServiceProcess.wrapper): the tests' fault injection.
    wrapper: str = ""
    instances: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    _provisioned: bool = False

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Survey links: forms seals with the public key, only notifications holds the private one;
        # forms keys invitation ids with a secret of its own. Made once per platform unless given.
        if bool(os.environ.get("SURVEY_SEAL_KEY")) != bool(os.environ.get("SURVEY_OPEN_KEY")):
            raise SystemExit("SURVEY_SEAL_KEY and SURVEY_OPEN_KEY are a pair: give both, or neither")
        private, public = Sealer.new_keypair()
        own = {
            "forms": {
                "SURVEY_SEAL_KEY": os.environ.get("SURVEY_SEAL_KEY") or public,
                "SURVEY_ID_SECRET": os.environ.get("SURVEY_ID_SECRET") or secrets.token_urlsafe(32),
            },
            "notifications": {"SURVEY_OPEN_KEY": os.environ.get("SURVEY_OPEN_KEY") or private},
            # Accounts signs tokens with a key from a secret, never from its database (decision 0008).
            "accounts": {"TOKEN_SIGNING_KEYS": os.environ.get("TOKEN_SIGNING_KEYS") or new_signing_key()},
            # Personnel encrypts personal data with keys from a secret (decision 0015).
            "personnel": {
                "PERSONAL_DATA_KEYS": os.environ.get("PERSONAL_DATA_KEYS") or f"k1:{new_key()}",
                "PERSONAL_DATA_INDEX_KEY": os.environ.get("PERSONAL_DATA_INDEX_KEY") or new_key(),
            },
        }
        ports = {name: self.ports.get(name) or DEFAULT_PORTS[name] for name in (*SERVICES, WEB)}
        self.broker_users = platform_users(self.broker_user_prefix)
        vhost = vhost_of(self.amqp_url)
        for name in SERVICES:
            database = f"moha_{name}{self.database_suffix}"
            mongodb_url = self.mongodb_url
            if mongo_users.has_credentials(self.mongodb_url):
                user, password = f"{self.broker_user_prefix}{name}", secrets.token_urlsafe(24)
                self.store_users[name] = (database, user, password)
                mongodb_url = mongo_users.service_url(self.mongodb_url, user, password, database)
            env = {
                "AMQP_URL": amqp_url_for(self.amqp_url, self.broker_users[name], vhost),
                "BROKER_USERS": json.dumps({s: u.name for s, u in self.broker_users.items()}),
                "MONGODB_URL": mongodb_url,
                "DATABASE": database,
                "JWKS_URL": f"http://127.0.0.1:{ports['accounts']}/.well-known/jwks.json",
                "SURVEY_LINK_BASE": f"http://127.0.0.1:{ports[WEB]}/s",  # respondents open the web front
                # People reach the services through the web front, which passes each one's address on
                # (sign-in throttling and survey tamper checks count by it); loopback only here.
                "TRUST_FORWARDED_FOR": "true",
                "API_DOCS": "true",  # this machine is a developer's: /docs on every service
                **own.get(name, {}),
                **self.extra_env,
            }
            self.services[name] = ServiceProcess(
                name, ports[name], env, self.log_dir / f"{name}.log", wrapper=self.wrapper
            )
        # The web front: no broker, no store; the services' addresses and the key of its cookies.
        web_env = {f"{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
        web_env["SESSION_KEY"] = os.environ.get("SESSION_KEY") or secrets.token_urlsafe(32)
        self.services[WEB] = ServiceProcess(
            WEB,
            ports[WEB],
            {**web_env, **{k: v for k, v in self.extra_env.items() if k in ("LOG_LEVEL",)}},
            self.log_dir / "web.log",
            module="web",
        )
        for name, first in self.services.items():
            self.instances[name] = [first] + [
                ServiceProcess(
                    name,
                    free_port(),
                    first.env,
                    self.log_dir / f"{name}-{n}.log",
                    module=first.module,
                    wrapper=first.wrapper,
                )
                for n in range(2, self.replicas.get(name, 1) + 1)
            ]

    def broker_url(self, name: str) -> str:
        """The AMQP URL the service connects with (its own broker user)."""
        return self.services[name].env["AMQP_URL"]

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def provision_broker(self) -> None:
        """The vhost, its exchanges and the services' users with their rights (fresh passwords)."""
        vhost = vhost_of(self.amqp_url)
        with Management(self.amqp_url) as api:
            api.ensure_vhost(vhost)
            api.grant_all(broker_user(self.amqp_url), vhost)
            api.provision(vhost, list(self.broker_users.values()))

    def provision_store(self) -> None:
        """Each service's database user, limited to its own database (when authentication is on)."""
        for database, user, password in self.store_users.values():
            mongo_users.ensure_user(self.mongodb_url, database, user, password)

    def remove_broker_users(self) -> None:
        with Management(self.amqp_url) as api:
            for user in self.broker_users.values():
                api.delete_user(user.name)
        for database, store_user, _ in self.store_users.values():
            mongo_users.drop_user(self.mongodb_url, database, store_user)

    def start(self, names: tuple[str, ...] | None = None, ready_timeout: float = 60.0) -> None:
        """Start the services (all, or those named), in any order: a service started after events
        it needs catches up from the event history (decision 0017)."""
        if not self._provisioned:
            self.provision_broker()
            self.provision_store()
            self._provisioned = True
        # The web front last: it is ready when the services it calls answer.
        chosen = sorted(names or self.services, key=lambda name: name == WEB)
        processes = [p for name in chosen for p in self.instances[name]]
        try:
            for process in processes:
                process.start()
            for process in processes:
                process.wait_ready(ready_timeout)
        except BaseException:
            self.stop()  # leave no half-started platform holding the ports
            raise

    def stop(self) -> None:
        for process in (p for instances in self.instances.values() for p in instances):
            process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="load the demo data (Lạng Sơn) and print logins")
    parser.add_argument("--log-dir", default=str(ROOT / ".stack" / "logs"))
    parser.add_argument(
        "--mail-sink",
        action="store_true",
        help="run a local SMTP server on SMTP_PORT that writes every e-mail to the log directory",
    )
    args = parser.parse_args()
    sink = None
    if args.mail_sink:
        sink = start_mail_sink(int(os.environ.get("SMTP_PORT", "1025")), Path(args.log_dir) / "mail.log")
    from deploy.demo import ADMIN_PASSWORD, load_demo

    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    suffix = ""
    if args.demo:
        # A demo starts from empty databases of its own, so its logins are always the ones printed.
        from pymongo import MongoClient

        suffix = "_demo"
        with MongoClient[dict[str, Any]](mongodb_url) as client:
            for name in SERVICES:
                client.drop_database(f"moha_{name}{suffix}")
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    if args.demo:
        # ...and a vhost of its own made anew: no queue, and no history, of an earlier demo.
        with Management(amqp_url) as api:
            api.delete_vhost("moha-demo")
    platform = Platform(
        # The demo has a vhost of its own: tests and benchmarks on the same broker never touch it.
        amqp_url=with_vhost(amqp_url, "moha-demo") if args.demo else amqp_url,
        mongodb_url=mongodb_url,
        log_dir=Path(args.log_dir),
        database_suffix=suffix,
        broker_user_prefix="demo-" if args.demo else "",
        extra_env={
            "BOOTSTRAP_ADMIN_PASSWORD": os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            "SMTP_PORT": os.environ.get("SMTP_PORT", "1025"),
        },
    )
    try:
        platform.start()
    except BaseException:
        if sink is not None:
            sink.terminate()
        raise
    if args.demo:
        load_demo(
            {name: s.url for name, s in platform.services.items() if name != WEB},
            credentials_path=Path(args.log_dir).parent / "demo-credentials.csv",
            web_url=platform[WEB].url,
        )
    else:
        print(f"\nThe web application: {platform[WEB].url}/\n")
    print("Services (OpenAPI at /docs):")
    for s in platform.services.values():
        if s.name != WEB:
            print(f"  {s.name:<14} {s.url}")
    print(f"Logs: {args.log_dir}")
    print("Ctrl-C stops the platform.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        platform.stop()
        if sink is not None:
            sink.terminate()


def start_mail_sink(port: int, path: Path) -> subprocess.Popen:
    """A local SMTP server (aiosmtpd) whose e-mails land, decoded, in a file instead of a mailbox."""
    path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "deploy.mail_sink.Readable", "-l", f"127.0.0.1:{port}"],
        stdout=path.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    print(f"Mail sink on 127.0.0.1:{port}, e-mails written to {path}")
    return process


if __name__ == "__main__":
    main()
