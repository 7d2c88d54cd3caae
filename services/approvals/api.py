"""Approvals' HTTP API: a supervisor's queue and decisions, the review trail of a submission,
campaign progress per area, and the requests to move an official's record to another unit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from chassis import audit as audit_log
from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Forbidden, NotFound
from chassis.http import CurrentPrincipal, client_ip, from_state
from chassis.sheets import CSV_TYPE, XLSX_TYPE, write_csv, write_xlsx
from chassis.text import Input
from chassis.tree import UnitDirectory

from .domain.model import ReviewTask
from .domain.moves import MoveReview
from .domain.progress import timeliness
from .store import CampaignDirectory, MoveReviewStore, ProgressStore, TaskStore, deadline_of
from .views import area_progress

router = APIRouter()


class ApproveRequest(Input):
    model_config = ConfigDict(str_strip_whitespace=False)
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
    final: bool
    reviewer_unit_id: str
    status: str
    submitted_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decided_from: str | None
    reason: str | None


Tasks = Annotated[TaskStore, Depends(from_state("tasks"))]
Progress = Annotated[ProgressStore, Depends(from_state("progress"))]
Campaigns = Annotated[CampaignDirectory, Depends(from_state("campaigns"))]
Units = Annotated[UnitDirectory, Depends(from_state("units"))]
Moves = Annotated[MoveReviewStore, Depends(from_state("moves"))]


@router.get("/tasks", tags=["review"])
async def my_queue(principal: CurrentPrincipal, store: Tasks, status: str = "open") -> list[TaskView]:
    """The tasks waiting for the caller's level: only its assigned units, if it has an assignment."""
    if not principal.is_supervisor:
        return []
    assigned = await store.assigned_units(principal.account_id)
    return [_view(t) for t in await store.queue(principal.unit_id, status) if t.reviewable_by(principal, assigned)]


@router.get("/tasks/{task_id}", tags=["review"])
async def get_task(task_id: str, principal: CurrentPrincipal, store: Tasks) -> TaskView:
    task = await store.get(task_id)
    if task is None or not task.visible_to(principal):
        raise NotFound("Không tìm thấy nhiệm vụ duyệt")
    return _view(task)


@router.post("/tasks/{task_id}/claim", tags=["review"])
async def claim(task_id: str, request: Request, principal: CurrentPrincipal, store: Tasks) -> TaskView:
    """Take the form up for review: the unit and those above see it as under review."""
    task, assigned = await _task_in_scope(store, task_id, principal)
    if task.claim(principal, assigned=assigned):
        await store.save(task, _decision(request, principal, task, "review_claimed"))
    return _view(task)


@router.post("/tasks/{task_id}/approve", tags=["review"])
async def approve(
    task_id: str, body: ApproveRequest, request: Request, principal: CurrentPrincipal, store: Tasks
) -> TaskView:
    """Approve the revision read. Below the last level the form goes up to the next level's
    supervisors; at the last level it is confirmed (SubmissionFinalized)."""
    task, assigned = await _task_in_scope(store, task_id, principal)
    task.approve(principal, body.revision, assigned=assigned, ip=client_ip(request))
    await store.save(task, _decision(request, principal, task, "form_approved"))
    return _view(task)


@router.post("/tasks/{task_id}/return", tags=["review"])
async def return_to_unit(
    task_id: str, body: ReturnRequest, request: Request, principal: CurrentPrincipal, store: Tasks
) -> TaskView:
    """Return the revision to the unit with the reason; it revises and submits again."""
    task, assigned = await _task_in_scope(store, task_id, principal)
    task.return_to_unit(principal, body.revision, body.reason, assigned=assigned, ip=client_ip(request))
    await store.save(task, _decision(request, principal, task, "form_returned"))
    return _view(task)


def _decision(request: Request, principal: Principal, task: ReviewTask, action: str) -> audit_log.AuditEntry:
    """A decision's entry, beside the review trail the task keeps (its reason stays there)."""
    return audit_log.entry(
        request,
        action,
        actor=principal,
        target_id=task.submission_id,
        unit_lineage=[task.reviewer_unit_id, task.unit_id],
        task_id=task.id,
        campaign_id=task.campaign_id,
        revision=task.revision,
        level=task.level,
        final=task.final,
    )


