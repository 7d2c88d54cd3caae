"""Approvals' use cases: open a review task when a form is submitted and the next level's when a
level approves, claim / approve / return at each level, send open tasks to their new reviewers when
the unit moves, and decide on a request to move an official's record. The HTTP routes and the event
handlers are thin adapters over these, run through `chassis.unit_of_work.run` (the one retry policy
on a stale version). Scope is checked here: a task is acted on only by the supervisors of its
level's reviewing unit (and, with an assignment, only for their assigned units); anyone else finds
no such task."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chassis import audit as audit_log
from chassis.audit import AuditEntry
from chassis.auth import Principal
from chassis.errors import NotFound
from chassis.messaging import Malformed, Retry
from chassis.store import AlreadyExists, Store
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from moha_contracts import FormApproved, FormSubmitted, MoveRequested

from .domain.model import APPROVED, ReviewTask, review_chain, task_id
from .domain.moves import MoveReview, move_task_id
from .store import ApprovalsUnitOfWork, CampaignDirectory, ProgressStore

T = TypeVar("T")
NO_TASK = "Không tìm thấy nhiệm vụ duyệt"
NO_MOVE = "Không tìm thấy đề nghị chuyển hồ sơ"


@dataclass
class Approvals:
    """What the adapters need, built once in bootstrap.py: the store the units of work open on,
    the tree, and the read models approvals keeps."""

    store: Store
    units: UnitDirectory
    campaigns: CampaignDirectory
    progress: ProgressStore

    def uow(self) -> ApprovalsUnitOfWork:
        return ApprovalsUnitOfWork(self.store)

    async def run(self, use_case: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """`use_case(uow, *args, **kwargs)` with a fresh unit of work, again on a stale version."""
        return await run(self.uow, lambda uow: use_case(uow, *args, **kwargs))


# Commands ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decide:
    """A supervisor's decision on the revision it read (`reason` only to return it)."""

    task_id: str
    by: Principal
    revision: int
    reason: str = ""
    ip: str | None = None


# Reading -----------------------------------------------------------------------------------
async def visible_task(uow: ApprovalsUnitOfWork, task_id: str, by: Principal) -> ReviewTask:
    task = await uow.tasks.get(task_id)
    if task is None or not task.visible_to(by):
        raise NotFound(NO_TASK)
    return task


async def reviewable_tasks(
    uow: ApprovalsUnitOfWork, by: Principal, status: str | None, *, limit: int | None = 200
) -> list[ReviewTask]:
    """The tasks waiting for the caller's level: only its assigned units, if it has an assignment.
    `limit=None`: all of them, in any state for `status=None` (the paged queue)."""
    if not by.is_supervisor:
        return []
    assigned = await uow.assignments.of(by.account_id)
    if limit is None:
        found = await uow.tasks.of_reviewer(by.unit_id, status)
    else:
        found = await uow.tasks.queue(by.unit_id, status or "open", limit)
    return [t for t in found if t.reviewable_by(by, assigned)]


async def review_trail(uow: ApprovalsUnitOfWork, submission_id: str, by: Principal) -> list[ReviewTask]:
    # Those above the unit, for the tasks of the places it was in when they were decided; the unit
    # itself learns the decisions from forms and notifications, not its reviewers' addresses.
    found = [t for t in await uow.tasks.of_submission(submission_id) if t.visible_to(by)]
    if not found:
        raise NotFound("Không tìm thấy phiếu")
    return found


async def visible_move(uow: ApprovalsUnitOfWork, task_id: str, by: Principal) -> MoveReview:
    review = await uow.moves.get(task_id)
    if review is None or not review.visible_to(by):
        raise NotFound(NO_MOVE)
    return review


async def moves_to_decide(uow: ApprovalsUnitOfWork, by: Principal, status: str | None) -> list[MoveReview]:
    if not by.is_supervisor:
        return []
    return await uow.moves.of_decider(by.unit_id, status)


# A supervisor's decisions ----------------------------------------------------------------------
async def _task_in_scope(uow: ApprovalsUnitOfWork, task_id: str, by: Principal) -> tuple[ReviewTask, list[str]]:
    task = await uow.tasks.get(task_id)
    assigned = await uow.assignments.of(by.account_id)
    if task is None or not task.reviewable_by(by, assigned):
        raise NotFound(NO_TASK)
    return task, assigned


async def claim(uow: ApprovalsUnitOfWork, task_id: str, by: Principal, ip: str | None = None) -> ReviewTask:
    """Take the form up for review: the unit and those above see it as under review."""
    task, assigned = await _task_in_scope(uow, task_id, by)
    if task.claim(by, assigned=assigned):
        await uow.commit(_decision(by, task, "review_claimed", ip))
    return task


async def approve(uow: ApprovalsUnitOfWork, cmd: Decide) -> ReviewTask:
    """Below the last level the form goes up (the next level's task opens on FormApproved); at the
    last level it is confirmed (SubmissionFinalized)."""
    task, assigned = await _task_in_scope(uow, cmd.task_id, cmd.by)
    task.approve(cmd.by, cmd.revision, assigned=assigned, ip=cmd.ip)
    await uow.commit(_decision(cmd.by, task, "form_approved", cmd.ip))
    return task


