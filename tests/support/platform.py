"""The running platform, seen from outside: HTTP clients and the helpers a test needs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from deploy.launch import Platform
from deploy.tls import client_tls

# httpx builds a TLS context for each client (30 ms of CPU), plain http or not. The tests make
# hundreds of clients, all to loopback over plain http: they share one context (deploy/tls.py).
TLS = client_tls()


def logged(process: Any, message: str, **fields: Any) -> list[dict[str, Any]]:
    """The entries of a service's JSON log with this message and these fields: what a test waits
    for (with `eventually`) when the effect it asserts on is an absence."""
    import json

    found = []
    for line in process.log_path.read_text(errors="replace").splitlines():
        if message in line:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == message and all(entry.get(k) == v for k, v in fields.items()):
                found.append(entry)
    return found


def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until `check` returns something truthy (events cross processes asynchronously)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


class Client:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.http = {
            name: httpx.Client(base_url=s.url, timeout=15.0, verify=TLS) for name, s in platform.services.items()
        }
        self.admin_auth: dict[str, str] = {}
        self.admin_signed_in_at = 0.0
        self.campaigns: set[tuple[str, str]] = set()

    def __getattr__(self, service: str) -> httpx.Client:
        try:
            return self.http[service]
        except KeyError:
            raise AttributeError(service) from None

    def accounts_from(self, address: str) -> httpx.Client:
        """Accounts as seen from another source address: every 127.x.y.z is this machine, and the
        service sees the connection's own address (as behind the Ministry's proxy it sees the hop
        the proxy appends)."""
        return httpx.Client(
            base_url=self.platform.services["accounts"].url,
            timeout=15.0,
            transport=httpx.HTTPTransport(local_address=address, verify=TLS),
        )

    def login(self, username: str, password: str, *, activate: bool = True) -> dict[str, str]:
        """Sign in; an issued account first replaces its initial password (as its holder must)."""
        response = self.accounts.post("/auth/token", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        if body["must_change_password"] and activate:
            response = self.accounts.post(
                "/auth/password",
                headers=bearer(body["access_token"]),
                json={"current_password": password, "new_password": new_password_for(password)},
            )
            assert response.status_code == 200, response.text
            body = response.json()
        return bearer(body["access_token"])

    def new_unit(self, admin: dict[str, str], parent_id: str, code: str, name: str, level: str) -> dict[str, Any]:
        response = self.accounts.post(
            "/units", headers=admin, json={"code": code, "name": name, "level": level, "parent_id": parent_id}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def new_account(
        self, admin: dict[str, str], unit_id: str, username: str, role: str, email: str | None = None
    ) -> dict[str, Any]:
        response = self.accounts.post(
            "/accounts",
            headers=admin,
            json={
                "username": username,
                "unit_id": unit_id,
                "role": role,
                "display_name": username.upper(),
                "email": email,
            },
        )
        assert response.status_code == 201, response.text
        return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_password_for(initial: str) -> str:
    return initial + "-Moi2026"
