"""Forms' HTTP API: a unit submits its form; the unit and those above it read it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chassis import audit as audit_log
from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.http import CurrentPrincipal, from_state
from chassis.sheet_http import streamed
from chassis.sheets import CSV_TYPE, XLSX_TYPE, csv_stream, xlsx_stream
from chassis.text import Input, SingleLine
from chassis.tree import UnitDirectory

from .domain.campaigns import Campaign, FormCode, UnitId, half_yearly, tier_of
from .domain.codelists import DYNAMIC, code_lists
from .domain.definitions import FieldError, FormDefinition
from .domain.model import Submission, submission_id
from .exports import Export, flat_rows, header_for
from .store import CampaignStore, DefinitionStore, SubmissionStore

router = APIRouter()

Scalar = str | int | float | bool | None
FIELD_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class SubmitRequest(Input):
    campaign_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    form_code: str = Field(min_length=1, max_length=32)
    unit_id: str = Field(min_length=1, max_length=64)
    answers: dict[Annotated[str, Field(pattern=FIELD_CODE)], Scalar] = Field(max_length=2000)
    expected_version: int | None = Field(default=None, ge=0, description="the version last read; 409 if it moved")

    @field_validator("answers")
    @classmethod
    def _short_strings(cls, answers: dict[str, Any]) -> dict[str, Any]:
        for key, value in answers.items():
            if isinstance(value, str) and len(value) > 4000:
                raise ValueError(f"câu trả lời '{key}' dài quá 4000 ký tự")
        return answers


class SubmissionView(BaseModel):
    submission_id: str
    campaign_id: str
    form_code: str
    unit_id: str
    status: str
    revision: int
    version: int
    answers: dict[str, Any]
    return_reason: str | None
    history: list[dict[str, Any]]
    definition_version: int
    coding: list[dict[str, Any]]


Submissions = Annotated[SubmissionStore, Depends(from_state("submissions"))]
Units = Annotated[UnitDirectory, Depends(from_state("units"))]
Definitions = Annotated[DefinitionStore, Depends(from_state("definitions"))]
Campaigns = Annotated[CampaignStore, Depends(from_state("campaigns"))]


class AnswersInvalid(DomainError):
    code = "answers_invalid"


async def _open(
    body: SubmitRequest,
    principal: Principal,
    store: SubmissionStore,
    tree: UnitDirectory,
    definitions: DefinitionStore,
    campaigns: CampaignStore,
) -> tuple[Submission, FormDefinition]:
    """The unit's submission for the campaign (new if none), checked for version and form, with the
    definition it is checked against: the one it started under, or the latest for a new one."""
    # Scope first: nobody else learns whether the submission exists, or anything about it.
    if principal.role != "reporting_unit" or principal.unit_id != body.unit_id:
        raise Forbidden("Chỉ đơn vị cung cấp thông tin được kê khai, gửi phiếu của chính mình")
    campaign = await campaigns.get(body.campaign_id)
    if campaign is None:
        raise NotFound(f"Không có đợt thu thập '{body.campaign_id}'")
    unit = await tree.get(body.unit_id)
    if unit is None:
        raise Conflict("Đơn vị chưa được hệ thống ghi nhận; hãy thử lại sau ít phút", code="unit_unknown")
    if unit.get("status", "active") != "active":
        raise Conflict("Đơn vị đã giải thể hoặc sáp nhập, không gửi phiếu được nữa", code="unit_retired")
    campaign.check_accepts([*unit["path"], body.unit_id], body.form_code, today_in_vietnam())
    sub = await store.get(submission_id(body.campaign_id, body.unit_id))
    if sub is None:
        sub = Submission.start(body.campaign_id, body.form_code, body.unit_id)
    if body.form_code != sub.form_code:
        raise DomainError(f"Phiếu này theo mẫu '{sub.form_code}', không phải '{body.form_code}'", code="wrong_form")
    if body.expected_version is not None and body.expected_version != sub.version:
        raise Conflict("Phiếu đã được thay đổi ở nơi khác; hãy tải lại rồi gửi lại", code="stale_version")
    definition = await (
        definitions.get(sub.form_code, sub.definition_version)
        if sub.definition_version
        else definitions.latest(sub.form_code)
    )
    if definition is None:
        raise DomainError(f"Không có mẫu phiếu '{sub.form_code}'", code="unknown_form")
    return sub, definition


async def _check(definition: FormDefinition, answers: dict[str, Any], tree: UnitDirectory, *, complete: bool) -> None:
    errors = definition.check(answers, complete=complete)
    for f, code in definition.dynamic_codes(answers):
        if await tree.by_code(code) is None:
            errors.append(
                FieldError(field=f.code, message=f"{f.label}: mã '{code}' không có trong {DYNAMIC[f.code_list or '']}")
            )
    if errors:
        error = AnswersInvalid(f"Phiếu có {len(errors)} chỗ cần sửa; chưa được {'gửi' if complete else 'lưu'}")
        error.details = {"errors": [e.model_dump() for e in errors]}
        raise error


@router.post("/submissions", status_code=201, tags=["submissions"])
async def submit(
    body: SubmitRequest,
    principal: CurrentPrincipal,
    store: Submissions,
    tree: Units,
    definitions: Definitions,
    campaigns: Campaigns,
) -> SubmissionView:
    """Submit a unit's answers. They are checked against the version of the form the submission
    started with (the latest, at its first save); every problem comes back pointing at its field."""
    sub, definition = await _open(body, principal, store, tree, definitions, campaigns)
    await _check(definition, body.answers, tree, complete=True)
    sub.submit(principal, body.answers, definition_version=definition.version)
    await store.save(sub)
    return _view(sub)


@router.put("/submissions/draft", tags=["submissions"])
async def save_draft(
    body: SubmitRequest,
    principal: CurrentPrincipal,
    store: Submissions,
    tree: Units,
    definitions: Definitions,
    campaigns: Campaigns,
) -> SubmissionView:
    """Save the answers filled so far (each answer checked on its own, the rules at submit)."""
    sub, definition = await _open(body, principal, store, tree, definitions, campaigns)
    await _check(definition, body.answers, tree, complete=False)
    sub.save_draft(principal, body.answers, definition.version)
    await store.save(sub)
    return _view(sub)


@router.post("/campaigns", status_code=201, tags=["campaigns"])
async def open_campaign(
    body: Campaign,
    request: Request,
    principal: CurrentPrincipal,
    tree: Units,
    campaigns: Campaigns,
    definitions: Definitions,
) -> Campaign:
    """Open a data collection for the units under `scope_unit_ids`, from `opens_on` to `closes_on`."""
    lineages = [await tree.lineage(u) for u in body.scope_unit_ids]
    body.check_open_by(principal, lineages)
    if await definitions.latest(body.form_code) is None:
        raise DomainError(f"Không có mẫu phiếu '{body.form_code}'", code="unknown_form")
    await campaigns.open(
        body,
        audit_log.entry(
            request,
            "campaign_opened",
            actor=principal,
            target_id=body.campaign_id,
            unit_lineage=[u for lineage in lineages for u in lineage or []],
            form_code=body.form_code,
            scope_unit_ids=body.scope_unit_ids,
            opens_on=str(body.opens_on),
            closes_on=str(body.closes_on),
        ),
    )
    return body


class PeriodicRequest(Input):
    model_config = ConfigDict(str_strip_whitespace=False)
    base_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._-]+$")
    form_code: FormCode
    title: SingleLine = Field(min_length=1, max_length=250, description="the period is added to it")
    scope_unit_ids: list[UnitId] = Field(min_length=1, max_length=1000)
    year: int = Field(ge=2000, le=2100)


@router.post("/campaigns/periodic", status_code=201, tags=["campaigns"])
async def open_periodic(
    body: PeriodicRequest,
    request: Request,
    principal: CurrentPrincipal,
    tree: Units,
    campaigns: Campaigns,
    definitions: Definitions,
) -> list[Campaign]:
    """The two half-yearly reports of a year (due 15/6 and 15/12)."""
    opened = []
    for campaign in half_yearly(body.base_id, body.form_code, body.title, body.scope_unit_ids, body.year):
        opened.append(await open_campaign(campaign, request, principal, tree, campaigns, definitions))
    return opened


@router.get("/campaigns/{campaign_id}", tags=["campaigns"])
async def get_campaign(campaign_id: str, principal: CurrentPrincipal, campaigns: Campaigns, tree: Units) -> Campaign:
    """For the units in the campaign's scope, those above them and the Ministry; for anyone else
    it does not exist."""
    campaign = await campaigns.get(campaign_id)
    if campaign is None or not await tree.reaches_scope(principal, campaign.scope_unit_ids):
        raise NotFound("Không có đợt thu thập này")
    return campaign


# A campaign id as campaigns are opened with: it also names the file, in a header.
CampaignId = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get("/exports/submissions", tags=["exports"])
async def export_submissions(
    request: Request,
    principal: CurrentPrincipal,
    campaign_id: CampaignId,
    form_code: str,
    definitions: Definitions,
    tree: Units,
    format: Literal["csv", "xlsx"] = "xlsx",
    area: str | None = None,
) -> StreamingResponse:
    """The campaign's submissions and answers in the caller's area (or in `area`, a unit under it)."""
    if principal.role == "reporting_unit":
        area = principal.unit_id
    definition = await definitions.latest(form_code)
    where = area or principal.unit_id
    lineage = await tree.lineage(where)
    # Recorded before a row leaves: what left, of which area, for whom, from where. (Only what
    # exists is named: a query string is not to be kept for ever.)
    await audit_log.record(
        request,
        audit_log.entry(
            request,
            "submissions_exported",
            actor=principal,
            target_id=campaign_id,
            unit_lineage=lineage or [principal.unit_id],
            form_code=form_code if definition else None,
            area=where if lineage else None,
            format=format,
        ),
    )
    export: Export = request.app.state.export
    columns = await export.columns(form_code)
    header = header_for(columns, definition)
    rows = flat_rows(columns, export.rows(principal, campaign_id, area))
    stream = csv_stream(header, rows) if format == "csv" else xlsx_stream("Phiếu", header, rows)
    media = CSV_TYPE if format == "csv" else XLSX_TYPE
    name = f"phieu-{campaign_id}.{format}"
    return await streamed(stream, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/definitions", tags=["definitions"])
async def get_definition(
    principal: CurrentPrincipal, definitions: Definitions, form_code: str, version: int | None = None
) -> FormDefinition:
    """A form's definition: the latest version, or the one asked for."""
    del principal
    definition = await (definitions.get(form_code, version) if version else definitions.latest(form_code))
    if definition is None:
        raise NotFound("Không có mẫu phiếu này")
    return definition


