"""Accounts' own database: units, accounts and the token signing key."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from chassis.store import AlreadyExists, Store
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .domain.model import Account, Unit, duplicate

UNITS = "units"
ACCOUNTS = "accounts"
KEYS = "signing_keys"
OUTBOX_COLLECTIONS = [UNITS, ACCOUNTS]


class AccountsStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_indexes(self) -> None:
        await self.store[UNITS].create_index("code", unique=True)
        await self.store[ACCOUNTS].create_index("username", unique=True)
        await self.store[ACCOUNTS].create_index("unit_id")

    # units --------------------------------------------------------------------------------
    async def add_unit(self, unit: Unit) -> None:
        if await self.store[UNITS].find_one({"code": unit.code}, {"_id": 1}):
            raise duplicate("Mã đơn vị", unit.code)
        doc = {"_id": unit.id, "code": unit.code, "name": unit.name, "level": unit.level,
               "parent_id": unit.parent_id, "path": unit.path, "registered_at": datetime.now(UTC)}
        try:
            await self.store.insert(UNITS, doc, unit.events)
        except AlreadyExists as exc:  # the unique index catches a race the lookup missed
            raise duplicate("Mã đơn vị", unit.code) from exc

    async def get_unit(self, unit_id: str) -> Unit | None:
        doc = await self.store[UNITS].find_one({"_id": unit_id})
        return None if doc is None else Unit(doc["_id"], doc["code"], doc["name"], doc["level"],
                                             doc["parent_id"], doc["path"])

    # accounts -----------------------------------------------------------------------------
    async def add_account(self, account: Account) -> None:
        doc = {k: v for k, v in asdict(account).items() if k not in ("id", "events")}
        doc["_id"] = account.id
        try:
            await self.store.insert(ACCOUNTS, doc, account.events)
        except AlreadyExists as exc:
            raise duplicate("Tên đăng nhập", account.username) from exc

    async def find_account(self, username: str) -> dict[str, Any] | None:
        return await self.store[ACCOUNTS].find_one({"username": username})

    async def get_account(self, account_id: str) -> dict[str, Any] | None:
        return await self.store[ACCOUNTS].find_one({"_id": account_id})

    # signing key --------------------------------------------------------------------------
    async def signing_key(self) -> Ed25519PrivateKey:
        """The key every replica signs with: the first replica to start creates it, the others read it."""
        candidate = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        doc = await self.store[KEYS].find_one_and_update(
            {"_id": "current"},
            {"$setOnInsert": {"pem": candidate.decode(), "created_at": datetime.now(UTC)}},
            upsert=True,
            return_document=True,
        )
        return serialization.load_pem_private_key(doc["pem"].encode(), password=None)  # type: ignore[return-value]
