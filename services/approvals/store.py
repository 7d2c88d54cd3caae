"""Approvals' own database: review tasks (with their outbox)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chassis.store import AlreadyExists, StaleVersion, Store

from .domain.model import OPEN, ReviewTask

TASKS = "review_tasks"
ASSIGNMENTS = "assignments"
_FIELDS = [f for f in ReviewTask.__dataclass_fields__ if f not in ("id", "version", "events")]


class TaskStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_indexes(self) -> None:
        await self.store[TASKS].create_index([("unit_lineage", 1), ("status", 1)])

    async def add(self, task: ReviewTask) -> bool:
        """False if the task exists already (the same submission seen twice)."""
        try:
            await self.store.insert(TASKS, {"_id": task.id, **_fields(task), "version": 1}, task.events)
        except AlreadyExists:
            return False
        task.events.clear()
        return True

    async def get(self, task_id: str) -> ReviewTask | None:
        doc = await self.store.find(TASKS, task_id)
        return None if doc is None else _from_doc(doc)

    async def save(self, task: ReviewTask) -> None:
        task.version = await self.store.update(TASKS, task.id, task.version, _fields(task), task.events)
        task.events.clear()

    async def assigned_units(self, supervisor_id: str) -> list[str]:
        doc = await self.store[ASSIGNMENTS].find_one({"_id": supervisor_id})
        return doc["unit_ids"] if doc else []

    async def set_assignment(self, supervisor_id: str, unit_ids: list[str], version: int) -> None:
        current = await self.store[ASSIGNMENTS].find_one({"_id": supervisor_id})
        # Assignments may arrive out of order: only a newer one replaces what is known.
        if current is None or current["version"] < version:
            await self.store[ASSIGNMENTS].update_one(
                {"_id": supervisor_id}, {"$set": {"unit_ids": unit_ids, "version": version}}, upsert=True
            )

    async def move_open_tasks(self, unit_id: str, lineage: list[str]) -> None:
        async for doc in self.store[TASKS].find({"unit_id": unit_id, "status": OPEN}):
            task = _from_doc(doc)
            if task.unit_lineage != lineage:
                task.unit_lineage = lineage
                try:
                    await self.save(task)
                except StaleVersion:
                    pass  # decided meanwhile: it keeps the lineage it was decided under

    async def queue(self, reviewer_unit_id: str, status: str = OPEN, limit: int = 200) -> list[ReviewTask]:
        cursor = self.store[TASKS].find({"unit_lineage": reviewer_unit_id, "status": status}).limit(limit)
        return [_from_doc(d) async for d in cursor]


def _fields(task: ReviewTask) -> dict[str, Any]:
    data = asdict(task)
    return {k: data[k] for k in _FIELDS}


def _from_doc(doc: dict[str, Any]) -> ReviewTask:
    return ReviewTask(id=doc["_id"], version=doc["version"], **{k: doc.get(k) for k in _FIELDS})