@router.post("/definitions", status_code=201, tags=["definitions"])
async def publish_definition(
    body: FormDefinition, request: Request, principal: CurrentPrincipal, definitions: Definitions
) -> FormDefinition:
    """Publish the next version of a form (central administrators). Submissions started under an
    earlier version keep being checked against it."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương ban hành mẫu phiếu")
    await definitions.publish(
        body,
        audit_log.entry(
            request,
            "definition_published",
            actor=principal,
            target_id=f"{body.form_code}:v{body.version}",
            unit_lineage=[principal.unit_id],
            form_code=body.form_code,
            version=body.version,
        ),
    )
    return body


class CodingRequest(Input):
    field: str = Field(pattern=FIELD_CODE)
    code: str = Field(min_length=1, max_length=16)
    expected_version: int | None = Field(default=None, ge=1)


@router.put("/submissions/{sid}/coding", tags=["submissions"])
async def code_answer(
    sid: str,
    body: CodingRequest,
    request: Request,
    principal: CurrentPrincipal,
    store: Submissions,
    tree: Units,
    definitions: Definitions,
) -> SubmissionView:
    """A supervisor above the unit sets the official code of one of the form's code fields (ghi
    mã, seed 001), checked against the field's code list."""
    sub = await store.get(sid)
    if sub is None or not await tree.can_see(principal, sub.unit_id):
        raise NotFound("Không tìm thấy phiếu")
    if body.expected_version is not None and body.expected_version != sub.version:
        raise Conflict("Phiếu đã được thay đổi ở nơi khác; hãy tải lại", code="stale_version")
    definition = await definitions.get(sub.form_code, sub.definition_version or 1)
    target = definition.fields.get(body.field) if definition else None
    if target is None or target.type != "code":
        raise DomainError(f"Mục '{body.field}' không phải mục ghi mã của mẫu phiếu", code="not_a_code_field")
    await _check(definition, {body.field: body.code}, tree, complete=False)
    sub.code_answer(principal, body.field, body.code)
    await store.save(
        sub,
        audit_log.entry(
            request,
            "answer_coded",
            actor=principal,
            target_id=sub.id,
            unit_lineage=await tree.lineage(sub.unit_id) or [sub.unit_id],
            field=body.field,
            code=body.code,
            revision=sub.revision,
        ),
    )
    return _view(sub)


