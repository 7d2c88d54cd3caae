"""Forms' HTTP API: a unit submits its form; the unit and those above it read it. Adapters over the
use cases (usecases.py): each route parses, runs its use case through `Forms.run` (the one retry
policy on a stale version) and shapes the response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chassis.auth import Principal
from chassis.http import CurrentPrincipal, client_ip, from_state
from chassis.sheet_http import streamed
from chassis.sheets import CSV_TYPE, XLSX_TYPE, csv_stream, xlsx_stream
from chassis.text import Input, SingleLine

from . import usecases
from .domain.campaigns import Campaign, FormCode, UnitId
from .domain.definitions import FormDefinition
from .domain.model import Submission
from .exports import flat_rows, header_for
from .usecases import Forms

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


# The one dependency: what bootstrap.py wired; use cases run through it.
Service = Annotated[Forms, Depends(from_state("forms"))]


def _fill(body: SubmitRequest, principal: Principal) -> usecases.Fill:
    return usecases.Fill(principal, body.campaign_id, body.form_code, body.unit_id, body.answers, body.expected_version)


@router.post("/submissions", status_code=201, tags=["submissions"])
async def submit(body: SubmitRequest, principal: CurrentPrincipal, forms: Service) -> SubmissionView:
    """Submit a unit's answers. They are checked against the version of the form the submission
    started with (the latest, at its first save); every problem comes back pointing at its field."""
    return _view(await forms.run(usecases.submit, _fill(body, principal)))


@router.put("/submissions/draft", tags=["submissions"])
async def save_draft(body: SubmitRequest, principal: CurrentPrincipal, forms: Service) -> SubmissionView:
    """Save the answers filled so far (each answer checked on its own, the rules at submit)."""
    return _view(await forms.run(usecases.save_draft, _fill(body, principal)))


@router.post("/campaigns", status_code=201, tags=["campaigns"])
async def open_campaign(body: Campaign, request: Request, principal: CurrentPrincipal, forms: Service) -> Campaign:
    """Open a data collection for the units under `scope_unit_ids`, from `opens_on` to `closes_on`."""
    return await forms.run(usecases.open_campaign, principal, body, client_ip(request))


class PeriodicRequest(Input):
    model_config = ConfigDict(str_strip_whitespace=False)
    base_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._-]+$")
    form_code: FormCode
    title: SingleLine = Field(min_length=1, max_length=250, description="the period is added to it")
    scope_unit_ids: list[UnitId] = Field(min_length=1, max_length=1000)
    year: int = Field(ge=2000, le=2100)


@router.post("/campaigns/periodic", status_code=201, tags=["campaigns"])
async def open_periodic(
    body: PeriodicRequest, request: Request, principal: CurrentPrincipal, forms: Service
) -> list[Campaign]:
    """The two half-yearly reports of a year (due 15/6 and 15/12)."""
    cmd = usecases.OpenPeriodic(
        principal, body.base_id, body.form_code, body.title, body.scope_unit_ids, body.year, client_ip(request)
    )
    return await usecases.open_periodic(forms, cmd)


@router.get("/campaigns/{campaign_id}", tags=["campaigns"])
async def get_campaign(campaign_id: str, principal: CurrentPrincipal, forms: Service) -> Campaign:
    """For the units in the campaign's scope, those above them and the Ministry; for anyone else
    it does not exist."""
    return await forms.run(usecases.visible_campaign, principal, campaign_id)


# A campaign id as campaigns are opened with: it also names the file, in a header.
CampaignId = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get("/exports/submissions", tags=["exports"])
async def export_submissions(
    request: Request,
    principal: CurrentPrincipal,
    campaign_id: CampaignId,
    form_code: str,
    forms: Service,
    format: Literal["csv", "xlsx"] = "xlsx",
    area: str | None = None,
) -> StreamingResponse:
    """The campaign's submissions and answers in the caller's area (or in `area`, a unit under it)."""
    cmd = usecases.ExportRequest(principal, campaign_id, form_code, format, area, client_ip(request))
    sheet = await forms.run(usecases.export, cmd)
    header = header_for(sheet.columns, sheet.definition)
    rows = flat_rows(sheet.columns, sheet.rows)
    stream = csv_stream(header, rows) if format == "csv" else xlsx_stream("Phiếu", header, rows)
    media = CSV_TYPE if format == "csv" else XLSX_TYPE
    name = f"phieu-{campaign_id}.{format}"
    return await streamed(stream, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/definitions", tags=["definitions"])
async def get_definition(
    principal: CurrentPrincipal, forms: Service, form_code: str, version: int | None = None
) -> FormDefinition:
    """A form's definition: the latest version, or the one asked for."""
    del principal
    return await usecases.definition(forms, form_code, version)


