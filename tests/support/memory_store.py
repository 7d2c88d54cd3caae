"""A `chassis.Store` kept in memory, for use cases tested without I/O (the fake unit of work's
storage; cosmicpython's fakes). It is the real Store, commits, outbox and apply included, over
mongomock's in-memory collections behind PyMongo's async method names, so a use case meets the
same StaleVersion and AlreadyExists it would meet on MongoDB. What crosses a process boundary is
tested against the real store elsewhere (tests/integration, tests/e2e)."""

from __future__ import annotations

import copy
import json
from typing import Any

import mongomock

from chassis.store import Store


class _Cursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._cursor, name)

        def chained(*args: Any, **kwargs: Any) -> _Cursor:
            method(*args, **kwargs)
            return self

        return chained  # sort, skip, limit, batch_size...: chained as on PyMongo's cursor

    def __aiter__(self) -> _Cursor:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._cursor)
        except StopIteration:
            raise StopAsyncIteration from None

    async def to_list(self, length: int | None = None) -> list[Any]:
        items = list(self._cursor)
        return items if length is None else items[:length]


class _Collection:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def find(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._collection.find(*args, **kwargs))

    async def aggregate(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(iter(list(self._collection.aggregate(*args, **kwargs))))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return copy.deepcopy(method(*args, **kwargs))

        return call


class _Database:
    def __init__(self) -> None:
        self._db = mongomock.MongoClient(tz_aware=True).db

    def __getitem__(self, name: str) -> _Collection:
        return _Collection(self._db[name])

    def __getattr__(self, name: str) -> _Collection:
        return self[name]


class MemoryStore(Store):
    def __init__(self) -> None:  # the real Store's logic, without a client
        self.db = _Database()  # type: ignore[assignment]
        self.commits = self.db["commits"]  # type: ignore[assignment]
        self.outbox = self.db["outbox"]  # type: ignore[assignment]
        self._on_commit = []
        self.remark_after = 2.5

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def events(self) -> list[dict[str, Any]]:
        """Every event committed so far, as the relay would publish them, in order: routing key, and
        the event's data."""

        found = []
        async for commit in self.commits.find({}).sort("at", 1):
            for entry in commit.get("events", []):
                found.append({"routing_key": entry["routing_key"], "data": json.loads(entry["body"])["data"]})
        return found
