"""Events approvals consumes: the tree and supervisors' assignments (for scope), campaigns (for the
chain and deadlines), submitted forms (which open review tasks), its own approvals (which open the
next level's task), and every step of a form's way (for the progress read model)."""

from __future__ import annotations

from chassis.logging import get_logger
from chassis.runtime import Runtime
from moha_contracts import (
    CampaignOpened,
    DraftStarted,
    Envelope,
    Event,
    FormApproved,
    FormRejected,
    FormSubmitted,
    MoveRequested,
    ReviewTaskClaimed,
    SupervisorAssigned,
    UnitMoved,
)

from . import usecases
from .domain.progress import fact_of
from .store import Assignments
from .usecases import Approvals

log = get_logger("approvals.handlers")


def subscribe(runtime: Runtime, approvals: Approvals) -> None:
    units = approvals.units
    units.subscribe(runtime.consumers)
    assignments = Assignments(approvals.store)
    on = runtime.consumers.on

    # `keyed`: the effect is a document whose id the event gives (a fact, a task of a revision and
    # level, a move's review), so a second copy finds it and adds nothing: no inbox needed.
    @on(CampaignOpened, keyed=True)
    async def on_campaign_opened(envelope: Envelope, event: CampaignOpened) -> None:
        await approvals.campaigns.add(event)

    @on(UnitMoved)  # after the tree's own handler, on the same queue
    async def on_unit_moved(envelope: Envelope, event: UnitMoved) -> None:
        # A task saved meanwhile is a stale version: the use case runs again, or the event does.
        await approvals.run(usecases.follow_unit_move, event.unit_id, units=units)

    @on(FormSubmitted, keyed=True)
    async def on_form_submitted(envelope: Envelope, event: FormSubmitted) -> None:
        await approvals.run(usecases.open_review, event, units=units, campaigns=approvals.campaigns)

    @on(FormApproved, keyed=True)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        await approvals.run(usecases.open_next_level, event)

    @on(MoveRequested, keyed=True)
    async def on_move_requested(envelope: Envelope, event: MoveRequested) -> None:
        await approvals.run(usecases.open_move_review, event, units=units)

    @on(SupervisorAssigned)
    async def on_supervisor_assigned(envelope: Envelope, event: SupervisorAssigned) -> None:
        await assignments.apply(event.supervisor_id, event.unit_ids, event.assignment_version)

    async def record_progress(envelope: Envelope, event: Event) -> None:
        if (fact := fact_of(event)) is not None:
            await approvals.progress.record(envelope.id, fact)

    # Progress has queues of its own: a decision the task handler refuses (an inconsistent one) must
    # not keep a fact from the read model, nor the read model's retries hold up the tasks. Keyed:
    # the fact by the event's id, and joining a fact again changes nothing.
    for event_type in (DraftStarted, FormSubmitted, ReviewTaskClaimed, FormApproved, FormRejected):
        on(event_type, part="progress", keyed=True)(record_progress)