@router.get("/submissions/{submission_id}/reviews", tags=["review"])
async def review_trail(submission_id: str, principal: CurrentPrincipal, store: Tasks) -> list[TaskView]:
    """Every level's task of every revision: who decided, when, from where, on which revision, why."""
    # Those above the unit, for the tasks of the places it was in when they were decided; the unit
    # itself learns the decisions from forms and notifications, not its reviewers' addresses.
    found = [t for t in await store.of_submission(submission_id) if t.visible_to(principal)]
    if not found:
        raise NotFound("Không tìm thấy phiếu")
    return [_view(t) for t in found]


@router.get("/progress/{campaign_id}", tags=["progress"])
async def progress(
    campaign_id: str,
    principal: CurrentPrincipal,
    store: Progress,
    campaigns: Campaigns,
    tree: Units,
    area: str | None = None,
    as_of: date | None = None,
    units: bool = True,
) -> dict[str, Any]:
    """The campaign's progress in an area (the caller's own by default): counts and percentages per
    state, timeliness against each unit's deadline in working days, the late units, each
    sub-area's figures and, unless `units=false`, every unit's row."""
    area = area or principal.unit_id
    campaign = await campaigns.get(campaign_id)
    if campaign is None or not await tree.can_see(principal, area):
        raise NotFound("Không tìm thấy đợt thu thập hoặc địa bàn này")
    # A reporting unit sees its own unit only, whatever hangs under it (an agency's sub-agencies,
    # the communes of a district-level unit): it reports, it does not supervise.
    view = await area_progress(
        tree,
        store,
        campaign,
        area,
        as_of or today_in_vietnam(),
        with_units=units,
        subtree=principal.role != "reporting_unit",
    )
    if not view:
        raise NotFound("Không tìm thấy đợt thu thập hoặc địa bàn này")
    return view


