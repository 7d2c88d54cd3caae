"""Approvals' HTTP API: a supervisor's queue, and decisions on its tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from chassis.auth import Principal
from chassis.errors import NotFound
from chassis.http import CurrentPrincipal
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from .domain.model import ReviewTask
from .store import TaskStore

router = APIRouter()


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: int = Field(ge=1, description="the revision the supervisor read; a newer one makes this 409")


class ReturnRequest(ApproveRequest):
    reason: str = Field(min_length=1, max_length=2000)


class TaskView(BaseModel):
    task_id: str
    submission_id: str
    campaign_id: str
    unit_id: str
    revision: int
    level: int
    status: str
    submitted_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


def tasks(request: Request) -> TaskStore:
    return request.app.state.tasks


Tasks = Annotated[TaskStore, Depends(tasks)]


@router.get("/tasks", tags=["review"])
async def my_queue(principal: CurrentPrincipal, store: Tasks, status: str = "open") -> list[TaskView]:
    if not principal.is_supervisor:
        return []
    assigned = await store.assigned_units(principal.account_id)
    return [_view(t) for t in await store.queue(principal.unit_id, status) if t.reviewable_by(principal, assigned)]


@router.get("/tasks/{task_id}", tags=["review"])
async def get_task(task_id: str, principal: CurrentPrincipal, store: Tasks) -> TaskView:
    return _view((await _task_in_scope(store, task_id, principal))[0])


@router.post("/tasks/{task_id}/approve", tags=["review"])
async def approve(task_id: str, body: ApproveRequest, principal: CurrentPrincipal, store: Tasks) -> TaskView:
    task, assigned = await _task_in_scope(store, task_id, principal)
    task.approve(principal, body.revision, assigned=assigned)
    await store.save(task)
    return _view(task)


@router.post("/tasks/{task_id}/return", tags=["review"])
async def return_to_unit(task_id: str, body: ReturnRequest, principal: CurrentPrincipal, store: Tasks) -> TaskView:
    task, assigned = await _task_in_scope(store, task_id, principal)
    task.return_to_unit(principal, body.revision, body.reason, assigned=assigned)
    await store.save(task)
    return _view(task)


async def _task_in_scope(store: TaskStore, task_id: str, principal: Principal) -> tuple[ReviewTask, list[str]]:
    task = await store.get(task_id)
    assigned = await store.assigned_units(principal.account_id)
    if task is None or not task.reviewable_by(principal, assigned):
        raise NotFound("Không tìm thấy nhiệm vụ duyệt")
    return task, assigned


def _view(t: ReviewTask) -> TaskView:
    return TaskView(task_id=t.id, submission_id=t.submission_id, campaign_id=t.campaign_id, unit_id=t.unit_id,
                    revision=t.revision, level=t.level, status=t.status, submitted_at=t.submitted_at,
                    decided_by=t.decided_by, decided_at=t.decided_at, reason=t.reason)
