"""Events approvals consumes: the tree and supervisors' assignments (for scope), campaigns (for the
chain and deadlines), submitted forms (which open review tasks), its own approvals (which open the
next level's task), and every step of a form's way (for the progress read model)."""

from __future__ import annotations

from chassis.logging import get_logger
from chassis.messaging import Malformed, Retry
from chassis.runtime import Runtime
from chassis.tree import UnitDirectory
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

from .domain.model import APPROVED, ReviewTask, review_chain
from .domain.moves import MoveReview
from .domain.progress import fact_of
from .store import CampaignDirectory, MoveReviewStore, ProgressStore, TaskStore

log = get_logger("approvals.handlers")


async def ancestors(units: UnitDirectory, path: list[str]) -> list[tuple[str, str]]:
    """(unit id, level) of each ancestor, root first; retried until the tree knows them all."""
    found = []
    for unit_id in path:
        unit = await units.require(unit_id)
        found.append((unit_id, unit["level"]))
    return found


def subscribe(
    runtime: Runtime, tasks: TaskStore, campaigns: CampaignDirectory, progress: ProgressStore, moves: MoveReviewStore
) -> None:
    units = runtime.units
    units.subscribe(runtime.consumers)
    on = runtime.consumers.on

    @on(CampaignOpened)
    async def on_campaign_opened(envelope: Envelope, event: CampaignOpened) -> None:
        await campaigns.add(event)

    @on(UnitMoved)  # after the tree's own handler, on the same queue
    async def on_unit_moved(envelope: Envelope, event: UnitMoved) -> None:
        # Open tasks follow their unit to its new reviewers; decided ones keep the past as it was.
        # To where the tree has it now, not where this event says: a move handled late must not
        # send them back (the tree keeps the newest place, chassis/readmodel.py; a task saved
        # meanwhile is a stale version, and this runs again).
        place = await units.place(event.unit_id)
        if place is None:
            raise Retry(f"unit {event.unit_id} not known yet")
        lineage = place[0]
        above = await ancestors(units, lineage[:-1])
        for task in await tasks.open_of_unit(event.unit_id):
            if task.follow_move(lineage, review_chain(above, task.review_levels)):
                await tasks.save(task)

    @on(FormSubmitted)
    async def on_form_submitted(envelope: Envelope, event: FormSubmitted) -> None:
        campaign = await campaigns.require(event.campaign_id)
        unit = await units.require(event.unit_id)
        chain = review_chain(await ancestors(units, unit["path"]), list(campaign.review_levels))
        await tasks.add(
            ReviewTask.open(
                submission_id=event.submission_id,
                campaign_id=event.campaign_id,
                unit_id=event.unit_id,
                unit_lineage=[*unit["path"], event.unit_id],
                revision=event.revision,
                submitted_at=event.submitted_at,
                chain=chain,
                review_levels=list(campaign.review_levels),
            )
        )

    @on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        task = await tasks.get(event.task_id)
        # Approvals raises FormApproved only from a task it stored as approved first (the commit is
        # applied before the relay publishes): anything else is not one of its decisions.
        if (
            task is None
            or task.status != APPROVED
            or task.submission_id != event.submission_id
            or task.revision != event.revision
        ):
            raise Malformed(
                f"FormApproved for task {event.task_id}, which is not an approved task of "
                f"submission {event.submission_id} revision {event.revision} here"
            )
        if not event.final:
            await tasks.add(task.next_level())  # deterministic id: seen twice, opened once

    @on(MoveRequested)
    async def on_move_requested(envelope: Envelope, event: MoveRequested) -> None:
        # The deciding level is found from approvals' own tree, not taken from the request.
        source, target = await units.require(event.from_unit_id), await units.require(event.to_unit_id)
        await moves.add(
            MoveReview.open(
                event,
                [*await ancestors(units, source["path"]), (source["_id"], source["level"])],
                [*await ancestors(units, target["path"]), (target["_id"], target["level"])],
            )
        )

    @on(SupervisorAssigned)
    async def on_supervisor_assigned(envelope: Envelope, event: SupervisorAssigned) -> None:
        await tasks.set_assignment(event.supervisor_id, event.unit_ids, event.assignment_version)

    async def record_progress(envelope: Envelope, event: Event) -> None:
        if (fact := fact_of(event)) is not None:
            await progress.record(envelope.id, fact)

    # Progress has queues of its own: a decision the task handler refuses (an inconsistent one) must
    # not keep a fact from the read model, nor the read model's retries hold up the tasks.
    for event_type in (DraftStarted, FormSubmitted, ReviewTaskClaimed, FormApproved, FormRejected):
        on(event_type, part="progress")(record_progress)
