"""The audit trail: who did what, from where, to which thing; written with the action, chained by hash.

Written with the action. An entry travels inside the commit of the change it describes
(chassis/store.py): the commit is the one atomic write, so an action is never stored without its
entry, nor an entry without its action. An action that changes nothing stored (a sign-in, an
export, a download) is a commit of its own that changes no document (`Store.record`).

Chained. Each service's entries form one chain in its own database (`audit_chain`): entry n has
`_id` n, the SHA-256 of entry n-1 (`prev`) and its own (`hash`), over a canonical serialisation
(`canonical`). The outbox relay chains a commit's entry when it publishes its events: at once for
the commits of its own process, and by its recovery pass for those a dead writer left. A sequence
number is claimed by inserting it (unique `_id`), an entry by its commit (unique `source`): any
number of chainers, in any number of replicas, make one chain with no fork, no gap and no entry
twice (docs/decisions/0016-audit-trail.md).

Verified. `python -m chassis.audit verify --service accounts` walks the chain (MONGODB_URL,
DATABASE) and names the first entry that was changed, removed, moved or added, or that no longer
matches the commit it was written with.

An entry holds ids, codes, counts and kinds only: never a secret, never a personal detail (a name,
an e-mail address, a free-text reason). It can never be changed or erased, so what it must not
keep for ever it must not hold; the commit it points at (`source`) holds the change itself.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError

from .logging import get_logger

if TYPE_CHECKING:
    from fastapi import Request

    from .store import Store

log = get_logger("chassis.audit")

CHAIN = "audit_chain"
GENESIS = "0" * 64  # the `prev` of the first entry
# Detail keys that would carry a secret or a personal detail: refused, so that one cannot slip
# into an entry that can never be erased.
FORBIDDEN_DETAILS = frozenset(
    {
        "password",
        "initial_password",
        "new_password",
        "current_password",
        "password_hash",
        "token",
        "secret",
        "email",
        "display_name",
        "full_name",
        "name",
        "reason",
        "body",
        "title",
        "answers",
        "credentials",
    }
)
# Claims of sequence numbers lost to other chainers before one gives up (and the relay retries).
ROUNDS = 500


@dataclass
class AuditEntry:
    """What an auditor asks: which action, its outcome, who (account id and name), on what (an
    id), in which part of the tree (for administrators' reading scope), from which address."""

    action: str
    outcome: str = "ok"
    actor_id: str | None = None
    actor_username: str | None = None
    target_id: str | None = None
    unit_lineage: list[str] = field(default_factory=list)
    ip: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        refused = FORBIDDEN_DETAILS & set(self.details)
        if refused:
            raise ValueError(f"an audit entry holds ids only, not {sorted(refused)}")
        fields = asdict(self)
        canonical(fields)  # refused now, by the action, rather than later by the chainer, for ever
        return fields


def entry(
    request: Request | None,
    action: str,
    *,
    actor: Any = None,
    target_id: str | None = None,
    unit_lineage: Iterable[str] = (),
    outcome: str = "ok",
    **details: Any,
) -> AuditEntry:
    """An entry for an HTTP request: the caller's address as every audit trail records it. `actor`
    is a token's Principal or an account (its id and username are taken, nothing else)."""
    from .http import client_ip  # chassis.http imports the store, which imports this module's users

    return AuditEntry(
        action=action,
        outcome=outcome,
        actor_id=getattr(actor, "account_id", None) or getattr(actor, "id", None),
        actor_username=getattr(actor, "username", None) or None,
        target_id=target_id,
        unit_lineage=list(dict.fromkeys(unit_lineage)),
        ip=client_ip(request) if request is not None else None,
        details=details,
    )


async def record(request: Request, audit: AuditEntry) -> None:
    """Write the entry of an action that changes nothing stored (an export, a read of answers)
    through the service's store, before the action's result leaves."""
    await request.app.state.runtime.store.record(audit)


# Canonical serialisation and hashes ---------------------------------------------------------------
def stored_time(at: datetime) -> datetime:
    """A time as the store keeps it: UTC, to the millisecond (BSON dates are milliseconds)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return stored_time(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"an audit entry cannot hold a {type(value).__name__}")


def canonical(doc: Mapping[str, Any]) -> bytes:
    """One byte string per content, whatever the key order or the store's round trip: JSON with
    sorted keys, no spaces, UTF-8, times as UTC ISO 8601 to the millisecond."""
    return json.dumps(_plain(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def entry_hash(doc: Mapping[str, Any]) -> str:
    """The SHA-256 of a chained entry: everything in it but the hash itself (its `_id`, the
    sequence number, and `prev` included)."""
    return hashlib.sha256(canonical({k: v for k, v in doc.items() if k != "hash"})).hexdigest()


def body_of(commit: Mapping[str, Any]) -> dict[str, Any]:
    """A chained entry's content, from the commit that carries it."""
    return {
        "source": commit["_id"],
        "at": stored_time(commit["at"]),
        "correlation_id": commit.get("correlation_id"),
        **commit["audit"],
    }


# The chain -------------------------------------------------------------------------------------
class AuditChain:
    """A service's chain, appended to by any number of chainers at once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.collection = store[CHAIN]
        self._head: tuple[int, str] | None = None  # the last entry this chainer knows of
        self._indexed = False
        self._lock = asyncio.Lock()
        self.chained = 0  # entries this chainer appended
        self.lost_claims = 0  # numbers another chainer took first: the cost of replicas chaining at once

    async def create_indexes(self) -> None:
        # `source` unique: the same entry offered by two chainers (the writer's relay and another
        # replica's recovery) is chained once. The only index every chain needs: each costs every
        # insert; a service that reads its trail by area or time adds its own (`reading_indexes`).
        await self.collection.create_index("source", unique=True)
        self._indexed = True

    async def reading_indexes(self) -> None:
        """For a service that serves its trail: by the administrator's area, newest first."""
        await self.collection.create_index("unit_lineage")
        await self.collection.create_index([("at", DESCENDING), ("_id", DESCENDING)])

    async def append(self, commits: Iterable[Mapping[str, Any]], *, fresh: bool = False) -> int:
        """Chain the entries these commits carry, in this order; those chained already are
        skipped. `fresh`: commits this process has just made, which nobody else can have chained
        yet (the relay's fast path): no need to look first. Returns how many this call chained."""
        bodies = [body_of(c) for c in commits if c.get("audit")]
        if not bodies:
            return 0
        return await self._append(bodies, fresh=fresh)

    async def _append(self, bodies: list[dict[str, Any]], *, fresh: bool = False) -> int:
        if not self._indexed:
            await self.create_indexes()
        async with self._lock:  # one process's chainers take turns: fewer lost claims
            # Those chained already (by another replica's recovery, or before a crash) are skipped
            # in one query, rather than found one lost claim at a time.
            done = (
                set()
                if fresh
                else {
                    d["source"]
                    async for d in self.collection.find(
                        {"source": {"$in": [b["source"] for b in bodies]}}, {"source": 1}
                    )
                }
            )
            pending = [b for b in bodies if b["source"] not in done]
            added = 0
            for attempt in range(ROUNDS):
                if not pending:
                    return added
                inserted, lost = await self._claim(pending)
                added += inserted
                self.chained += inserted
                self.lost_claims += lost == "seq"
                pending = pending[inserted:]
                if lost == "source" or (
                    lost == "unknown" and await self.collection.find_one({"source": pending[0]["source"]}, {"_id": 1})
                ):
                    pending = pending[1:]  # chained by someone else meanwhile
                elif lost:
                    # Another chainer is appending too: let it finish its run of numbers.
                    await asyncio.sleep(random.uniform(0.001, 0.005) * min(attempt + 1, 10))
        raise RuntimeError(f"audit chain: no sequence number claimed in {ROUNDS} rounds")

    async def _claim(self, bodies: list[dict[str, Any]]) -> tuple[int, str | None]:
        """Insert the entries as the next numbers after the head, in one ordered write: how many
        went in, and what stopped the others: the next number taken (`seq`), the next entry
        chained already (`source`), or either (`unknown`: the server did not say); None if nothing."""
        seq, prev = self._head or await self.head()
        docs = []
        for body in bodies:
            doc = {"_id": seq + 1, "prev": prev, **body}
            doc["hash"] = entry_hash(doc)
            docs.append(doc)
            seq, prev = doc["_id"], doc["hash"]
        try:
            await self.collection.insert_many(docs, ordered=True)
        except BulkWriteError as exc:
            inserted = exc.details.get("nInserted", 0)  # those before the lost claim are in
            self._head = None  # where the chain ends now is read again
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise
            key = errors[0].get("keyPattern") or {}
            return inserted, "source" if "source" in key else "seq" if "_id" in key else "unknown"
        self._head = (seq, prev)
        return len(docs), None

    async def head(self) -> tuple[int, str]:
        last = await self.collection.find_one({}, {"_id": 1, "hash": 1}, sort=[("_id", DESCENDING)])
        return (0, GENESIS) if last is None else (last["_id"], last["hash"])

    async def catch_up(self) -> int:
        """Chain now every entry committed and not chained yet, whichever process wrote it: a
        reader of the trail then sees what was done before it asked. Commits with entries keep an
        outbox marker flagged `audit` until they are chained (chassis/store.py)."""
        ids = [m["_id"] async for m in self.store.outbox.find({"audit": True}, {"_id": 1})]
        if not ids:
            return 0
        found = {c["_id"]: c async for c in self.store.commits.find({"_id": {"$in": ids}})}
        ordered = sorted(found.values(), key=lambda c: c["at"])
        return await self.append(ordered)

    async def adopt(self, legacy: str) -> int:
        """Chain the entries of an audit collection written before the chain existed (accounts'
        `audit`), oldest first, each once: `source` is `legacy:<its id>`."""
        collection = self.store[legacy]
        docs = [d async for d in collection.find({"adopted": {"$ne": True}}).sort("at", ASCENDING)]
        added = 0
        for doc in docs:
            body = {
                "source": f"legacy:{doc['_id']}",
                "at": stored_time(doc["at"]),
                "correlation_id": None,
                **{k: doc.get(k) for k in AuditEntry.__dataclass_fields__},
            }
            body["unit_lineage"] = body["unit_lineage"] or []
            # What was kept then but must not be kept for ever (a reason, a name) stays behind.
            body["details"] = _plain({k: v for k, v in (body["details"] or {}).items() if k not in FORBIDDEN_DETAILS})
            added += await self._append([body])
            await collection.update_one({"_id": doc["_id"]}, {"$set": {"adopted": True}})
        return added


# Verification ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Broken:
    seq: int
    problem: str
    entry: dict[str, Any] | None = None  # what stands at that place now, if anything

    def describe(self) -> str:
        what = ""
        if self.entry:
            what = f" ({self.entry.get('action')}, {self.entry.get('outcome')}, at {_plain(self.entry.get('at'))})"
        return f"entry {self.seq}{what}: {self.problem}"


@dataclass(frozen=True)
class Report:
    entries: int
    head: tuple[int, str]
    broken: Broken | None

    @property
    def intact(self) -> bool:
        return self.broken is None


class _Walk:
    """Entries in `_id` order: each must be the next number, hold its own hash, and name its
    predecessor's."""

    def __init__(self) -> None:
        self.expected, self.prev, self.count = 1, GENESIS, 0

    @property
    def head(self) -> tuple[int, str]:
        return self.expected - 1, self.prev

    def step(self, doc: Mapping[str, Any]) -> Broken | None:
        self.count += 1
        seq = doc.get("_id")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return Broken(self.expected, f"an entry with id {seq!r} stands in the chain", dict(doc))
        if seq != self.expected:
            return Broken(
                self.expected, f"missing: the chain goes from {self.expected - 1} to {seq} (removed or moved)"
            )
        try:
            own = entry_hash(doc)
        except TypeError as exc:
            return Broken(seq, f"unreadable ({exc})", dict(doc))
        if doc.get("hash") != own:
            return Broken(seq, "its content does not match its hash: changed or moved after it was written", dict(doc))
        if doc.get("prev") != self.prev:
            return Broken(seq, f"does not follow entry {seq - 1}: the hash it names is not that entry's", dict(doc))
        self.expected, self.prev = seq + 1, doc["hash"]
        return None


def check_links(docs: Iterable[Mapping[str, Any]]) -> Report:
    """The links alone, over entries in `_id` order (no store: for the tests of the rules)."""
    walk = _Walk()
    for doc in docs:
        if (broken := walk.step(doc)) is not None:
            return Report(walk.count, walk.head, broken)
    return Report(walk.count, walk.head, None)


async def verify(
    store: Store, *, commits: bool = True, expect_head: tuple[int, str] | None = None, batch: int = 500
) -> Report:
    """The whole chain checked, and (`commits`) each entry against the commit it came from, which
    is a second copy an editor of the chain would have to find and change too. `expect_head`, a
    head recorded earlier (every run prints one), also catches a chain cut short, or rewritten
    from some entry on with every hash recomputed."""
    collection = store[CHAIN]
    walk, broken = _Walk(), None
    pending: list[dict[str, Any]] = []
    async for doc in collection.find({}).sort("_id", ASCENDING):
        link = walk.step(doc)
        if link is not None:
            # An entry before this one that differs from its commit is the first broken one.
            broken = (await _against_commits(store, pending) if commits else None) or link
            break
        pending.append(doc)
        if len(pending) >= batch:
            if commits and (broken := await _against_commits(store, pending)) is not None:
                break
            pending = []
    else:
        if commits and pending:
            broken = await _against_commits(store, pending)
    if broken is None and expect_head is not None:
        seq, expected_hash = expect_head
        held = await collection.find_one({"_id": seq})
        if held is None:
            broken = Broken(seq, f"the head recorded earlier is gone: the chain ends at {walk.head[0]}")
        elif held.get("hash") != expected_hash:
            broken = Broken(seq, "differs from the head recorded earlier: the chain was rewritten", held)
    return Report(entries=walk.count, head=walk.head, broken=broken)


async def _against_commits(store: Store, docs: list[dict[str, Any]]) -> Broken | None:
    sources = [
        d.get("source") for d in docs if isinstance(d.get("source"), str) and not d["source"].startswith("legacy:")
    ]
    found = {
        c["_id"]: c
        async for c in store.commits.find({"_id": {"$in": sources}}, {"at": 1, "audit": 1, "correlation_id": 1})
    }
    for doc in docs:
        source = doc.get("source")
        if not isinstance(source, str) or source.startswith("legacy:"):
            continue
        commit = found.get(source)
        if commit is None or not commit.get("audit"):
            return Broken(doc["_id"], f"the commit it was written with ({source}) is gone", doc)
        written = {k: v for k, v in doc.items() if k not in ("_id", "prev", "hash")}
        if canonical(written) != canonical(body_of(commit)):
            return Broken(doc["_id"], f"differs from the commit it was written with ({source})", doc)
    return None


# The command -----------------------------------------------------------------------------------
def _parse_head(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    return int(seq), digest


async def _verify_command(args: argparse.Namespace) -> int:
    from .store import Store

    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    database = os.environ.get("DATABASE") or f"moha_{args.service}"
    store = Store(url, database)
    try:
        report = await verify(
            store, commits=not args.no_commits, expect_head=_parse_head(args.expect_head) if args.expect_head else None
        )
    finally:
        await store.close()
    where = f"audit chain of {args.service} ({database})"
    head = f"head {report.head[0]}:{report.head[1]}"
    if report.intact:
        print(f"{where}: intact, {report.entries} entries; {head}")
        return 0
    assert report.broken is not None
    print(f"{where}: BROKEN at {report.broken.describe()}; intact up to {head}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chassis.audit", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="verify a service's audit chain (MONGODB_URL, DATABASE)")
    check.add_argument("--service", required=True, help="accounts, forms, approvals, notifications, …")
    check.add_argument(
        "--expect-head", metavar="SEQ:SHA256", help="a head printed by an earlier run: the chain must still hold it"
    )
    check.add_argument(
        "--no-commits", action="store_true", help="check the links only, not each entry against its commit"
    )
    args = parser.parse_args(argv)
    return asyncio.run(_verify_command(args))


if __name__ == "__main__":
    sys.exit(main())