@router.get("/progress/{campaign_id}/export", tags=["progress"])
async def export_progress(
    campaign_id: str,
    request: Request,
    principal: CurrentPrincipal,
    store: Progress,
    campaigns: Campaigns,
    tree: Units,
    area: str | None = None,
    as_of: date | None = None,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """Every unit's row of the area's progress, as a sheet for the supervisors' reports."""
    view = await progress(campaign_id, principal, store, campaigns, tree, area, as_of, True)
    # Scope checked by `progress`: recorded before the sheet leaves.
    where = view["area"]["unit_id"]
    await audit_log.record(
        request,
        audit_log.entry(
            request,
            "progress_exported",
            actor=principal,
            target_id=campaign_id,
            unit_lineage=await tree.lineage(where) or [where],
            area=where,
            format=format,
            units=len(view["units"]),
        ),
    )
    header = [
        "Mã đơn vị",
        "Tên đơn vị",
        "Trạng thái",
        "Lần gửi",
        "Gửi lần đầu",
        "Hạn gửi",
        "Đúng hạn",
        "Số ngày làm việc trễ",
    ]
    punctual = {"on_time": "Đúng hạn", "late": "Trễ hạn", "pending": "Chưa đến hạn"}
    rows = [
        [
            u["code"],
            u["name"],
            u["state_label"],
            u["revision"],
            u["first_submitted_at"] or "",
            u["deadline"],
            punctual[u["timeliness"]],
            u["working_days_late"],
        ]
        for u in view["units"]
    ]
    name = f"tien-do-{campaign_id}-{view['area']['code'] or view['area']['unit_id']}.{format}"
    if format == "csv":
        data, media = write_csv(header, rows), CSV_TYPE
    else:
        data, media = write_xlsx("Tiến độ", header, rows), XLSX_TYPE
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/progress/rebuild", tags=["progress"])
async def rebuild(request: Request, principal: CurrentPrincipal, store: Progress) -> dict[str, int]:
    """Fold every stored fact into a fresh read model and switch to it (central administrators)."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương dựng lại số liệu tiến độ")
    rebuilt = await store.rebuild()
    await audit_log.record(
        request,
        audit_log.entry(request, "progress_rebuilt", actor=principal, unit_lineage=[principal.unit_id], **rebuilt),
    )
    return rebuilt


async def _task_in_scope(store: TaskStore, task_id: str, principal: Principal) -> tuple[ReviewTask, list[str]]:
    task = await store.get(task_id)
    assigned = await store.assigned_units(principal.account_id)
    if task is None or not task.reviewable_by(principal, assigned):
        raise NotFound("Không tìm thấy nhiệm vụ duyệt")
    return task, assigned


def _view(t: ReviewTask) -> TaskView:
    return TaskView(
        task_id=t.id,
        submission_id=t.submission_id,
        campaign_id=t.campaign_id,
        unit_id=t.unit_id,
        revision=t.revision,
        level=t.level,
        final=t.final,
        reviewer_unit_id=t.reviewer_unit_id,
        status=t.status,
        submitted_at=t.submitted_at,
        claimed_by=t.claimed_by,
        claimed_at=t.claimed_at,
        decided_by=t.decided_by,
        decided_at=t.decided_at,
        decided_from=t.decided_from,
        reason=t.reason,
    )


class QueuePage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    counts: dict[str, int]


@router.get("/queue", tags=["review"])
async def review_queue(
    principal: CurrentPrincipal,
    store: Tasks,
    progress_store: Progress,
    campaigns: Campaigns,
    tree: Units,
    status: Literal["open", "approved", "returned", "all"] = "open",
    unit: str | None = None,
    late: bool | None = None,
    campaign_id: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> QueuePage:
    """The caller's review tasks, oldest submission first, paged: filtered by state, by unit (its
    code or a part of its name) and by lateness (whether the unit first sent its form after its
    deadline, in working days). Each with the unit's code and name. Only a supervisor's own level
    and, if it has an assignment, its assigned units."""
    if not principal.is_supervisor:
        return QueuePage(items=[], total=0, page=page, page_size=page_size, counts={})
    assigned = await store.assigned_units(principal.account_id)
    tasks = [
        t
        for t in await store.of_reviewer(principal.unit_id, None if status == "all" else status)
        if t.reviewable_by(principal, assigned) and (campaign_id is None or t.campaign_id == campaign_id)
    ]
    today = today_in_vietnam()
    # One query for the units, one per campaign for their first submissions: a page of a few
    # hundred tasks must not cost a few hundred lookups.
    unit_ids = list({t.unit_id for t in tasks})
    units = {u["_id"]: u async for u in tree.units.find({"_id": {"$in": unit_ids}})} if unit_ids else {}
    ancestor_ids = list({a for u in units.values() for a in u.get("path", [])})
    levels = (
        {u["_id"]: u.get("level", "") async for u in tree.units.find({"_id": {"$in": ancestor_ids}})}
        if ancestor_ids
        else {}
    )
    known = {cid: await campaigns.get(cid) for cid in {t.campaign_id for t in tasks}}
    firsts: dict[tuple[str, str], Any] = {}
    for cid in known:
        for uid, p in (
            await progress_store.of_units(cid, list({t.unit_id for t in tasks if t.campaign_id == cid}))
        ).items():
            firsts[(cid, uid)] = p.first_submitted_at
    rows = []
    for t in tasks:
        u = units.get(t.unit_id) or {"code": "", "name": t.unit_id, "path": []}
        campaign = known.get(t.campaign_id)
        tier = "district" if any(levels.get(a) == "district" for a in u.get("path", [])) else "province"
        punctual = (
            timeliness(deadline_of(campaign, tier), firsts.get((t.campaign_id, t.unit_id)) or t.submitted_at, today)
            if campaign
            else None
        )
        rows.append(
            {
                **_view(t).model_dump(mode="json"),
                "unit_code": u.get("code", ""),
                "unit_name": u.get("name", ""),
                "deadline": punctual.deadline.isoformat() if punctual else None,
                "timeliness": punctual.status if punctual else None,
                "working_days_late": punctual.working_days_late if punctual else 0,
            }
        )
    if unit:
        needle = unit.strip().lower()
        rows = [
            r
            for r in rows
            if r["unit_id"] == unit or needle in r["unit_code"].lower() or needle in r["unit_name"].lower()
        ]
    counts = {"late": sum(r["timeliness"] == "late" for r in rows), "all": len(rows)}
    if late is not None:
        rows = [r for r in rows if (r["timeliness"] == "late") == late]
    rows.sort(key=lambda r: (r["submitted_at"], r["unit_code"]))
    return QueuePage(
        items=rows[(page - 1) * page_size : page * page_size],
        total=len(rows),
        page=page,
        page_size=page_size,
        counts=counts,
    )


# Moving an official's record (seed 003, 2.1) ---------------------------------------------------
class MoveView(BaseModel):
    task_id: str
    move_id: str
    record_id: str
    record_kind: str
    process: str
    from_unit_id: str
    to_unit_id: str
    decider_unit_id: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class MoveReturnRequest(Input):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/moves", tags=["moves"])
async def move_queue(
    principal: CurrentPrincipal,
    moves: Moves,
    tree: Units,
    status: Literal["open", "approved", "returned", "all"] = "open",
) -> list[dict[str, Any]]:
    """The requests to move a record that the caller's level decides (its supervisors), oldest
    first, with the two units' codes and names. Personnel holds the record itself."""
    if not principal.is_supervisor:
        return []
    found = await moves.of_decider(principal.unit_id, None if status == "all" else status)
    ids = list({u for r in found for u in (r.from_unit_id, r.to_unit_id)})
    units = {u["_id"]: u async for u in tree.units.find({"_id": {"$in": ids}})} if ids else {}

    def unit(unit_id: str) -> dict[str, str]:
        return {"code": units.get(unit_id, {}).get("code", ""), "name": units.get(unit_id, {}).get("name", "")}

    return [
        {**_move_view(r).model_dump(mode="json"), "from_unit": unit(r.from_unit_id), "to_unit": unit(r.to_unit_id)}
        for r in found
    ]


