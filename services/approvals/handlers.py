"""Events approvals consumes: the tree and supervisors' assignments (for scope), and submitted
forms, which open review tasks."""

from __future__ import annotations

from chassis.runtime import Runtime
from moha_contracts import Envelope, FormSubmitted, SupervisorAssigned, UnitMoved

from .domain.model import ReviewTask
from .store import TaskStore


def subscribe(runtime: Runtime, tasks: TaskStore) -> None:
    runtime.units.subscribe(runtime.consumers)

    @runtime.consumers.on(UnitMoved)  # after the tree's own handler, on the same queue
    async def on_unit_moved(envelope: Envelope, event: UnitMoved) -> None:
        # Open tasks follow their unit to its new supervisors; decided ones keep the past as it was.
        await tasks.move_open_tasks(event.unit_id, [*event.path, event.unit_id])

    @runtime.consumers.on(FormSubmitted)
    async def on_form_submitted(envelope: Envelope, event: FormSubmitted) -> None:
        unit = await runtime.units.require(event.unit_id)
        task = ReviewTask.open(
            submission_id=event.submission_id, campaign_id=event.campaign_id, unit_id=event.unit_id,
            unit_lineage=[*unit["path"], event.unit_id], revision=event.revision, submitted_at=event.submitted_at,
        )
        await tasks.add(task)

    @runtime.consumers.on(SupervisorAssigned)
    async def on_supervisor_assigned(envelope: Envelope, event: SupervisorAssigned) -> None:
        await tasks.set_assignment(event.supervisor_id, event.unit_ids, event.assignment_version)