async def return_to_unit(uow: ApprovalsUnitOfWork, cmd: Decide) -> ReviewTask:
    task, assigned = await _task_in_scope(uow, cmd.task_id, cmd.by)
    task.return_to_unit(cmd.by, cmd.revision, cmd.reason, assigned=assigned, ip=cmd.ip)
    await uow.commit(_decision(cmd.by, task, "form_returned", cmd.ip))
    return task


def _decision(by: Principal, task: ReviewTask, action: str, ip: str | None) -> AuditEntry:
    """A decision's entry, beside the review trail the task keeps (its reason stays there)."""
    entry = audit_log.entry(
        None,
        action,
        actor=by,
        target_id=task.submission_id,
        unit_lineage=[task.reviewer_unit_id, task.unit_id],
        task_id=task.id,
        campaign_id=task.campaign_id,
        revision=task.revision,
        level=task.level,
        final=task.final,
    )
    return dataclasses.replace(entry, ip=ip)


async def approve_move(uow: ApprovalsUnitOfWork, task_id: str, by: Principal, ip: str | None = None) -> MoveReview:
    """Personnel moves the record, with its history, to the receiving unit."""
    review = await _move_to_decide(uow, task_id, by)
    review.approve(by, ip=ip)
    await uow.commit()
    return review


async def return_move(
    uow: ApprovalsUnitOfWork, task_id: str, by: Principal, reason: str, ip: str | None = None
) -> MoveReview:
    """Refused, with the reason: the record stays where it is."""
    review = await _move_to_decide(uow, task_id, by)
    review.return_to_unit(by, reason, ip=ip)
    await uow.commit()
    return review


async def _move_to_decide(uow: ApprovalsUnitOfWork, task_id: str, by: Principal) -> MoveReview:
    review = await uow.moves.get(task_id)
    if review is None or not review.decidable_by(by):
        raise NotFound(NO_MOVE)
    return review


# What events start -----------------------------------------------------------------------------
async def ancestors(units: UnitDirectory, path: list[str]) -> list[tuple[str, str]]:
    """(unit id, level) of each ancestor, root first; retried until the tree knows them all. Levels
    never change: kept in memory once read, the rest read in one query, not one per ancestor."""
    levels = await units.levels(path)
    for unit_id in path:
        if unit_id not in levels:
            raise Retry(f"unit {unit_id} not known yet")
    return [(unit_id, levels[unit_id]) for unit_id in path]


async def open_review(
    uow: ApprovalsUnitOfWork, event: FormSubmitted, *, units: UnitDirectory, campaigns: CampaignDirectory
) -> ReviewTask | None:
    """The first level's task of a submitted revision. Its id comes from the revision: the same
    FormSubmitted seen twice opens it once (None the second time)."""
    if await uow.tasks.get(task_id(event.submission_id, event.revision, 1)) is not None:
        return None
    campaign = await campaigns.require(event.campaign_id)
    unit = await units.require(event.unit_id)
    chain = review_chain(await ancestors(units, unit["path"]), list(campaign.review_levels))
    task = uow.tasks.add(
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
    return await _created(uow, task)


async def open_next_level(uow: ApprovalsUnitOfWork, event: FormApproved) -> ReviewTask | None:
    """A level approved below the last: the level above gets its task (once, however often the
    event comes)."""
    task = await uow.tasks.get(event.task_id)
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
    if event.final or await uow.tasks.get(task_id(task.submission_id, task.revision, task.level + 1)) is not None:
        return None
    return await _created(uow, uow.tasks.add(task.next_level()))


async def follow_unit_move(uow: ApprovalsUnitOfWork, unit_id: str, *, units: UnitDirectory) -> int:
    """Open tasks follow their unit to its new reviewers; decided ones keep the past as it was. To
    where the tree has it now, not where an event says: a move handled late must not send them back
    (the tree keeps the newest place, chassis/readmodel.py). Returns how many tasks moved."""
    place = await units.place(unit_id)
    if place is None:
        raise Retry(f"unit {unit_id} not known yet")
    lineage = place[0]
    above = await ancestors(units, lineage[:-1])
    moved = sum(
        task.follow_move(lineage, review_chain(above, task.review_levels))
        for task in await uow.tasks.open_of_unit(unit_id)
    )
    await uow.commit()
    return moved


async def open_move_review(
    uow: ApprovalsUnitOfWork, event: MoveRequested, *, units: UnitDirectory
) -> MoveReview | None:
    """The deciding level is found from approvals' own tree, not taken from the request."""
    if await uow.moves.get(move_task_id(event.move_id)) is not None:
        return None
    source, target = await units.require(event.from_unit_id), await units.require(event.to_unit_id)
    review = uow.moves.add(
        MoveReview.open(
            event,
            [*await ancestors(units, source["path"]), (source["_id"], source["level"])],
            [*await ancestors(units, target["path"]), (target["_id"], target["level"])],
        )
    )
    return await _created(uow, review)


async def _created(uow: ApprovalsUnitOfWork, aggregate: T) -> T | None:
    try:
        await uow.commit()
    except AlreadyExists:
        return None  # another delivery of the same event created it meanwhile
    return aggregate