@router.get("/codelists/{name}", tags=["definitions"])
async def get_code_list(
    name: str, principal: CurrentPrincipal, tree: Units, q: str | None = None, level: int | None = None
) -> dict[str, Any]:
    """An official code list's entries (those whose code or name contains `q`, at `level`)."""
    del principal
    needle = (q or "").strip().lower()
    if name in DYNAMIC:
        units = await tree.search(needle, limit=50)
        return {
            "name": name,
            "title": DYNAMIC[name],
            "pattern": None,
            "entries": [
                {"code": u["code"], "level": u["level"], "name": u["name"], "parent": u.get("parent_id")} for u in units
            ],
        }
    code_list = code_lists().get(name)
    if code_list is None:
        raise NotFound("Không có bảng mã này")
    entries = [
        {"code": e.code, "level": e.level, "name": e.name, "parent": e.parent}
        for e in code_list.entries.values()
        if (level is None or e.level == level) and (not needle or needle in e.code.lower() or needle in e.name.lower())
    ]
    return {"name": code_list.name, "title": code_list.title, "entries": entries, "pattern": code_list.pattern}


@router.get("/submissions/{sid}", tags=["submissions"])
async def get_submission(sid: str, principal: CurrentPrincipal, store: Submissions, tree: Units) -> SubmissionView:
    sub = await store.get(sid)
    # Out of scope answers like unknown, so a guessed id tells nothing.
    if sub is None or not await tree.can_see(principal, sub.unit_id):
        raise NotFound("Không tìm thấy phiếu")
    return _view(sub)


