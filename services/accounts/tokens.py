"""Signing tokens and publishing the public key set (JWKS) that every service verifies with.

The keys come from a secret (TOKEN_SIGNING_KEYS, or the file TOKEN_SIGNING_KEYS_FILE), never from
a database: whoever can read accounts' database must not be able to mint tokens (decision 0008).
Several PEM keys may be given: the first signs, every one is published, so tokens signed by a key
being retired still verify until they expire. Make a key with `python -m services.accounts.tokens`."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.auth import Principal, Unauthenticated

from .domain.model import Account
from .store import AccountsUnitOfWork


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKeysMissing(Exception):
    """No usable signing key was configured."""


_PEM = re.compile(r"-----BEGIN PRIVATE KEY-----.+?-----END PRIVATE KEY-----", re.S)


def load_signing_keys(text: str) -> list[Ed25519PrivateKey]:
    """Every Ed25519 private key (PKCS#8 PEM) in `text`, in order: the first one signs."""
    keys = []
    for block in _PEM.findall(text):
        key = serialization.load_pem_private_key(block.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeysMissing("a token signing key is not an Ed25519 key")
        keys.append(key)
    if not keys:
        raise SigningKeysMissing(
            "no token signing key: set TOKEN_SIGNING_KEYS (PEM) or TOKEN_SIGNING_KEYS_FILE; "
            "make one with `python -m services.accounts.tokens`"
        )
    return keys


def new_signing_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def key_id(key: Ed25519PrivateKey) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(public).hexdigest()[:16]


def _jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64(public), "kid": key_id(key), "alg": "EdDSA", "use": "sig"}


class TokenIssuer:
    def __init__(self, keys: list[Ed25519PrivateKey], *, issuer: str, audience: str, ttl_seconds: int) -> None:
        if not keys:
            raise SigningKeysMissing("no token signing key")
        self.key = keys[0]
        self.kid = key_id(self.key)
        self.issuer = issuer
        self.audience = audience
        self.ttl = timedelta(seconds=ttl_seconds)
        self.jwks_doc = {"keys": [_jwk(k) for k in keys]}
        # Accounts verifies its own tokens with these, without a round trip to itself.
        self.public_keys = {key_id(k): k.public_key() for k in keys}

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
        return self.jwks_doc


class AccountSessions:
    """Accounts checks tokens against the accounts themselves (other services keep a read model of
    revocations, chassis/sessions.py): a revoked account or a reset password ends its tokens at once."""

    def __init__(self, make_uow: Callable[[], AccountsUnitOfWork]) -> None:
        self.make_uow = make_uow

    async def check(self, principal: Principal) -> None:
        account = await self.make_uow().accounts.get(principal.account_id)
        if account is None or account.status != "active":
            raise Unauthenticated("tài khoản đã bị thu hồi")
        reset = account.tokens_valid_after
        if reset is not None and principal.issued_at < reset:
            raise Unauthenticated("mã truy cập đã hết hiệu lực; hãy đăng nhập lại")


if __name__ == "__main__":
    print(new_signing_key(), end="")