@router.post("/definitions", status_code=201, tags=["definitions"])
async def publish_definition(
    body: FormDefinition, request: Request, principal: CurrentPrincipal, forms: Service
) -> FormDefinition:
    """Publish the next version of a form (central administrators). Submissions started under an
    earlier version keep being checked against it."""
    return await forms.run(usecases.publish_definition, principal, body, client_ip(request))


class CodingRequest(Input):
    field: str = Field(pattern=FIELD_CODE)
    code: str = Field(min_length=1, max_length=16)
    expected_version: int | None = Field(default=None, ge=1)


@router.put("/submissions/{sid}/coding", tags=["submissions"])
async def code_answer(
    sid: str, body: CodingRequest, request: Request, principal: CurrentPrincipal, forms: Service
) -> SubmissionView:
    """A supervisor above the unit sets the official code of one of the form's code fields (ghi
    mã, seed 001), checked against the field's code list."""
    cmd = usecases.Code(principal, sid, body.field, body.code, body.expected_version, client_ip(request))
    return _view(await forms.run(usecases.code_answer, cmd))


@router.get("/codelists/{name}", tags=["definitions"])
async def get_code_list(
    name: str, principal: CurrentPrincipal, forms: Service, q: str | None = None, level: int | None = None
) -> dict[str, Any]:
    """An official code list's entries (those whose code or name contains `q`, at `level`)."""
    del principal
    return await usecases.code_list(forms, name, q, level)


@router.get("/submissions/{sid}", tags=["submissions"])
async def get_submission(sid: str, principal: CurrentPrincipal, forms: Service) -> SubmissionView:
    return _view(await forms.run(usecases.visible_submission, principal, sid))


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
async def validate(body: ValidateRequest, principal: CurrentPrincipal, forms: Service) -> dict[str, Any]:
    """Check answers with the form's own rules without saving anything (a page checks a field as
    soon as it is left). Answers 200 with the problems found, each pointing at its field."""
    return await forms.run(usecases.validate, _fill(body, principal), complete=body.complete)


@router.get("/submissions/{sid}/checks", tags=["submissions"])
async def submission_checks(sid: str, principal: CurrentPrincipal, forms: Service) -> dict[str, Any]:
    """The result of every check on the submission's answers: each answer's own, and each logic
    rule (held or not, with its message), for the supervisor who reviews it."""
    return await forms.run(usecases.submission_checks, principal, sid)


PageSize = Annotated[int, Query(ge=1, le=200)]


@router.get("/units/{unit_id}/campaigns", tags=["campaigns"])
async def unit_campaigns(
    unit_id: str,
    principal: CurrentPrincipal,
    forms: Service,
    open_only: bool = False,
    page: int = 1,
    page_size: PageSize = 50,
) -> Page:
    """The campaigns a unit reports in, newest first, each with the unit's deadline (by where it
    sits) and its submission (status, revision, version), or none yet."""
    listing = usecases.Listing(open_only, max(page, 1), page_size)
    items, total = await forms.run(usecases.unit_campaigns, principal, unit_id, listing)
    return Page(items=items, total=total, page=listing.page, page_size=page_size)


@router.get("/campaigns", tags=["campaigns"])
async def area_campaigns(
    principal: CurrentPrincipal,
    forms: Service,
    area: str | None = None,
    open_only: bool = False,
    page: int = 1,
    page_size: PageSize = 50,
) -> Page:
    """The campaigns that reach into an area (the caller's own by default): those whose scope
    holds the area, or lies under it. Newest first."""
    listing = usecases.Listing(open_only, max(page, 1), page_size)
    items, total = await forms.run(usecases.area_campaigns, principal, area, listing)
    return Page(items=items, total=total, page=listing.page, page_size=page_size)


@router.get("/submissions", tags=["submissions"])
async def area_submissions(
    principal: CurrentPrincipal,
    forms: Service,
    campaign_id: str,
    area: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: PageSize = 50,
) -> Page:
    """The campaign's submissions in an area (the caller's own by default), by unit code, without
    their answers: status, revision, version, return reason."""
    found = await forms.run(usecases.area_submissions, principal, campaign_id, area, status)
    page = max(page, 1)
    return Page(
        items=[
            {
                "submission_id": s.id,
                "unit_id": s.unit_id,
                "unit_code": unit.get("code"),
                "unit_name": unit.get("name"),
                "status": s.status,
                "revision": s.revision,
                "version": s.version,
                "return_reason": s.return_reason,
            }
            for s, unit in found[(page - 1) * page_size : page * page_size]
        ],
        total=len(found),
        page=page,
        page_size=page_size,
    )
