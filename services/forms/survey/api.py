"""The PAR Index survey's HTTP API: adapters over the use cases (usecases.py). Each route parses the
request, runs its use case through `run` (the one retry policy on a stale version) and shapes the
response."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ConfigDict, Field, model_validator

from chassis.http import CurrentPrincipal, MaybePrincipal, client_ip, from_state
from chassis.sheet_http import read_sheet
from chassis.sheets import CSV_TYPE, XLSX_TYPE, write_csv, write_xlsx
from chassis.text import Input, SingleLine
from chassis.unit_of_work import run

from . import usecases
from .domain import GROUPS, RespondentList, Survey, normalise_headers, requirements
from .usecases import SurveyWiring

router = APIRouter()
Scalar = str | int | float | bool | None
Wiring = Annotated[SurveyWiring, Depends(from_state("survey"))]


class SurveyRequest(Input):
    survey_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    title: SingleLine = Field(min_length=1, max_length=300)  # the invitation's subject: one line
    list_deadline: date = Field(description="lists are sent to the Ministry by this day (13/02 in seed 002)")
    answer_deadline: date = Field(description="respondents answer by this day (03/03 in seed 002)")
    owner_unit_ids: list[str] = Field(min_length=1, max_length=200, description="the ministries and provinces")

    @model_validator(mode="after")
    def _order(self) -> SurveyRequest:
        if self.answer_deadline < self.list_deadline:
            raise ValueError("hạn trả lời phải sau hạn gửi danh sách")
        return self


class ReasonRequest(Input):
    reason: str = Field(min_length=1, max_length=2000)


class AnswersRequest(Input):
    model_config = ConfigDict(str_strip_whitespace=False)
    answers: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")], Scalar] = Field(max_length=500)


def _survey_view(s: Survey) -> dict[str, Any]:
    return {
        "survey_id": s.id,
        "title": s.title,
        "list_deadline": s.list_deadline.isoformat(),
        "answer_deadline": s.answer_deadline.isoformat(),
        "owner_unit_ids": s.owner_unit_ids,
        "owners": s.owners,
        "questionnaires": s.questionnaires,
        "groups": {kind: GROUPS[kind] for kind in sorted(set(s.owners.values()))},
    }


def _list_view(lst: RespondentList) -> dict[str, Any]:
    return {
        "survey_id": lst.survey_id,
        "owner_unit_id": lst.owner_unit_id,
        "kind": lst.kind,
        "status": lst.status,
        "counts": lst.counts(),
        "total": len(lst.respondents),
        "requirements": requirements(lst.kind, lst.respondents),
        "history": [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in h.items()} for h in lst.history],
    }


@router.post("/surveys", status_code=201, tags=["surveys"])
async def open_survey(body: SurveyRequest, principal: CurrentPrincipal, w: Wiring) -> dict[str, Any]:
    """Open a PAR Index survey for ministries and provinces (the Ministry's central administrators).
    The questionnaires' versions are fixed now: publishing a new one later changes no running survey."""
    cmd = usecases.OpenSurvey(**body.model_dump(include=set(usecases.OpenSurvey.__dataclass_fields__)))
    return _survey_view(await run(w.uow, lambda uow: usecases.open_survey(uow, w, principal, cmd)))


@router.get("/surveys/{survey_id}", tags=["surveys"])
async def get_survey(survey_id: str, principal: CurrentPrincipal, w: Wiring) -> dict[str, Any]:
    """For the ministries and provinces surveyed, everyone under them and the Ministry; for anyone
    else it does not exist."""
    return _survey_view(await usecases.visible_survey(w.uow(), w, principal, survey_id))


@router.get("/surveys/{survey_id}/lists/{owner}/template", tags=["surveys"])
async def list_template(
    survey_id: str, owner: str, principal: CurrentPrincipal, w: Wiring, format: Literal["xlsx", "csv"] = "xlsx"
) -> Response:
    """The sheet to fill: the columns, and the groups this ministry or province lists."""
    _, lst = await usecases.managed_list(w.uow(), principal, survey_id, owner)
    header = ["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"]
    groups = list(GROUPS[lst.kind].values())
    if format == "csv":
        return Response(
            write_csv(header, []),
            media_type=CSV_TYPE,
            headers={"Content-Disposition": f'attachment; filename="danh-sach-{survey_id}.csv"'},
        )
    data = write_xlsx("Danh sách đối tượng", header, [], extra_sheets={"Nhóm đối tượng": [[g] for g in groups]})
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="danh-sach-{survey_id}.xlsx"'},
    )


