"""Read models fed by events: the one way they change, which applies only what is newer.

Consumers handle events concurrently (a prefetch of several, several queues of one service,
replicas) and out of order (retries, catching up from the history beside the live queues). A
read model written by "read the document, compare, write" loses updates then: two handlers read
the same state, the older event writes last. So a read model never reads to decide a write; each
change is one conditional update that MongoDB applies atomically to one document
(docs/decisions/0019-read-models-apply-only-what-is-newer.md):

- a document is made of *parts* (a unit's name, its place in the tree, its status), each with the
  order of the event that last set it, kept in `_order.<part>`; an event sets a part only if its
  order is greater than the one kept (`$not: {$gte: …}` also matches a part never set);
- the update is an upsert, so the first event of a document creates it whatever its kind. An
  upsert whose filter does not match a document that exists tries an insert and gets a duplicate
  key: that means "it exists, and its part is as new or newer" — or that a concurrent upsert
  created it a moment ago, so the conditional update is tried once more without upsert, which
  then decides for good (documents of a read model are never deleted);
- `facts`: fields that never change once known (a unit's code and level), set with whatever
  event carries them even if the part it orders is newer.

An order is one comparable value of the same BSON type for every event of a part: an integer the
publisher increments (an assignment's version, an entry's sequence), a time that only moves one
way (the line before which tokens end), or `event_order(envelope)`: the time the event was
committed, then its id to break ties, as one string.

The other kind of read model is a set of facts, one insert each keyed by what it is about
(`insert_fact`), folded when read or into a document (approvals' progress): duplicates are
one fact, order does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from moha_contracts import Envelope

Order = int | str | datetime

ORDERS = "_order"


def event_order(envelope: Envelope) -> str:
    """The order of an event among those of one aggregate: when it was committed (UTC, to the
    microsecond, fixed width so that strings sort as times), then its id. A writer commits a
    change only after reading the one before it (decision 0002), so an aggregate's events are in
    this order, up to the skew between its publisher's replicas' clocks."""
    at = envelope.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{at}|{envelope.id}"


def order_field(part: str) -> str:
    """Where a part's order is kept; a part may name a field of its own instead (`=version`:
    a read model whose documents kept their order in a field before this module)."""
    return part[1:] if part.startswith("=") else f"{ORDERS}.{part}"


def _newer(part: str, order: Order) -> dict[str, Any]:
    return {order_field(part): {"$not": {"$gte": order}}}


async def apply(
    collection: AsyncCollection,
    doc_id: Any,
    part: str,
    order: Order,
    fields: Mapping[str, Any],
    *,
    facts: Mapping[str, Any] | None = None,
    upsert: bool = True,
) -> bool:
    """Set `fields` (the part `part`) of the document `doc_id` if `order` is newer than what set
    them last, creating the document if needed (unless `upsert` is False: then a document not
    there is left alone); `facts` are set either way. True if the part was set."""
    return bool(await apply_parts(collection, doc_id, order, {part: fields}, facts=facts, upsert=upsert))


async def apply_parts(
    collection: AsyncCollection,
    doc_id: Any,
    order: Order,
    parts: Mapping[str, Mapping[str, Any]],
    *,
    facts: Mapping[str, Any] | None = None,
    upsert: bool = True,
) -> set[str]:
    """One event setting several parts (a unit's registration: its name and its place): in one
    write when all of them are older, so that nobody reads half of a first event; otherwise each
    part on its own. The parts it set."""
    update = {
        "$set": {
            **{k: v for fields in parts.values() for k, v in fields.items()},
            **(facts or {}),
            **{order_field(part): order for part in parts},
        }
    }
    where = {"_id": doc_id, **{k: v for part in parts for k, v in _newer(part, order).items()}}
    try:
        result = await collection.update_one(where, update, upsert=upsert)
    except DuplicateKeyError:
        # The document exists: either a part is as new or newer, or a concurrent first event
        # created it between our filter and our insert. Without upsert the same filter decides.
        result = await collection.update_one(where, update)
    if result.matched_count or result.upserted_id is not None:
        return set(parts)
    if len(parts) > 1:
        return {
            part
            for part, fields in parts.items()
            if await apply_parts(collection, doc_id, order, {part: fields}, facts=facts, upsert=upsert)
        }
    if facts and upsert:
        await collection.update_one({"_id": doc_id}, {"$set": dict(facts)})
    return set()


async def apply_many(
    collection: AsyncCollection, query: Mapping[str, Any], part: str, order: Order, fields: Mapping[str, Any]
) -> int:
    """The same, for every document `query` matches (a unit's records following its move):
    each one takes the change only if it is newer than what set its part. Creates nothing."""
    result = await collection.update_many(
        {**query, **_newer(part, order)}, {"$set": {**fields, order_field(part): order}}
    )
    return result.modified_count


async def add_to_set(collection: AsyncCollection, doc_id: Any, field: str, value: Any) -> None:
    """Add `value` to the set `field` of `doc_id` (a unit's accounts), creating the document if
    needed: a set that only grows is the same whatever order its items come in."""
    update = {"$addToSet": {field: value}}
    try:
        await collection.update_one({"_id": doc_id}, update, upsert=True)
    except DuplicateKeyError:  # created by a concurrent first item a moment ago
        await collection.update_one({"_id": doc_id}, update)


async def insert_fact(collection: AsyncCollection, doc: Mapping[str, Any]) -> bool:
    """Keep a fact once, keyed by its `_id` (the event, or what it is about); False if it was
    there already. Facts are never changed, so their order does not matter."""
    try:
        await collection.insert_one(dict(doc))
    except DuplicateKeyError:
        return False
    return True
