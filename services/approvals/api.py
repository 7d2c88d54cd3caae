"""Approvals' HTTP API: a supervisor's queue and decisions, the review trail of a submission,
campaign progress per area, and the requests to move an official's record to another unit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from chassis import audit as audit_log
from chassis.clock import today_in_vietnam
from chassis.errors import Forbidden, NotFound
from chassis.http import CurrentPrincipal, client_ip, from_state
from chassis.sheets import CSV_TYPE, XLSX_TYPE, write_csv, write_xlsx
from chassis.text import Input

from . import usecases
from .domain.model import ReviewTask
from .domain.moves import MoveReview
from .domain.progress import timeliness
from .store import deadline_of
from .usecases import Approvals
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


# The one dependency: what bootstrap.py wired (store, tree, read models), use cases run through it.
Service = Annotated[Approvals, Depends(from_state("approvals"))]


@router.get("/tasks", tags=["review"])
async def my_queue(principal: CurrentPrincipal, svc: Service, status: str = "open") -> list[TaskView]:
    """The tasks waiting for the caller's level: only its assigned units, if it has an assignment."""
    return [_view(t) for t in await usecases.reviewable_tasks(svc.uow(), principal, status)]


@router.get("/tasks/{task_id}", tags=["review"])
async def get_task(task_id: str, principal: CurrentPrincipal, svc: Service) -> TaskView:
    return _view(await usecases.visible_task(svc.uow(), task_id, principal))


@router.post("/tasks/{task_id}/claim", tags=["review"])
async def claim(task_id: str, request: Request, principal: CurrentPrincipal, svc: Service) -> TaskView:
    """Take the form up for review: the unit and those above see it as under review."""
    return _view(await svc.run(usecases.claim, task_id, principal, client_ip(request)))


@router.post("/tasks/{task_id}/approve", tags=["review"])
async def approve(
    task_id: str, body: ApproveRequest, request: Request, principal: CurrentPrincipal, svc: Service
) -> TaskView:
    """Approve the revision read. Below the last level the form goes up to the next level's
    supervisors; at the last level it is confirmed (SubmissionFinalized)."""
    command = usecases.Decide(task_id, principal, body.revision, ip=client_ip(request))
    return _view(await svc.run(usecases.approve, command))


@router.post("/tasks/{task_id}/return", tags=["review"])
async def return_to_unit(
    task_id: str, body: ReturnRequest, request: Request, principal: CurrentPrincipal, svc: Service
) -> TaskView:
    """Return the revision to the unit with the reason; it revises and submits again."""
    command = usecases.Decide(task_id, principal, body.revision, body.reason, client_ip(request))
    return _view(await svc.run(usecases.return_to_unit, command))


@router.get("/submissions/{submission_id}/reviews", tags=["review"])
async def review_trail(submission_id: str, principal: CurrentPrincipal, svc: Service) -> list[TaskView]:
    """Every level's task of every revision: who decided, when, from where, on which revision, why."""
    return [_view(t) for t in await usecases.review_trail(svc.uow(), submission_id, principal)]


@router.get("/progress/{campaign_id}", tags=["progress"])
async def progress(
    campaign_id: str,
    principal: CurrentPrincipal,
    svc: Service,
    area: str | None = None,
    as_of: date | None = None,
    units: bool = True,
) -> dict[str, Any]:
    """The campaign's progress in an area (the caller's own by default): counts and percentages per
    state, timeliness against each unit's deadline in working days, the late units, each
    sub-area's figures and, unless `units=false`, every unit's row."""
    area = area or principal.unit_id
    tree = svc.units
    campaign = await svc.campaigns.get(campaign_id)
    if campaign is None or not await tree.can_see(principal, area):
        raise NotFound("Không tìm thấy đợt thu thập hoặc địa bàn này")
    # A reporting unit sees its own unit only, whatever hangs under it (an agency's sub-agencies,
    # the communes of a district-level unit): it reports, it does not supervise.
    view = await area_progress(
        tree,
        svc.progress,
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
    svc: Service,
    area: str | None = None,
    as_of: date | None = None,
    format: Literal["xlsx", "csv"] = "xlsx",
) -> Response:
    """Every unit's row of the area's progress, as a sheet for the supervisors' reports."""
    view = await progress(campaign_id, principal, svc, area, as_of, True)
    # Scope checked by `progress`: recorded before the sheet leaves.
    where = view["area"]["unit_id"]
    await svc.store.record(
        audit_log.entry(
            request,
            "progress_exported",
            actor=principal,
            target_id=campaign_id,
            unit_lineage=await svc.units.lineage(where) or [where],
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
async def rebuild(request: Request, principal: CurrentPrincipal, svc: Service) -> dict[str, int]:
    """Fold every stored fact into a fresh read model and switch to it (central administrators)."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương dựng lại số liệu tiến độ")
    rebuilt = await svc.progress.rebuild()
    details: dict[str, Any] = dict(rebuilt)
    await svc.store.record(
        audit_log.entry(request, "progress_rebuilt", actor=principal, unit_lineage=[principal.unit_id], **details)
    )
    return rebuilt


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
    svc: Service,
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
    tree, campaigns = svc.units, svc.campaigns
    tasks = [
        t
        for t in await usecases.reviewable_tasks(svc.uow(), principal, None if status == "all" else status, limit=None)
        if campaign_id is None or t.campaign_id == campaign_id
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
            await svc.progress.of_units(cid, list({t.unit_id for t in tasks if t.campaign_id == cid}))
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
    svc: Service,
    status: Literal["open", "approved", "returned", "all"] = "open",
) -> list[dict[str, Any]]:
    """The requests to move a record that the caller's level decides (its supervisors), oldest
    first, with the two units' codes and names. Personnel holds the record itself."""
    found = await usecases.moves_to_decide(svc.uow(), principal, None if status == "all" else status)
    ids = list({u for r in found for u in (r.from_unit_id, r.to_unit_id)})
    units = {u["_id"]: u async for u in svc.units.units.find({"_id": {"$in": ids}})} if ids else {}

    def unit(unit_id: str) -> dict[str, str]:
        return {"code": units.get(unit_id, {}).get("code", ""), "name": units.get(unit_id, {}).get("name", "")}

    return [
        {**_move_view(r).model_dump(mode="json"), "from_unit": unit(r.from_unit_id), "to_unit": unit(r.to_unit_id)}
        for r in found
    ]


@router.get("/moves/{task_id}", tags=["moves"])
async def get_move(task_id: str, principal: CurrentPrincipal, svc: Service) -> MoveView:
    return _move_view(await usecases.visible_move(svc.uow(), task_id, principal))


@router.post("/moves/{task_id}/approve", tags=["moves"])
async def approve_move(task_id: str, request: Request, principal: CurrentPrincipal, svc: Service) -> MoveView:
    """Approve: personnel moves the record, with its history, to the receiving unit."""
    return _move_view(await svc.run(usecases.approve_move, task_id, principal, client_ip(request)))


@router.post("/moves/{task_id}/return", tags=["moves"])
async def return_move(
    task_id: str, body: MoveReturnRequest, request: Request, principal: CurrentPrincipal, svc: Service
) -> MoveView:
    """Refuse, with the reason: the record stays where it is."""
    return _move_view(await svc.run(usecases.return_move, task_id, principal, body.reason, client_ip(request)))


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