@router.post("/surveys/{survey_id}/lists/{owner}/import", tags=["surveys"])
async def import_list(
    survey_id: str, owner: str, request: Request, principal: CurrentPrincipal, w: Wiring
) -> dict[str, Any]:
    """Replace the draft list with a sheet (CSV or .xlsx). Every row is checked; any bad row rejects
    the sheet with every problem listed, and nothing is stored. People listed twice are kept once."""
    await usecases.managed_list(w.uow(), principal, survey_id, owner)  # the caller's right first
    rows = [normalise_headers(r) for r in await read_sheet(request)]  # only then the sheet
    lst, merged = await run(w.uow, lambda uow: usecases.import_list(uow, w, principal, survey_id, owner, rows))
    return {**_list_view(lst), "merged": merged}


@router.get("/surveys/{survey_id}/lists/{owner}", tags=["surveys"])
async def get_list(survey_id: str, owner: str, principal: CurrentPrincipal, w: Wiring) -> dict[str, Any]:
    _, lst = await usecases.managed_list(w.uow(), principal, survey_id, owner)
    return {**_list_view(lst), "respondents": lst.respondents}


@router.post("/surveys/{survey_id}/lists/{owner}/submit", tags=["surveys"])
async def submit_list(survey_id: str, owner: str, principal: CurrentPrincipal, w: Wiring) -> dict[str, Any]:
    """Send the list to the Ministry; it is locked from then on."""
    return _list_view(await run(w.uow, lambda uow: usecases.submit_list(uow, w, principal, survey_id, owner)))


@router.post("/surveys/{survey_id}/lists/{owner}/reopen", tags=["surveys"])
async def reopen_list(
    survey_id: str, owner: str, body: ReasonRequest, principal: CurrentPrincipal, w: Wiring
) -> dict[str, Any]:
    lst = await run(w.uow, lambda uow: usecases.reopen_list(uow, w, principal, survey_id, owner, body.reason))
    return _list_view(lst)


@router.post("/surveys/{survey_id}/dispatch", tags=["surveys"])
async def dispatch(survey_id: str, principal: CurrentPrincipal, w: Wiring) -> dict[str, int]:
    """Make a personal link for each respondent of every list sent (the Ministry); notifications
    e-mails it. Run again after a list is added: those already invited are left alone."""
    return await usecases.dispatch(w, principal, survey_id)


# The respondent's side: no account, the token is the key. -----------------------------------------
@router.get("/s/{token}", tags=["respondents"])
async def open_questionnaire(token: str, w: Wiring) -> dict[str, Any]:
    """The respondent's questionnaire, with what was saved so far (the web front's page at the
    e-mailed link shows it). The first open is counted."""
    opened = await run(w.uow, lambda uow: usecases.open_link(uow, w, token))
    return {
        "survey_id": opened.survey.id,
        "title": opened.survey.title,
        "answer_deadline": opened.survey.answer_deadline.isoformat(),
        "answered": opened.answered,
        "questionnaire": opened.questionnaire.model_dump(),
        "saved_answers": opened.saved_answers,
    }


@router.put("/s/{token}/draft", tags=["respondents"])
async def save_answers(token: str, body: AnswersRequest, w: Wiring) -> dict[str, Any]:
    """Save the answers so far; each checked on its own."""
    await usecases.save_draft(w.uow(), w, token, body.answers)
    return {"saved": len(body.answers)}


