"""Events personnel consumes: the tree (scope), its own record changes (the 5-working-day rule's
read model, as approvals' progress reads approvals' own events) and approvals' decisions on moves."""

from __future__ import annotations

from chassis.runtime import Runtime
from moha_contracts import Envelope, MoveApproved, MoveReturned, RecordChanged, UnitMoved

from .store import RecordStore
from .usecases import Records


def subscribe(runtime: Runtime, store: RecordStore, records: Records) -> None:
    runtime.units.subscribe(runtime.consumers)
    on = runtime.consumers.on

    @on(UnitMoved)  # after the tree's own handler, on the same queue
    async def on_unit_moved(envelope: Envelope, event: UnitMoved) -> None:
        await store.follow_unit_move(event.unit_id)

    @on(RecordChanged, part="timeliness")
    async def on_record_changed(envelope: Envelope, event: RecordChanged) -> None:
        await store.record_change(event)

    @on(MoveApproved)
    async def on_move_approved(envelope: Envelope, event: MoveApproved) -> None:
        await records.decide_move(event)

    @on(MoveReturned)
    async def on_move_returned(envelope: Envelope, event: MoveReturned) -> None:
        await records.decide_move(event)
