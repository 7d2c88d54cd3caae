"""Sealed values inside events: what only the services holding the key may read (a survey
respondent's address and personal link travel from forms to notifications this way, while
subscribers of the same event see ciphertext). Fernet: AES-128-CBC with HMAC-SHA256, timestamped."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class SealError(Exception):
    """No key configured, or a sealed value that this key did not seal."""


class Sealer:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode()) if key else None

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, value: dict[str, Any]) -> str:
        if self._fernet is None:
            raise SealError("SURVEY_SEAL_KEY is not set")
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        if self._fernet is None:
            raise SealError("SURVEY_SEAL_KEY is not set")
        try:
            return json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise SealError("sealed with another key, or altered") from exc
