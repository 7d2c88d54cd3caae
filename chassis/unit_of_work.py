"""The unit of work and its repositories (cosmicpython, chapters 6 and 7), over `chassis.Store`.

A use case is a function of a command, a unit of work and its dependencies. It loads aggregates
through the unit of work's repositories, asks them to change (only aggregates raise events), and
commits. `commit` saves each aggregate that changed, with the events it raised, through the
store's atomic commit (chassis/store.py); the action's audit entry rides in the first of those
commits, or in a commit of its own when nothing changed (`Store.record`).

A stale version (another writer got there first) is handled in one place with one policy: `run`
calls the use case again with a fresh unit of work, which reads again, decides again and writes
again. It does so only while the unit of work has committed nothing, so a use case is never half
applied twice; a use case that changes several aggregates and loses the second is a 409.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from moha_contracts import Event

from .store import StaleVersion, Store

if TYPE_CHECKING:
    from .audit import AuditEntry

# How many times a use case is run when it keeps meeting a newer version, and the first pause (it
# doubles, with jitter, so writers racing for one document spread out instead of colliding again).
TRIES = 8
FIRST_PAUSE = 0.01


class Aggregate(Protocol):
    id: Any
    version: int  # 0: new, not stored yet
    events: list[Event]


A = TypeVar("A", bound=Aggregate)
U = TypeVar("U", bound="UnitOfWork")
T = TypeVar("T")


class Repository(Generic[A]):
    """The aggregates of one collection. A subclass says how one is stored and read back; queries
    beyond `get` are its own methods, and what they load they pass to `seen` to be tracked."""

    collection: ClassVar[str]

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.store = uow.store

    def to_document(self, aggregate: A) -> dict[str, Any]:
        """The stored fields, without `_id` and `version` (the store keeps those). A fresh document
        each call, sharing no list or dict with the aggregate: the unit of work keeps the one taken
        at load and compares it with the one at commit to know what changed."""
        raise NotImplementedError

    def from_document(self, doc: dict[str, Any]) -> A:
        raise NotImplementedError

    def appended(self, aggregate: A) -> dict[str, list[Any]]:
        """Items added at the end of the aggregate's lists since it was loaded (field -> items),
        stored as `$push` so a long history costs each change what it adds. None by default: such
        fields are then part of `to_document`."""
        return {}

    def saved(self, aggregate: A) -> None:
        """Called once the aggregate is stored: forget what `appended` reported."""

    async def get(self, aggregate_id: Any) -> A | None:
        tracked = self.uow.tracked(self.collection, aggregate_id)
        if tracked is not None:
            return tracked
        doc = await self.store.find(self.collection, aggregate_id)
        return None if doc is None else self.seen(self.from_document(doc))

    def add(self, aggregate: A) -> A:
        """A new aggregate (version 0), created at commit."""
        return self.seen(aggregate)

    def seen(self, aggregate: A) -> A:
        """Track an aggregate this repository loaded: it is saved at commit if it changed."""
        return self.uow.track(self, aggregate)


class UnitOfWork:
    """One use case's reads and writes. A service subclasses it to name its repositories."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # (collection, id) -> (repository, aggregate, its stored fields when loaded or last saved)
        self._tracked: dict[tuple[str, Any], tuple[Repository[Any], Any, dict[str, Any] | None]] = {}
        self.committed = False  # something was written: running the use case again would repeat it

    def track(self, repository: Repository[A], aggregate: A) -> A:
        key = (repository.collection, aggregate.id)
        if key in self._tracked:
            return self._tracked[key][1]
        before = repository.to_document(aggregate) if aggregate.version else None
        self._tracked[key] = (repository, aggregate, before)
        return aggregate

    def tracked(self, collection: str, aggregate_id: Any) -> Any | None:
        entry = self._tracked.get((collection, aggregate_id))
        return None if entry is None else entry[1]

    def changed(self) -> list[Any]:
        """The aggregates that commit would write now."""
        return [agg for repo, agg, before in self._tracked.values() if self._dirty(repo, agg, before)]

    @staticmethod
    def _dirty(repo: Repository[Any], aggregate: Any, before: dict[str, Any] | None) -> bool:
        return (
            before is None
            or bool(aggregate.events)
            or bool(repo.appended(aggregate))
            or repo.to_document(aggregate) != before
        )

    async def commit(self, audit: AuditEntry | None = None) -> None:
        """Save every tracked aggregate that changed, each with its events, in the order they were
        loaded; the audit entry goes with the first (or alone when nothing changed)."""
        for key, (repo, aggregate, before) in list(self._tracked.items()):
            if not self._dirty(repo, aggregate, before):
                continue
            fields = repo.to_document(aggregate)
            appended = repo.appended(aggregate)
            events = list(aggregate.events)
            if before is None:
                lists = {name: list(items) for name, items in appended.items()}
                await self.store.insert(repo.collection, {"_id": aggregate.id, **fields, **lists}, events, audit=audit)
                aggregate.version = 1
            else:
                changes = {k: v for k, v in fields.items() if before.get(k, _MISSING) != v}
                aggregate.version = await self.store.update(
                    repo.collection, aggregate.id, aggregate.version, changes, events, audit=audit, append=appended
                )
            audit = None
            self.committed = True
            aggregate.events.clear()
            repo.saved(aggregate)
            self._tracked[key] = (repo, aggregate, repo.to_document(aggregate))
        if audit is not None:
            await self.store.record(audit)
            self.committed = True


_MISSING = object()


async def run(
    make: Callable[[], U], use_case: Callable[[U], Awaitable[T]], *, tries: int = TRIES, pause: float = FIRST_PAUSE
) -> T:
    """Run `use_case` with a fresh unit of work; again, from its reads, when it lost a version race
    before writing anything. The last StaleVersion is raised (a 409 over HTTP, a redelivery from a
    queue)."""
    for attempt in range(tries):
        uow = make()
        try:
            return await use_case(uow)
        except StaleVersion:
            if uow.committed or attempt == tries - 1:
                raise
        await asyncio.sleep(random.uniform(0, pause * 2**attempt))
    raise AssertionError("unreachable")