def _view(sub: Submission) -> SubmissionView:
    return SubmissionView(
        submission_id=sub.id,
        campaign_id=sub.campaign_id,
        form_code=sub.form_code,
        unit_id=sub.unit_id,
        status=sub.status,
        revision=sub.revision,
        version=sub.version,
        answers=sub.answers,
        return_reason=sub.return_reason,
        history=[_jsonable(h) for h in sub.history],
        definition_version=sub.definition_version,
        coding=[_jsonable(c) for c in sub.coding],
    )


def _jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in entry.items()}


# What the web front's pages need: a unit's campaigns, an area's submissions, checks without saving.
class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


class ValidateRequest(SubmitRequest):
    complete: bool = Field(default=False, description="check as for submitting: required answers and rules")


@router.post("/submissions/validate", tags=["submissions"])
async def validate(
    body: ValidateRequest,
    principal: CurrentPrincipal,
    store: Submissions,
    tree: Units,
    definitions: Definitions,
    campaigns: Campaigns,
) -> dict[str, Any]:
    """Check answers with the form's own rules without saving anything (a page checks a field as
    soon as it is left). Answers 200 with the problems found, each pointing at its field."""
    fields = body.model_dump(exclude={"complete"})
    _sub, definition = await _open(SubmitRequest(**fields), principal, store, tree, definitions, campaigns)
    try:
        await _check(definition, body.answers, tree, complete=body.complete)
    except AnswersInvalid as invalid:
        return {
            "valid": False,
            "errors": (invalid.details or {}).get("errors", []),
            "definition_version": definition.version,
        }
    return {"valid": True, "errors": [], "definition_version": definition.version}


@router.get("/submissions/{sid}/checks", tags=["submissions"])
async def submission_checks(
    sid: str, principal: CurrentPrincipal, store: Submissions, tree: Units, definitions: Definitions
) -> dict[str, Any]:
    """The result of every check on the submission's answers: each answer's own, and each logic
    rule (held or not, with its message), for the supervisor who reviews it."""
    sub = await store.get(sid)
    if sub is None or not await tree.can_see(principal, sub.unit_id):
        raise NotFound("Không tìm thấy phiếu")
    definition = await definitions.get(sub.form_code, sub.definition_version or 1)
    if definition is None:
        raise NotFound("Không có mẫu phiếu này")
    field_errors = definition.check(sub.answers, complete=False)
    rules = []
    for rule, error in definition.rule_results(sub.answers):
        named = (
            [rule.total, *rule.parts]
            if rule.kind == "sum"
            else (rule.fields if rule.kind == "both_or_neither" else [rule.field, rule.than])
        )
        rules.append(
            {
                "kind": rule.kind,
                "message": rule.message,
                "fields": named,
                "holds": error is None,
                "problem": error.message if error else None,
            }
        )
    return {
        "submission_id": sid,
        "definition_version": definition.version,
        "field_errors": [e.model_dump() for e in field_errors],
        "rules": rules,
    }


async def _levels_above(tree: UnitDirectory, unit: dict[str, Any]) -> list[str]:
    return [a["level"] for a in [await tree.get(u) for u in unit["path"]] if a]


