"""The services' HTTP APIs as the web front calls them: one pooled client per service, the
signed-in person's token on every call, the correlation id and the caller's address passed on."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from chassis.logging import get_contextvars, get_logger
from chassis.settings import KEEP_ALIVE_SECONDS

log = get_logger("web.clients")
# Well below the services' keep-alive (chassis.runtime.KEEP_ALIVE_SECONDS): the caller drops an idle
# connection before the service may close it under a request being sent.
KEEPALIVE_EXPIRY = KEEP_ALIVE_SECONDS / 3
SERVICES = ("accounts", "forms", "approvals", "notifications")


class SessionExpired(Exception):
    """A service refused the token (expired, revoked, or a password reset since)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ServiceUnavailable(Exception):
    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


@dataclass
class Timing:
    """How long the services took for one page: the page's own time is the rest."""

    calls: list[tuple[str, float]] = field(default_factory=list)


class Services:
    def __init__(self, urls: dict[str, str], timeout: float) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY)
        self.http = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) for name, url in urls.items()
        }

    async def close(self) -> None:
        for client in self.http.values():
            await client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        forwarded_for: str | None = None,
        headers: dict[str, str] | None = None,
        timing: Timing | None = None,
        raw: bool = False,
        **kw: Any,
    ) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if cid := get_contextvars().get("correlation_id"):
            sent["X-Correlation-ID"] = cid
        if forwarded_for:
            sent["X-Forwarded-For"] = forwarded_for
        started = time.perf_counter()
        try:
            response = await self.http[service].request(method, path, headers=sent, **kw)
        except httpx.HTTPError as exc:
            log.warning("service unreachable", service=service, path=path, error=str(exc))
            raise ServiceUnavailable(service) from exc
        finally:
            if timing is not None:
                timing.calls.append((f"{service} {method} {path.split('?')[0]}", time.perf_counter() - started))
        if response.status_code >= 400:
            body = _json(response)
            error = body.get("error", {}) if isinstance(body, dict) else {}
            # The token refused; a 401 that is a wrong password (invalid_credentials) is an answer.
            if response.status_code == 401 and error.get("code", "unauthenticated") == "unauthenticated":
                raise SessionExpired(error.get("message", ""))
            raise ApiError(
                response.status_code,
                error.get("code", "error"),
                error.get("message") or "Hệ thống không xử lý được yêu cầu",
                error.get("errors", []),
                error,
            )
        if raw:
            return response
        return None if response.status_code == 204 or not response.content else response.json()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}
