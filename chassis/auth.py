"""Token verification, done by every service on its own.

Accounts signs short-lived tokens (EdDSA) and publishes its public key set; each service fetches
that set, keeps it in memory, and fetches it again only when a token names a key it does not know.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

from .logging import get_logger

log = get_logger("chassis.auth")

ADMIN_ROLES = frozenset({"central_admin", "province_admin", "district_admin"})
SUPERVISOR_ROLES = frozenset({"province_supervisor", "district_supervisor"})


class Unauthenticated(Exception):
    """No token, or a token that is not ours, expired or forged."""


@dataclass(frozen=True)
class Principal:
    account_id: str
    username: str
    unit_id: str
    role: str
    # Issued passwords must be changed at first login; until then the token opens nothing else.
    password_change_required: bool = False
    issued_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def is_supervisor(self) -> bool:
        return self.role in SUPERVISOR_ROLES


class TokenVerifier:
    def __init__(
        self,
        jwks_url: str | None,
        *,
        issuer: str,
        audience: str,
        keys: dict[str, Any] | None = None,
        min_refresh_seconds: float = 5.0,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self._keys: dict[str, Any] = dict(keys or {})
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("mã truy cập không hợp lệ") from exc
        kid = str(header.get("kid"))
        key = self._keys.get(kid) or await self._refresh(kid)
        if key is None:
            raise Unauthenticated("mã truy cập được ký bằng khóa không xác định")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["EdDSA"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("mã truy cập đã hết hạn") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("mã truy cập không hợp lệ") from exc
        try:
            return Principal(
                account_id=claims["sub"],
                username=claims["username"],
                unit_id=claims["unit_id"],
                role=claims["role"],
                password_change_required=bool(claims.get("pwd_change", False)),
                issued_at=datetime.fromtimestamp(claims.get("iat_us", claims["iat"] * 1_000_000) / 1_000_000, UTC),
            )
        except KeyError as exc:
            raise Unauthenticated("mã truy cập thiếu thông tin") from exc

    async def _refresh(self, kid: str | None) -> Any:
        async with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if self.jwks_url is None:
                return None
            # A forged kid must not make us hammer accounts: refresh at most every few seconds.
            if time.monotonic() - self._fetched_at < self._min_refresh and self._keys:
                return None
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    keys = response.json()["keys"]
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("key set could not be fetched", url=self.jwks_url, error=str(exc))
                return None
            self._keys = {k["kid"]: jwt.PyJWK(k).key for k in keys}
            self._fetched_at = time.monotonic()
            return self._keys.get(kid) if kid is not None else None
