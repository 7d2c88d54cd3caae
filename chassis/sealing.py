"""Sealed values inside events: what only one service may read. A survey respondent's address and
personal link travel from forms to notifications this way; subscribers of the same event see
ciphertext, and forms, which seals with notifications' public key, cannot open what it sealed.

X25519 with an ephemeral key per value, HKDF-SHA256, AES-256-GCM (the ephemeral public key is the
associated data). A sealed value is `v1.` + base64url(ephemeral public key | nonce | ciphertext)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"moha-sealed-v1"
_RAW = serialization.Encoding.Raw


class SealError(Exception):
    """No key configured, or a sealed value this key cannot open (another key, or altered)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(shared: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(shared)


class Sealer:
    """`public_key` seals (forms); `private_key` opens (notifications). Either may be empty."""

    def __init__(self, public_key: str = "", private_key: str = "") -> None:
        try:
            self._public = X25519PublicKey.from_public_bytes(_unb64(public_key)) if public_key else None
            self._private = X25519PrivateKey.from_private_bytes(_unb64(private_key)) if private_key else None
        except ValueError as exc:
            raise SealError("a survey seal key is not a base64url X25519 key") from exc

    @staticmethod
    def new_keypair() -> tuple[str, str]:
        """(private, public), base64url."""
        private = X25519PrivateKey.generate()
        raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        return _b64(raw), _b64(private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw))

    def seal(self, value: dict[str, Any]) -> str:
        if self._public is None:
            raise SealError("SURVEY_SEAL_KEY (the public key) is not set")
        ephemeral = X25519PrivateKey.generate()
        eph_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        nonce = os.urandom(12)
        data = json.dumps(value, ensure_ascii=False).encode()
        sealed = AESGCM(_key(ephemeral.exchange(self._public))).encrypt(nonce, data, eph_public)
        return "v1." + _b64(eph_public + nonce + sealed)

    def open(self, sealed: str) -> dict[str, Any]:
        if self._private is None:
            raise SealError("SURVEY_OPEN_KEY (the private key) is not set")
        try:
            version, body = sealed.split(".", 1)
            raw = _unb64(body)
            if version != "v1" or len(raw) < 32 + 12 + 16:
                raise ValueError("not a v1 sealed value")
            eph_public, nonce, data = raw[:32], raw[32:44], raw[44:]
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(eph_public))
            return json.loads(AESGCM(_key(shared)).decrypt(nonce, data, eph_public))
        except (InvalidTag, ValueError) as exc:
            raise SealError("sealed for another key, or altered") from exc
