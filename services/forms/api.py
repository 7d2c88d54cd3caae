"""Forms' HTTP API: a unit submits its form; the unit and those above it read it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from chassis.errors import Conflict, NotFound
from chassis.http import CurrentPrincipal
from chassis.tree import UnitDirectory
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .domain.model import Submission, submission_id
from .store import SubmissionStore

router = APIRouter()

Scalar = str | int | float | bool | None
FIELD_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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


def submissions(request: Request) -> SubmissionStore:
    return request.app.state.submissions


def units(request: Request) -> UnitDirectory:
    return request.app.state.units


Submissions = Annotated[SubmissionStore, Depends(submissions)]
Units = Annotated[UnitDirectory, Depends(units)]


@router.post("/submissions", status_code=201, tags=["submissions"])
async def submit(body: SubmitRequest, principal: CurrentPrincipal, store: Submissions, tree: Units) -> SubmissionView:
    sub = await store.get(submission_id(body.campaign_id, body.unit_id))
    if principal.unit_id == body.unit_id and await tree.get(body.unit_id) and not await tree.is_active(body.unit_id):
        raise Conflict("Đơn vị đã giải thể hoặc sáp nhập, không gửi phiếu được nữa", code="unit_retired")
    if sub is None:
        sub = Submission.start(body.campaign_id, body.form_code, body.unit_id)
    if body.expected_version is not None and body.expected_version != sub.version:
        raise Conflict("Phiếu đã được thay đổi ở nơi khác; hãy tải lại rồi gửi lại", code="stale_version")
    sub.submit(principal, body.answers)
    await store.save(sub)
    return _view(sub)


@router.get("/submissions/{sid}", tags=["submissions"])
async def get_submission(sid: str, principal: CurrentPrincipal, store: Submissions, tree: Units) -> SubmissionView:
    sub = await store.get(sid)
    # Out of scope answers like unknown, so a guessed id tells nothing.
    if sub is None or not await tree.can_see(principal, sub.unit_id):
        raise NotFound("Không tìm thấy phiếu")
    return _view(sub)


def _view(sub: Submission) -> SubmissionView:
    return SubmissionView(
        submission_id=sub.id, campaign_id=sub.campaign_id, form_code=sub.form_code, unit_id=sub.unit_id,
        status=sub.status, revision=sub.revision, version=sub.version, answers=sub.answers,
        return_reason=sub.return_reason, history=[_jsonable(h) for h in sub.history],
    )


def _jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in entry.items()}