@router.get("/moves/{task_id}", tags=["moves"])
async def get_move(task_id: str, principal: CurrentPrincipal, moves: Moves) -> MoveView:
    review = await moves.get(task_id)
    if review is None or not review.visible_to(principal):
        raise NotFound("Không tìm thấy đề nghị chuyển hồ sơ")
    return _move_view(review)


@router.post("/moves/{task_id}/approve", tags=["moves"])
async def approve_move(task_id: str, request: Request, principal: CurrentPrincipal, moves: Moves) -> MoveView:
    """Approve: personnel moves the record, with its history, to the receiving unit."""
    review = await _move_to_decide(moves, task_id, principal)
    review.approve(principal, ip=client_ip(request))
    await moves.save(review)
    return _move_view(review)


@router.post("/moves/{task_id}/return", tags=["moves"])
async def return_move(
    task_id: str, body: MoveReturnRequest, request: Request, principal: CurrentPrincipal, moves: Moves
) -> MoveView:
    """Refuse, with the reason: the record stays where it is."""
    review = await _move_to_decide(moves, task_id, principal)
    review.return_to_unit(principal, body.reason, ip=client_ip(request))
    await moves.save(review)
    return _move_view(review)


async def _move_to_decide(moves: MoveReviewStore, task_id: str, principal: Principal) -> MoveReview:
    review = await moves.get(task_id)
    if review is None or not review.decidable_by(principal):
        raise NotFound("Không tìm thấy đề nghị chuyển hồ sơ")
    return review


def _move_view(r: MoveReview) -> MoveView:
    return MoveView(
        task_id=r.id,
        move_id=r.move_id,
        record_id=r.record_id,
        record_kind=r.record_kind,
        process=r.process,
        from_unit_id=r.from_unit_id,
        to_unit_id=r.to_unit_id,
        decider_unit_id=r.decider_unit_id,
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        status=r.status,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        reason=r.reason,
    )
