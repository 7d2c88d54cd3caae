"""Personnel's use cases: open, enter, correct and move records, import a unit's sheet, act on a
move's decision. The HTTP routes and the event handlers are thin adapters over these; the domain
decides, the store keeps. Scope is checked here, before anything is read or written: a unit manages
its own records, a parent all of its descendants' (domain.model.manages)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from chassis.auth import Principal
from chassis.errors import Conflict, NotFound
from chassis.logging import get_logger
from chassis.messaging import Malformed
from chassis.store import StaleVersion
from chassis.tree import UnitDirectory
from chassis.unit_of_work import TRIES, run
from moha_contracts import MoveApproved, MoveReturned, RecordChanged

from .domain.definitions import Problem, RecordDefinition
from .domain.imports import ImportRejected, RowError, plan_import
from .domain.model import Document, EntryInvalid, MoveUnknown, Record, manages
from .store import DefinitionStore, PersonnelUnitOfWork, RecordStore, Sealed

log = get_logger("personnel.usecases")
T = TypeVar("T")
PART_SIZE = 500  # records per stored part of an import (a document stays far below 16 MB), written at once


class Records:
    def __init__(
        self,
        store: RecordStore,
        definitions: DefinitionStore,
        tree: UnitDirectory,
        make_uow: Callable[[], PersonnelUnitOfWork],
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.tree = tree
        self.make_uow = make_uow

    async def _run(self, use_case: Callable[[PersonnelUnitOfWork], Awaitable[T]], expected_version: int | None) -> T:
        """Run again from its reads on a lost version race; but a caller that named the version it
        saw wants to hear that the record changed (409), not its change made over a newer one."""
        return await run(self.make_uow, use_case, tries=1 if expected_version is not None else TRIES)

    # Reading ---------------------------------------------------------------------------------
    async def unit_in_scope(self, principal: Principal, unit_id: str) -> list[str]:
        """The unit's lineage, if the caller manages it; otherwise it does not exist for the caller."""
        lineage = await self.tree.lineage(unit_id)
        if lineage is None or not manages(principal.unit_id, lineage):
            raise NotFound("Không tìm thấy đơn vị")
        return lineage

    async def readable(self, principal: Principal, record_id: str, uow: PersonnelUnitOfWork | None = None) -> Record:
        record = await (uow.records.get(record_id) if uow is not None else self.store.get(record_id))
        if record is None:
            raise NotFound("Không tìm thấy hồ sơ")
        lineage = await self.tree.lineage(record.unit_id)
        if lineage is None or not manages(principal.unit_id, lineage):
            raise NotFound("Không tìm thấy hồ sơ")  # out of scope reads like unknown
        return record

    async def definition(self, kind: str) -> tuple[RecordDefinition, dict[int, RecordDefinition]]:
        versions = await self.definitions.versions(kind)
        if not versions:
            raise NotFound(f"Không có loại hồ sơ '{kind}'")
        return versions[max(versions)], versions

    # Writing ---------------------------------------------------------------------------------
    async def open(
        self,
        principal: Principal,
        *,
        kind: str,
        unit_id: str,
        process: str,
        document: Document | None,
        effective_on: str,
        values: dict[str, Any],
    ) -> Record:
        await self._active_unit_in_scope(principal, unit_id)
        definition, _ = await self.definition(kind)
        record = Record.open(
            definition,
            unit_id=unit_id,
            process=process,
            document=document,
            effective_on=effective_on,
            values=values,
            by=principal,
        )
        uow = self.make_uow()
        if definition.subject == "unit" and await uow.records.exists(record.id):
            raise Conflict("Đơn vị đã có hồ sơ loại này", code="already_open")
        sealed = await self.store.sealed(kind)
        claims = await self._claim_unique(record, sealed, values)
        try:
            uow.records.add(record)
            await uow.commit()
        except BaseException:
            await self.store.release(claims, record.id)
            raise
        return record

    async def enter(
        self,
        principal: Principal,
        record_id: str,
        *,
        process: str,
        document: Document | None,
        effective_on: str,
        values: dict[str, Any],
        expected_version: int | None,
    ) -> Record:
        async def attempt(uow: PersonnelUnitOfWork) -> Record:
            record = await self._writable(uow, principal, record_id, expected_version)
            definition, versions = await self.definition(record.kind)
            before = record.state(versions).fields
            record.enter(
                definition,
                versions,
                process=process,
                document=document,
                effective_on=effective_on,
                values=values,
                by=principal,
            )
            await self._save_with_unique(uow, record, before, versions)
            return record

        return await self._run(attempt, expected_version)

    async def correct(
        self,
        principal: Principal,
        record_id: str,
        entry_id: str,
        *,
        values: dict[str, Any],
        document: Document | None,
        effective_on: str | None,
        reason: str,
        expected_version: int | None,
    ) -> Record:
        async def attempt(uow: PersonnelUnitOfWork) -> Record:
            record = await self._writable(uow, principal, record_id, expected_version)
            _, versions = await self.definition(record.kind)
            before = record.state(versions).fields
            record.correct(
                versions,
                entry_id=entry_id,
                values=values,
                document=document,
                effective_on=effective_on,
                reason=reason,
                by=principal,
            )
            await self._save_with_unique(uow, record, before, versions)
            return record

        return await self._run(attempt, expected_version)

    async def move(
        self,
        principal: Principal,
        record_id: str,
        *,
        process: str,
        to_unit_id: str,
        document: Document | None,
        effective_on: str,
        values: dict[str, Any],
        expected_version: int | None,
    ) -> tuple[Record, dict[str, Any]]:
        """Within the caller's own scope the record moves at once (seed 003, 2.1); otherwise the
        move waits for the level that must decide, which approvals finds and asks."""

        async def attempt(uow: PersonnelUnitOfWork) -> tuple[Record, dict[str, Any]]:
            record = await self._writable(uow, principal, record_id, expected_version)
            target = await self.tree.get(to_unit_id)
            if target is None or target.get("status", "active") != "active":
                raise EntryInvalid(
                    [Problem(field="to_unit_id", message="Không có đơn vị nhận này, hoặc đơn vị đã giải thể, sáp nhập")]
                )
            definition, versions = await self.definition(record.kind)
            direct = manages(principal.unit_id, [*target["path"], to_unit_id])
            move = record.request_move(
                definition,
                versions,
                process=process,
                to_unit_id=to_unit_id,
                document=document,
                effective_on=effective_on,
                values=values,
                by=principal,
                direct=direct,
            )
            await uow.commit()
            return record, move

        return await self._run(attempt, expected_version)

    async def decide_move(self, event: MoveApproved | MoveReturned) -> None:
        """Approvals' decision on a move this service asked for. One it never asked for is refused
        for good (Malformed): it is not late, it is wrong."""

        async def attempt(uow: PersonnelUnitOfWork) -> None:
            record = await uow.records.get(event.record_id)
            if record is None:
                raise Malformed(f"{type(event).__name__} for record {event.record_id}, unknown here")
            try:
                if isinstance(event, MoveApproved):
                    changed = record.complete_move(
                        event.move_id,
                        from_unit_id=event.from_unit_id,
                        to_unit_id=event.to_unit_id,
                        approved_by=event.approved_by,
                        at=event.approved_at,
                    )
                else:
                    changed = record.return_move(
                        event.move_id,
                        from_unit_id=event.from_unit_id,
                        to_unit_id=event.to_unit_id,
                        returned_by=event.returned_by,
                        at=event.returned_at,
                    )
            except (MoveUnknown, Conflict) as exc:
                raise Malformed(f"{type(event).__name__} contradicts record {event.record_id}: {exc}") from exc
            if changed:
                await uow.commit()

        await run(self.make_uow, attempt)

    async def _writable(
        self, uow: PersonnelUnitOfWork, principal: Principal, record_id: str, expected_version: int | None
    ) -> Record:
        record = await self.readable(principal, record_id, uow)
        if expected_version is not None and expected_version != record.version:
            raise StaleVersion(record_id)
        return record

    async def _active_unit_in_scope(self, principal: Principal, unit_id: str) -> None:
        await self.unit_in_scope(principal, unit_id)
        unit = await self.tree.get(unit_id)
        if unit is not None and unit.get("status", "active") != "active":
            raise Conflict("Đơn vị đã giải thể hoặc sáp nhập", code="unit_retired")

    async def _claim_unique(self, record: Record, sealed: Sealed, values: dict[str, Any]) -> list[str]:
        keys = {
            self.store.unique_key(record.kind, f, sealed.hash(f, values[f])): f
            for f in sealed.unique
            if values.get(f) is not None
        }
        taken = await self.store.claim(list(keys), record.id)
        if taken:
            raise EntryInvalid(
                [Problem(field=keys[k], message="Đã có hồ sơ khác mang số này") for k in taken],
                "Thông tin trùng với một hồ sơ đã có; chưa có gì được lưu",
            )
        return list(keys)

    async def _save_with_unique(
        self, uow: PersonnelUnitOfWork, record: Record, before: dict[str, Any], versions: dict[int, RecordDefinition]
    ) -> None:
        """Save; a unique value that changed is claimed first and the old one given back after."""
        sealed = Sealed(self.store.cipher, versions)
        after = record.state(versions).fields
        changed = {f: after.get(f) for f in sealed.unique if after.get(f) != before.get(f)}
        claims = await self._claim_unique(record, sealed, changed)
        try:
            await uow.commit()
        except BaseException:
            await self.store.release(claims, record.id)
            raise
        released = [
            self.store.unique_key(record.kind, f, sealed.hash(f, before[f]))
            for f in changed
            if before.get(f) is not None
        ]
        await self.store.release(released, record.id)

    # Imports ---------------------------------------------------------------------------------
    async def import_sheet(
        self, principal: Principal, unit_id: str, kind: str, process: str, rows: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Every row checked (values, rules, the same national ID twice in the sheet or already on a
        record) before anything is stored; then the records, stored whole as a job, are applied."""
        await self._active_unit_in_scope(principal, unit_id)
        definition, versions = await self.definition(kind)
        lineage = await self.store.lineage(unit_id)
        now = datetime.now(UTC)
        sealed = Sealed(self.store.cipher, versions)
        # Checking and encrypting thousands of rows is CPU work: in a thread, so the event loop keeps
        # answering (and the outbox relay keeps publishing) while a sheet is prepared.
        planned, docs = await asyncio.to_thread(
            self._prepare, definition, versions, sealed, lineage, process, unit_id, rows, principal, now
        )
        keys: dict[str, tuple[int, str, str]] = {}
        for number, record in planned:
            values = record.entries[0].values
            for f in sealed.unique:
                if values.get(f) is not None:
                    keys[self.store.unique_key(kind, f, sealed.hash(f, values[f]))] = (number, f, record.id)
        if taken := await self.store.taken(list(keys)):
            raise ImportRejected([RowError(keys[k][0], keys[k][1], "Đã có hồ sơ khác mang số này") for k in taken])
        if lost := await self.store.claim_many([(key, record_id) for key, (_, _, record_id) in keys.items()]):
            raise ImportRejected([RowError(keys[k][0], keys[k][1], "Vừa có hồ sơ khác mang số này") for k in lost])
        job = {
            "_id": uuid.uuid4().hex,
            "kind": kind,
            "unit_id": unit_id,
            "by": principal.account_id,
            "at": now,
            "status": "applying",
            "rows": len(docs),
        }
        await self.store.save_import(job, [docs[i : i + PART_SIZE] for i in range(0, len(docs), PART_SIZE)])
        created = await self.apply_import(job)
        return {"import_id": job["_id"], "created": created, "record_ids": [r.id for _, r in planned]}

    def _prepare(
        self,
        definition: RecordDefinition,
        versions: dict[int, RecordDefinition],
        sealed: Sealed,
        lineage: list[str],
        process: str,
        unit_id: str,
        rows: list[dict[str, str]],
        principal: Principal,
        now: datetime,
    ) -> tuple[list[tuple[int, Record]], list[dict[str, Any]]]:
        planned = plan_import(definition, process, unit_id, rows, principal, now)
        return planned, [
            {
                "record_id": record.id,
                "doc": self.store.import_doc(record, versions, sealed, lineage),
                "events": [e.model_dump(mode="json") for e in record.events],
            }
            for _, record in planned
        ]

    async def apply_import(self, job: dict[str, Any]) -> int:
        created = 0
        async for part in self.store.import_parts(job["_id"]):
            created += await self.store.insert_docs(
                [
                    (item["record_id"], item["doc"], [RecordChanged.model_validate(e) for e in item["events"]])
                    for item in part["records"]
                ]
            )
        await self.store.finish_import(job["_id"], finished_at=datetime.now(UTC))
        return created

    async def resume(self) -> None:
        """At start: finish the imports a crash interrupted."""
        for job in await self.store.unfinished_imports():
            log.warning("finishing an interrupted import", import_id=job["_id"])
            try:
                await self.apply_import(job)
            except Exception as exc:  # noqa: BLE001 - one bad job must not keep the service from starting
                log.error("interrupted import could not be finished", import_id=job["_id"], error=str(exc))
