"""Signing tokens and publishing the public key set (JWKS) that every service verifies with."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.auth import Principal, Unauthenticated

from .domain.model import Account
from .store import AccountsStore


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenIssuer:
    def __init__(self, key: Ed25519PrivateKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl = timedelta(seconds=ttl_seconds)
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.kid = hashlib.sha256(public).hexdigest()[:16]
        self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(public), "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def issue(self, account: Account) -> tuple[str, int]:
        now = datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": account.id,
            "username": account.username,
            "unit_id": account.unit_id,
            "role": account.role,
            "pwd_change": account.must_change_password,
            "iat": now,
            # `iat` is whole seconds; a reset must end tokens issued a moment before it, not after.
            "iat_us": int(now.timestamp() * 1_000_000),
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})
        return token, int(self.ttl.total_seconds())

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}


class AccountSessions:
    """Accounts checks tokens against the accounts themselves (other services keep a read model of
    revocations, chassis/sessions.py): a revoked account or a reset password ends its tokens at once."""

    def __init__(self, accounts: AccountsStore) -> None:
        self.accounts = accounts

    async def check(self, principal: Principal) -> None:
        account = await self.accounts.get_account(principal.account_id)
        if account is None or account.status != "active":
            raise Unauthenticated("tài khoản đã bị thu hồi")
        reset = account.tokens_valid_after
        if reset is not None and principal.issued_at < reset:
            raise Unauthenticated("mã truy cập đã hết hiệu lực; hãy đăng nhập lại")
