"""Faults and stand-ins the tests inject into a service process, so that production code carries
none of them.

    FAULTS=crash-after-commit,error-header python -m tests.support.faults services.forms

runs the service's own `__main__` after installing the faults FAULTS names (the e2e platform starts
every service this way, `Platform(wrapper=...)` in deploy/launch.py):

- `crash-after-commit`: the process exits with 70 right after its next change that carries events
  or an audit entry is stored, before it is applied, published or chained: the crash the outbox's
  recovery and the audit chain must survive (tests/e2e/test_resilience.py, test_audit_trail.py).
- `error-header`: a request carrying `X-Fault: error` fails inside its route, after its body and
  token were read: what an unhandled error leaves in the logs (tests/e2e/test_secrets_in_logs.py).
- `reminders-any-day`: notifications' reminder pass run by hand (POST /reminders/run) takes any
  day, days ahead included: every day has come for its calendar. The reminder tests drive the
  clock ahead this way (tests/e2e/test_notifications.py, test_replicas.py); the scheduler's own
  pass keeps the real date.
- `hashes-asleep`: accounts hashes passwords with argon2id at its cheapest and sleeps for as long as
  a real hash takes (`HASH_SECONDS`). The hashing queue sees the same waits (the flood test's 429s,
  a throttled sign-in answering in a hash's time), without the CPU: at OWASP's cost, accounts'
  hashes were the largest single use of the suite's two cores (about 130 s of 900 in a run).
"""

from __future__ import annotations

import contextvars
import os
import runpy
import sys
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request

from chassis import http
from chassis.logging import get_logger
from chassis.store import Store

log = get_logger("tests.faults")

CRASH_EXIT = 70
FAULT_HEADER = "X-Fault"


class InjectedFault(RuntimeError):
    """Raised on purpose, for tests of what an unhandled error leaves in logs."""


# Set while a writer's own commit runs: only that apply dies, not the relay's recovery applying
# again (at start) a commit a stopped process left unpublished.
_committing: contextvars.ContextVar[bool] = contextvars.ContextVar("committing", default=False)


def crash_after_commit() -> None:
    """Every commit is applied right after it is stored (chassis/store.py): dying at that point
    leaves the change stored and nothing after it done."""
    original_commit, original_apply = Store._commit, Store.apply

    async def committing(self: Store, *args: Any, **kwargs: Any) -> None:
        token = _committing.set(True)
        try:
            await original_commit(self, *args, **kwargs)
        finally:
            _committing.reset(token)

    async def dying_apply(self: Store, commit: Mapping[str, Any]) -> None:
        if _committing.get() and (commit.get("events") or commit.get("audit")):
            log.warning("fault injection: exiting after commit, before apply, publish and chaining")
            os._exit(CRASH_EXIT)
        await original_apply(self, commit)

    Store._commit = committing  # type: ignore[method-assign]
    Store.apply = dying_apply  # type: ignore[method-assign]


async def _fail_on_header(request: Request) -> None:
    # Runs with every route's own dependencies, after the body was read: as deep as a real failure.
    if request.headers.get(FAULT_HEADER) == "error":
        raise InjectedFault("fault injected by request header")


def error_header() -> None:
    class FaultyFastAPI(FastAPI):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # On the application itself: every route, health and metrics included, gets it.
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or []), Depends(_fail_on_header)]
            super().__init__(*args, **kwargs)

    http.FastAPI = FaultyFastAPI  # type: ignore[misc]


def reminders_any_day() -> None:
    # The calendar bootstrap.py gives the use case, patched on its class: no module global.
    from services.notifications.usecases import Calendar

    def every_day_has_come(self: Calendar) -> date:
        return date.max

    Calendar.today = every_day_has_come  # type: ignore[method-assign]


HASH_SECONDS = 0.02  # an OWASP-cost argon2id hash on this machine, quiet


def hashes_asleep() -> None:
    from argon2 import PasswordHasher

    from services.accounts import passwords

    class AsleepHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            time.sleep(HASH_SECONDS)
            return super().hash(password, salt=salt)

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            time.sleep(HASH_SECONDS)
            return super().verify(hash, password)

    asleep = AsleepHasher(time_cost=1, memory_cost=8, parallelism=1)
    original_init = passwords.PasswordHashing.__init__

    def init(self: passwords.PasswordHashing, *args: Any, **kwargs: Any) -> None:
        kwargs["hasher"] = asleep
        original_init(self, *args, **kwargs)

    passwords.PasswordHashing.__init__ = init  # type: ignore[method-assign]


# Each fault, and the one service it concerns (None: every process). A platform names its faults
# once for all its services: the others skip them rather than import that service's modules.
FAULTS: dict[str, tuple[Callable[[], None], str | None]] = {
    "crash-after-commit": (crash_after_commit, None),
    "error-header": (error_header, None),
    "reminders-any-day": (reminders_any_day, "services.notifications"),
    "hashes-asleep": (hashes_asleep, "services.accounts"),
}


def install(names: str, module: str) -> None:
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in FAULTS:
            raise SystemExit(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        fault, concerns = FAULTS[name]
        if concerns in (None, module):
            fault()


if __name__ == "__main__":
    module = sys.argv[1]
    install(os.environ.get("FAULTS", ""), module)
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
