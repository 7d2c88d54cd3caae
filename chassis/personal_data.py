"""Personal data kept encrypted, field by field (Decree 13/2023/NĐ-CP): whoever reads a database, a
backup or a commit sees ciphertext where a national ID number or a date of birth stands.

- `encrypt` / `decrypt`: AES-256-GCM, a fresh 96-bit nonce per value, and the value's place (for
  example `<record id>:national_id`) as associated data, so a ciphertext copied into another
  record or another field does not decrypt there. The text names the key that made it
  (`pd1:<key id>:<nonce and ciphertext, base64url>`): keys rotate by putting a new key first and
  keeping the old ones until everything has been written again.
- `index`: a keyed hash (HMAC-SHA-256) of a value, deterministic, stored beside the ciphertext
  where a value must be found (search by date of birth) or must be unique (one record per national
  ID number). Without the key it cannot be recomputed from a guess. Its key does not rotate with the
  encryption keys: a new one means hashing every value again.

The keys come from a secret (PERSONAL_DATA_KEYS, PERSONAL_DATA_INDEX_KEY), never from the database.
Make one with `python -m chassis.personal_data`. Plain Python: no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "pd1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeysMissing(Exception):
    """No usable key was configured: the service must not start without one."""


class Undecryptable(Exception):
    """A value that no configured key opens, or that was moved from where it was written."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_key() -> str:
    """A fresh 256-bit key, as the settings take it."""
    return _b64encode(secrets.token_bytes(32))


def parse_keys(text: str) -> dict[str, bytes]:
    """`id:key, id:key …` (commas or line breaks between them), keys in base64url of 32 bytes, in
    order: the first encrypts."""
    keys: dict[str, bytes] = {}
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID.match(kid):
            raise KeysMissing("each personal data key is written `<id>:<base64url key>` (id: letters, digits, - or _)")
        try:
            key = _b64decode(encoded)
        except ValueError as exc:
            raise KeysMissing(f"personal data key {kid!r} is not base64url") from exc
        if len(key) != 32:
            raise KeysMissing(f"personal data key {kid!r} is not 32 bytes (AES-256)")
        keys[kid] = key
    return keys


class FieldCipher:
    def __init__(self, keys: dict[str, bytes], index_key: bytes) -> None:
        if not keys:
            raise KeysMissing(
                "no personal data key: set PERSONAL_DATA_KEYS (make one with `python -m chassis.personal_data`)"
            )
        if len(index_key) < 32:
            raise KeysMissing("PERSONAL_DATA_INDEX_KEY must be a key of at least 32 bytes (base64url)")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._current = next(iter(keys))
        self._index_key = index_key

    @classmethod
    def from_settings(cls, keys: str, index_key: str) -> FieldCipher:
        try:
            index = _b64decode(index_key.strip()) if index_key.strip() else b""
        except ValueError as exc:
            raise KeysMissing("PERSONAL_DATA_INDEX_KEY is not base64url") from exc
        return cls(parse_keys(keys), index)

    @property
    def current_key(self) -> str:
        return self._current

    def encrypt(self, value: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, value.encode(), context.encode())
        return f"{PREFIX}:{self._current}:{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        prefix, _, rest = token.partition(":")
        kid, _, body = rest.partition(":")
        if prefix != PREFIX or kid not in self._keys:
            raise Undecryptable(f"value written with an unknown key ({kid or '?'})")
        try:
            raw = _b64decode(body)
            return self._keys[kid].decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise Undecryptable("value altered, or not written for this place") from exc

    @staticmethod
    def is_sealed(value: object) -> bool:
        return isinstance(value, str) and value.startswith(PREFIX + ":")

    def index(self, value: str, purpose: str) -> str:
        """The keyed hash of `value` for one purpose (a field's code): equal values of one field
        hash alike, the same value in two fields does not."""
        digest = hmac.new(self._index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        return _b64encode(digest)


if __name__ == "__main__":
    print(f"PERSONAL_DATA_KEYS=k{secrets.randbelow(10**6):06d}:{new_key()}")
    print(f"PERSONAL_DATA_INDEX_KEY={new_key()}")