def _campaign_row(campaign: Campaign, deadline: Any = None) -> dict[str, Any]:
    return {**campaign.model_dump(mode="json"), "deadline": (deadline or campaign.closes_on).isoformat()}


@router.get("/units/{unit_id}/campaigns", tags=["campaigns"])
async def unit_campaigns(
    unit_id: str,
    principal: CurrentPrincipal,
    store: Submissions,
    tree: Units,
    campaigns: Campaigns,
    open_only: bool = False,
    page: int = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    """The campaigns a unit reports in, newest first, each with the unit's deadline (by where it
    sits) and its submission (status, revision, version), or none yet."""
    unit = await tree.get(unit_id)
    if unit is None or not await tree.can_see(principal, unit_id):
        raise NotFound("Không tìm thấy đơn vị")
    lineage, today = [*unit["path"], unit_id], today_in_vietnam()
    tier = tier_of(await _levels_above(tree, unit))
    mine = [
        c
        for c in await campaigns.all()
        if any(root in lineage for root in c.scope_unit_ids) and (not open_only or c.opens_on <= today <= c.closes_on)
    ]
    mine.sort(key=lambda c: (c.opens_on, c.campaign_id), reverse=True)
    page = max(page, 1)
    items = []
    for campaign in mine[(page - 1) * page_size : page * page_size]:
        sub = await store.get(submission_id(campaign.campaign_id, unit_id))
        items.append(
            {
                **_campaign_row(campaign, campaign.deadline_for(tier)),
                "submission": None
                if sub is None
                else {
                    "submission_id": sub.id,
                    "status": sub.status,
                    "revision": sub.revision,
                    "version": sub.version,
                    "return_reason": sub.return_reason,
                },
            }
        )
    return Page(items=items, total=len(mine), page=page, page_size=page_size)


@router.get("/campaigns", tags=["campaigns"])
async def area_campaigns(
    principal: CurrentPrincipal,
    tree: Units,
    campaigns: Campaigns,
    area: str | None = None,
    open_only: bool = False,
    page: int = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    """The campaigns that reach into an area (the caller's own by default): those whose scope
    holds the area, or lies under it. Newest first."""
    area = area or principal.unit_id
    unit = await tree.get(area)
    if unit is None or not await tree.can_see(principal, area):
        raise NotFound("Không tìm thấy đơn vị")
    lineage, today = [*unit["path"], area], today_in_vietnam()
    found = []
    for campaign in await campaigns.all():
        if open_only and not campaign.opens_on <= today <= campaign.closes_on:
            continue
        if any(root in lineage for root in campaign.scope_unit_ids):
            found.append(campaign)
            continue
        for root in campaign.scope_unit_ids:
            root_lineage = await tree.lineage(root)
            if root_lineage is not None and area in root_lineage:
                found.append(campaign)
                break
    found.sort(key=lambda c: (c.opens_on, c.campaign_id), reverse=True)
    page = max(page, 1)
    return Page(
        items=[_campaign_row(c) for c in found[(page - 1) * page_size : page * page_size]],
        total=len(found),
        page=page,
        page_size=page_size,
    )


@router.get("/submissions", tags=["submissions"])
async def area_submissions(
    principal: CurrentPrincipal,
    store: Submissions,
    tree: Units,
    campaign_id: str,
    area: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    """The campaign's submissions in an area (the caller's own by default), by unit code, without
    their answers: status, revision, version, return reason."""
    area = area or principal.unit_id
    unit = await tree.get(area)
    if unit is None or not await tree.can_see(principal, area):
        raise NotFound("Không tìm thấy đơn vị")
    members = {area: unit}
    if principal.role != "reporting_unit":
        members |= {u["_id"]: u async for u in tree.units.find({"path": area})}
    subs = await store.of_units(campaign_id, list(members), status)
    subs.sort(key=lambda s: members[s.unit_id].get("code", ""))
    page = max(page, 1)
    return Page(
        items=[
            {
                "submission_id": s.id,
                "unit_id": s.unit_id,
                "unit_code": members[s.unit_id].get("code"),
                "unit_name": members[s.unit_id].get("name"),
                "status": s.status,
                "revision": s.revision,
                "version": s.version,
                "return_reason": s.return_reason,
            }
            for s in subs[(page - 1) * page_size : page * page_size]
        ],
        total=len(subs),
        page=page,
        page_size=page_size,
    )
