"""Each service's own read model of the administrative tree, fed by UnitRegistered, UnitRenamed,
UnitMoved and UnitRetired.

Scope is decided from it: a unit sees itself, a parent sees all of its descendants, nobody sees a
sibling. `path` (ancestors from the root) makes "is X under Y" one lookup.
"""

from __future__ import annotations

from typing import Any

from moha_contracts import Envelope, UnitMoved, UnitRegistered, UnitRenamed, UnitRetired

from . import readmodel
from .auth import Principal
from .messaging import EventConsumers, Retry
from .store import Store

# What readers never need: the orders of the parts (chassis/readmodel.py).
HIDDEN = {readmodel.ORDERS: 0}


class UnitDirectory:
    def __init__(self, store: Store) -> None:
        self.units = store["units"]
        # unit id -> level, once read: a unit's level is a fact of its registration, never changed.
        self._levels: dict[str, str] = {}

    def subscribe(self, consumers: EventConsumers) -> None:
        consumers.on(UnitRegistered)(self._on_unit_registered)
        consumers.on(UnitRenamed)(self._on_unit_renamed)
        consumers.on(UnitRetired)(self._on_unit_retired)
        consumers.on(UnitMoved)(self._on_unit_moved)

    # Each change is one conditional write that applies only what is newer (chassis/readmodel.py):
    # a unit's name, its place and its status are ordered each on its own, by when accounts
    # committed the event, so an older move, rename or registration seen late undoes nothing.
    async def _on_unit_moved(self, envelope: Envelope, event: UnitMoved) -> None:
        await self.require(event.unit_id)
        await readmodel.apply(
            self.units,
            event.unit_id,
            "place",
            readmodel.event_order(envelope),
            {"parent_id": event.parent_id, "path": event.path, "moved_at": event.moved_at},
        )

    async def _on_unit_renamed(self, envelope: Envelope, event: UnitRenamed) -> None:
        await self.require(event.unit_id)
        await readmodel.apply(
            self.units,
            event.unit_id,
            "name",
            readmodel.event_order(envelope),
            {"name": event.name, "renamed_at": event.renamed_at},
        )

    async def _on_unit_retired(self, envelope: Envelope, event: UnitRetired) -> None:
        # Kept, not deleted: its data and the scope of those above it stay as they were.
        await self.require(event.unit_id)
        await readmodel.apply(
            self.units,
            event.unit_id,
            "status",
            readmodel.event_order(envelope),
            {"status": "retired", "merged_into": event.merged_into},
        )

    async def _on_unit_registered(self, envelope: Envelope, event: UnitRegistered) -> None:
        # The oldest event of a unit: its name and place stand until a rename or a move, even one
        # seen before it; its code and level never change.
        await readmodel.apply_parts(
            self.units,
            event.unit_id,
            readmodel.event_order(envelope),
            {"place": {"parent_id": event.parent_id, "path": event.path}, "name": {"name": event.name}},
            facts={"code": event.code, "level": event.level},
        )

    async def get(self, unit_id: str) -> dict[str, Any] | None:
        return await self.units.find_one({"_id": unit_id}, HIDDEN)

    async def by_code(self, code: str) -> dict[str, Any] | None:
        return await self.units.find_one({"code": code}, HIDDEN)

    async def search(self, needle: str, limit: int = 50) -> list[dict[str, Any]]:
        """Active units whose code or name contains `needle` (case-insensitive), for pickers."""
        found = []
        async for unit in self.units.find({}, HIDDEN):
            if unit.get("status", "active") == "active" and (
                not needle or needle in unit["code"].lower() or needle in unit["name"].lower()
            ):
                found.append(unit)
                if len(found) >= limit:
                    break
        return found

    async def require(self, unit_id: str) -> dict[str, Any]:
        """For event handlers: an event about a unit not yet known here arrived before its
        UnitRegistered; retry it later rather than act on half the picture."""
        unit = await self.get(unit_id)
        if unit is None:
            raise Retry(f"unit {unit_id} not known yet")
        return unit

    async def place(self, unit_id: str) -> tuple[list[str], readmodel.Order] | None:
        """The unit's ancestors and itself, with the order of the event that put it there: for a
        read model that copies the lineage and must take only a newer one (chassis/readmodel.py)."""
        unit = await self.units.find_one({"_id": unit_id}, {"path": 1, readmodel.ORDERS: 1})
        if unit is None:
            return None
        return [*unit["path"], unit_id], unit.get(readmodel.ORDERS, {}).get("place", "")

    async def levels(self, unit_ids: list[str]) -> dict[str, str]:
        """The level of each of these units the tree knows (the unknown are left out): from memory
        for those read before, the others in one query."""
        missing = [u for u in dict.fromkeys(unit_ids) if u not in self._levels]
        if missing:
            async for doc in self.units.find({"_id": {"$in": missing}}, {"level": 1}):
                if doc.get("level"):
                    self._levels[doc["_id"]] = doc["level"]
        return {u: self._levels[u] for u in unit_ids if u in self._levels}

    async def lineage(self, unit_id: str) -> list[str] | None:
        """The unit's ancestors and itself, or None if it is unknown."""
        unit = await self.get(unit_id)
        return None if unit is None else [*unit["path"], unit_id]

    async def reaches_scope(self, principal: Principal, scope_unit_ids: list[str]) -> bool:
        """Whether the caller may read something scoped to these units (a campaign, a survey): its
        unit is in the scope, or above it (the Ministry is above everything); a sibling is not."""
        lineage = await self.lineage(principal.unit_id)
        if lineage is None:
            return False
        scope = [doc async for doc in self.units.find({"_id": {"$in": list(scope_unit_ids)}}, {"path": 1})]
        return in_or_above_scope(lineage, {doc["_id"]: doc["path"] for doc in scope})

    async def can_see(self, principal: Principal, unit_id: str) -> bool:
        if principal.unit_id == unit_id:
            return True
        if principal.role == "reporting_unit":
            return False
        lineage = await self.lineage(unit_id)
        return lineage is not None and principal.unit_id in lineage


def in_or_above_scope(lineage: list[str], scope_paths: dict[str, list[str]]) -> bool:
    """`lineage`: the caller's unit's ancestors and itself; `scope_paths`: each scope unit's
    ancestors. Inside: a scope unit is in the caller's lineage. Above: the caller's unit is an
    ancestor of a scope unit."""
    unit_id = lineage[-1]
    return any(scope_id in lineage or unit_id in path for scope_id, path in scope_paths.items())