@router.post("/s/{token}", status_code=201, tags=["respondents"])
async def answer(
    token: str, body: AnswersRequest, request: Request, caller: MaybePrincipal, w: Wiring
) -> dict[str, Any]:
    """Send the answers: once per link. They are stored apart from the respondent's identity."""
    cmd = usecases.Answer(
        token=token,
        answers=body.answers,
        address=client_ip(request) or "unknown",
        device=request.headers.get("user-agent", "") + "|" + request.headers.get("accept-language", ""),
        caller=caller,
    )
    return {"received": True, "response_id": await usecases.answer(w, cmd)}


# The Ministry's side -------------------------------------------------------------------------
@router.get("/surveys/{survey_id}/progress", tags=["surveys"])
async def progress(survey_id: str, principal: CurrentPrincipal, w: Wiring, owner: str | None = None) -> dict[str, Any]:
    """Chi tiết tiến độ khảo sát: per ministry or province and group, how many were sent the
    questionnaire, opened it and answered. Completion only: never who answered what."""
    return await usecases.progress(w.uow(), principal, survey_id, owner)


@router.get("/surveys/{survey_id}/responses", tags=["surveys"])
async def responses(survey_id: str, request: Request, principal: CurrentPrincipal, w: Wiring) -> list[dict[str, Any]]:
    """The answers, without identities, for the Ministry's analysis. Anyone else is refused, and
    the attempt is flagged."""
    found = await usecases.read_responses(w.uow(), w, principal, survey_id, client_ip(request))
    return [
        {
            "response_id": r.id,
            "owner_unit_id": r.owner_unit_id,
            "group": r.group,
            "questionnaire": f"{r.form_code} v{r.form_version}",
            "answers": r.answers,
            "status": r.status,
        }
        for r in found
    ]


@router.get("/surveys/{survey_id}/flags", tags=["surveys"])
async def flags(survey_id: str, principal: CurrentPrincipal, w: Wiring) -> list[dict[str, Any]]:
    """What looks like interference, for the Ministry to judge (seed 002: it voids the results)."""
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in f.items() if k != "_id"}
        | {"flag_id": f["_id"], "statuses": statuses}
        for f, statuses in await usecases.flags(w.uow(), principal, survey_id)
    ]


@router.post("/surveys/{survey_id}/responses/{rid}/void", tags=["surveys"])
async def void(
    survey_id: str, rid: str, body: ReasonRequest, request: Request, principal: CurrentPrincipal, w: Wiring
) -> dict[str, Any]:
    """Void a response, with the reason (the Ministry). It stays stored, out of the results."""
    ip = client_ip(request)
    response = await run(w.uow, lambda uow: usecases.void(uow, w, principal, survey_id, rid, body.reason, ip))
    return {"response_id": response.id, "status": response.status, "reason": response.void_reason}


# What the survey pages need (issue 15): the surveys one may see, and every list of one ----------
@router.get("/surveys", tags=["surveys"])
async def list_surveys(principal: CurrentPrincipal, w: Wiring) -> list[dict[str, Any]]:
    """The surveys the caller may see (as `GET /surveys/{id}` decides), newest list deadline first,
    each with the lists the caller keeps (`my_lists`)."""
    found = [{**_survey_view(s), "my_lists": mine} for s, mine in await usecases.visible_surveys(w.uow(), w, principal)]
    return sorted(found, key=lambda s: (s["list_deadline"], s["survey_id"]), reverse=True)


@router.get("/surveys/{survey_id}/lists", tags=["surveys"])
async def survey_lists(survey_id: str, principal: CurrentPrincipal, w: Wiring) -> list[dict[str, Any]]:
    """Every ministry's and province's list for the Ministry: its state, how many per group and
    whether the seed's rules are met, without the people; a ministry or province gets its own."""
    found = []
    for lst, owner_name in await usecases.survey_lists(w.uow(), w, principal, survey_id):
        sent = [h["at"] for h in lst.history if h["action"] == "submitted"]
        view = {k: v for k, v in _list_view(lst).items() if k != "history"}
        found.append(
            {
                **view,
                "owner_name": owner_name,
                "listed": lst.version > 0,
                "submitted_at": sent[-1].isoformat() if sent else None,
            }
        )
    return found
