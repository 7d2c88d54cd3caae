"""The PAR Index survey's HTTP API: the Ministry opens a survey; each ministry and province imports,
reviews and sends its respondent list; the Ministry dispatches personal links; respondents answer
without an account; progress per group; tamper flags and voided responses for the Ministry."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ConfigDict, Field, model_validator

from chassis import audit as audit_log
from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.http import CurrentPrincipal, MaybePrincipal, client_ip, from_state
from chassis.logging import fresh_correlation_id
from chassis.sealing import Sealer, SealError
from chassis.sheet_http import read_sheet
from chassis.sheets import CSV_TYPE, XLSX_TYPE, write_csv, write_xlsx
from chassis.text import Input, SingleLine
from chassis.tree import UnitDirectory
from moha_contracts import SurveyInvitationIssued, SurveyResponseReceived, SurveyResponseVoided

from .domain.surveys import (
    ADMIN_ROLES,
    ADMIN_SESSION,
    ANSWERS_ACCESS,
    BURST,
    FLAG_LABELS,
    GROUPS,
    QUESTIONNAIRES,
    TOKEN_REUSE,
    RespondentList,
    check_answer_window,
    check_list,
    draft_key,
    fingerprint,
    is_burst,
    kind_of,
    may_manage_list,
    normalise_headers,
    requirements,
    response_id,
    token_hash,
)
from .domain.surveys import (
    invitation_id as make_invitation_id,
)
from .store import DefinitionStore
from .survey_store import SurveyStore

router = APIRouter()
Scalar = str | int | float | bool | None


Surveys = Annotated[SurveyStore, Depends(from_state("surveys"))]
Units = Annotated[UnitDirectory, Depends(from_state("units"))]
Definitions = Annotated[DefinitionStore, Depends(from_state("definitions"))]


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


@router.post("/surveys", status_code=201, tags=["surveys"])
async def open_survey(
    body: SurveyRequest, principal: CurrentPrincipal, store: Surveys, tree: Units, definitions: Definitions
) -> dict[str, Any]:
    """Open a PAR Index survey for ministries and provinces (the Ministry's central administrators).
    The questionnaires' versions are fixed now: publishing a new one later changes no running survey."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ mở cuộc điều tra xã hội học")
    owners = {}
    for unit_id in body.owner_unit_ids:
        unit = await tree.get(unit_id)
        kind = kind_of(unit) if unit else None
        if kind is None:
            raise DomainError(f"Đơn vị '{unit_id}' không phải một bộ hay một tỉnh", code="not_a_survey_owner")
        owners[unit_id] = kind
    versions = {}
    for kind in set(owners.values()):
        latest = await definitions.latest(QUESTIONNAIRES[kind])
        if latest is None:
            raise DomainError(f"Chưa có phiếu khảo sát '{QUESTIONNAIRES[kind]}'", code="unknown_form")
        versions[kind] = latest.version
    doc = {"_id": body.survey_id, **body.model_dump(mode="json"), "owners": owners, "questionnaires": versions}
    if not await store.add_survey(doc):
        raise Conflict(f"Cuộc điều tra '{body.survey_id}' đã có", code="duplicate")
    return _survey_view(doc)


@router.get("/surveys/{survey_id}", tags=["surveys"])
async def get_survey(survey_id: str, principal: CurrentPrincipal, store: Surveys, tree: Units) -> dict[str, Any]:
    """For the ministries and provinces surveyed, everyone under them and the Ministry; for anyone
    else it does not exist."""
    survey = await _survey(store, survey_id)
    if not await tree.reaches_scope(principal, survey["owner_unit_ids"]):
        raise NotFound("Không có cuộc điều tra này")
    return _survey_view(survey)


async def _survey(store: SurveyStore, survey_id: str) -> dict[str, Any]:
    survey = await store.survey(survey_id)
    if survey is None:
        raise NotFound("Không có cuộc điều tra này")
    return survey


def _survey_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"} | {
        "groups": {kind: GROUPS[kind] for kind in sorted(set(doc["owners"].values()))}
    }


async def _managed_list(
    store: SurveyStore, survey_id: str, owner: str, principal: Principal
) -> tuple[dict[str, Any], RespondentList]:
    survey = await _survey(store, survey_id)
    kind = survey["owners"].get(owner)
    # Another ministry's or province's list answers as unknown.
    if kind is None or not may_manage_list(principal, owner, kind):
        raise NotFound("Không tìm thấy danh sách này")
    lst = await store.list_of(survey_id, owner) or RespondentList(f"{survey_id}:{owner}", survey_id, owner, kind)
    return survey, lst


@router.get("/surveys/{survey_id}/lists/{owner}/template", tags=["surveys"])
async def list_template(
    survey_id: str, owner: str, principal: CurrentPrincipal, store: Surveys, format: Literal["xlsx", "csv"] = "xlsx"
) -> Response:
    """The sheet to fill: the columns, and the groups this ministry or province lists."""
    _, lst = await _managed_list(store, survey_id, owner, principal)
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
    survey_id: str, owner: str, request: Request, principal: CurrentPrincipal, store: Surveys
) -> dict[str, Any]:
    """Replace the draft list with a sheet (CSV or .xlsx). Every row is checked; any bad row rejects
    the sheet with every problem listed, and nothing is stored. People listed twice are kept once."""
    _, lst = await _managed_list(store, survey_id, owner, principal)
    # _managed_list has checked the caller's right: only now is the sheet read.
    checked = check_list(lst.kind, [normalise_headers(r) for r in await read_sheet(request)])
    if checked.errors:
        error = DomainError(f"Danh sách có {len(checked.errors)} lỗi; chưa có dòng nào được lưu", code="list_rejected")
        error.details = {
            "errors": [e.__dict__ for e in sorted(checked.errors, key=lambda e: e.row)[:1000]],
            "total": len(checked.errors),
        }
        raise error
    lst.replace(principal, checked)
    await store.save_list(lst)
    return {**_list_view(lst), "merged": checked.merged}


@router.get("/surveys/{survey_id}/lists/{owner}", tags=["surveys"])
async def get_list(survey_id: str, owner: str, principal: CurrentPrincipal, store: Surveys) -> dict[str, Any]:
    _, lst = await _managed_list(store, survey_id, owner, principal)
    return {**_list_view(lst), "respondents": lst.respondents}


@router.post("/surveys/{survey_id}/lists/{owner}/submit", tags=["surveys"])
async def submit_list(survey_id: str, owner: str, principal: CurrentPrincipal, store: Surveys) -> dict[str, Any]:
    """Send the list to the Ministry; it is locked from then on."""
    survey, lst = await _managed_list(store, survey_id, owner, principal)
    lst.submit(principal, today_in_vietnam(), date.fromisoformat(survey["list_deadline"]))
    await store.save_list(lst)
    return _list_view(lst)


class ReasonRequest(Input):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/surveys/{survey_id}/lists/{owner}/reopen", tags=["surveys"])
async def reopen_list(
    survey_id: str, owner: str, body: ReasonRequest, principal: CurrentPrincipal, store: Surveys
) -> dict[str, Any]:
    _, lst = await _managed_list(store, survey_id, owner, principal)
    lst.reopen(principal, body.reason)
    await store.save_list(lst)
    return _list_view(lst)


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


@router.post("/surveys/{survey_id}/dispatch", tags=["surveys"])
async def dispatch(survey_id: str, request: Request, principal: CurrentPrincipal, store: Surveys) -> dict[str, int]:
    """Make a personal link for each respondent of every list sent (the Ministry); notifications
    e-mails it. Run again after a list is added: those already invited are left alone."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ gửi phiếu khảo sát")
    survey = await _survey(store, survey_id)
    sealer: Sealer = request.app.state.sealer
    base = request.app.state.survey_link_base.rstrip("/")
    secret = request.app.state.settings.survey_id_secret
    if not secret:
        raise DomainError(
            "Chưa cấu hình khóa bí mật của mã thư mời khảo sát (SURVEY_ID_SECRET)", code="survey_secret_missing"
        )
    issued = already = 0
    new: list[tuple[str, str, str, str, dict[str, Any]]] = []
    for lst in await store.submitted_lists(survey_id):
        for person in lst.respondents:
            invitation_id = make_invitation_id(secret, survey_id, lst.owner_unit_id, person["email"])
            if await store.invitation(invitation_id) is not None:
                already += 1
                continue
            token = secrets.token_urlsafe(32)
            try:
                sealed = sealer.seal(
                    {"email": person["email"], "full_name": person["full_name"], "link": f"{base}/{token}"}
                )
            except SealError as exc:
                raise DomainError(
                    "Chưa cấu hình khóa niêm phong đường dẫn khảo sát (SURVEY_SEAL_KEY)", code="seal_key_missing"
                ) from exc
            new.append((invitation_id, token, sealed, lst.owner_unit_id, person))
    # Every response's document first, empty and shuffled: answers are later written into them in
    # place, so where an answer sits says nothing of when it came nor of whose invitation it is
    # (docs/decisions/0013). A crash after this leaves documents no token leads to.
    slots = [_response_slot(survey, owner, person["group"], response_id(token)) for _, token, _, owner, person in new]
    secrets.SystemRandom().shuffle(slots)
    await store.add_response_slots(slots)
    for invitation_id, token, sealed, owner, person in new:
        now = datetime.now(UTC)
        event = SurveyInvitationIssued(
            invitation_id=invitation_id,
            survey_id=survey_id,
            survey_title=survey["title"],
            owner_unit_id=owner,
            group=person["group"],
            answer_deadline=date.fromisoformat(survey["answer_deadline"]),
            sealed=sealed,
            issued_at=now,
        )
        doc = {
            "_id": invitation_id,
            "survey_id": survey_id,
            "owner_unit_id": owner,
            "group": person["group"],
            "status": "invited",
            "issued_at": now,
            "opened_at": None,
        }
        if await store.add_invitation(doc, token_hash(token), event):
            issued += 1
        else:
            already += 1
    return {"issued": issued, "already_invited": already}


def _response_slot(survey: dict[str, Any], owner: str, group: str, rid: str) -> dict[str, Any]:
    """A response as the analysis needs it: the questionnaire, whose list and which group. No time."""
    kind = survey["owners"][owner]
    return {
        "_id": rid,
        "survey_id": survey["_id"],
        "owner_unit_id": owner,
        "group": group,
        "form_code": QUESTIONNAIRES[kind],
        "form_version": survey["questionnaires"][kind],
    }


# The respondent's side: no account, the token is the key. -----------------------------------------
class AnswersRequest(Input):
    model_config = ConfigDict(str_strip_whitespace=False)
    answers: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")], Scalar] = Field(max_length=500)


async def _by_token(store: SurveyStore, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    invitation = await store.invitation_by_token(token_hash(token)) if 20 <= len(token) <= 100 else None
    if invitation is None:
        raise NotFound("Đường dẫn khảo sát không đúng hoặc không còn giá trị")
    return invitation, await _survey(store, invitation["survey_id"])


async def _questionnaire(definitions: DefinitionStore, survey: dict[str, Any], owner: str):
    kind = survey["owners"][owner]
    definition = await definitions.get(QUESTIONNAIRES[kind], survey["questionnaires"][kind])
    if definition is None:
        raise DomainError("Chưa có phiếu khảo sát", code="unknown_form")
    return definition


def _check_open(survey: dict[str, Any]) -> None:
    check_answer_window(date.fromisoformat(survey["answer_deadline"]), today_in_vietnam())


@router.get("/s/{token}", tags=["respondents"])
async def open_questionnaire(token: str, store: Surveys, definitions: Definitions) -> dict[str, Any]:
    """The respondent's questionnaire, with what was saved so far (the web front's page at the
    e-mailed link shows it). The first open is counted."""
    invitation, survey = await _by_token(store, token)
    definition = await _questionnaire(definitions, survey, invitation["owner_unit_id"])
    if invitation["status"] == "invited":
        await store.update_invitation(
            invitation["_id"],
            {"status": "opened", "opened_at": datetime.now(UTC)},
            unless_status=("opened", "answered"),
        )
    saved = await store.draft(draft_key(token))
    return {
        "survey_id": survey["_id"],
        "title": survey["title"],
        "answer_deadline": survey["answer_deadline"],
        "answered": invitation["status"] == "answered",
        "questionnaire": definition.model_dump(),
        "saved_answers": saved,
    }


@router.put("/s/{token}/draft", tags=["respondents"])
async def save_answers(token: str, body: AnswersRequest, store: Surveys, definitions: Definitions) -> dict[str, Any]:
    """Save the answers so far; each checked on its own."""
    invitation, survey = await _by_token(store, token)
    await _save_draft(invitation, survey, token, body.answers, store, definitions)
    return {"saved": len(body.answers)}


async def _save_draft(
    invitation: dict[str, Any],
    survey: dict[str, Any],
    token: str,
    answers: dict[str, Any],
    store: SurveyStore,
    definitions: DefinitionStore,
) -> None:
    _check_open(survey)
    if invitation["status"] == "answered":
        raise Conflict("Phiếu khảo sát này đã được trả lời", code="already_answered")
    _check_answers(await _questionnaire(definitions, survey, invitation["owner_unit_id"]), answers, complete=False)
    await store.save_draft(draft_key(token), answers)


@router.post("/s/{token}", status_code=201, tags=["respondents"])
async def answer(
    token: str, body: AnswersRequest, request: Request, caller: MaybePrincipal, store: Surveys, definitions: Definitions
) -> dict[str, Any]:
    """Send the answers: once per link. They are stored apart from the respondent's identity."""
    invitation, survey = await _by_token(store, token)
    rid = await _receive(invitation, survey, token, body.answers, request, caller, store, definitions)
    return {"received": True, "response_id": rid}


async def _receive(
    invitation: dict[str, Any],
    survey: dict[str, Any],
    token: str,
    answers: dict[str, Any],
    request: Request,
    caller: Principal | None,
    store: SurveyStore,
    definitions: DefinitionStore,
) -> str:
    _check_open(survey)
    _check_answers(await _questionnaire(definitions, survey, invitation["owner_unit_id"]), answers, complete=True)
    rid, now = response_id(token), datetime.now(UTC)
    answered_before = invitation["status"] == "answered"
    # Its own correlation id: whatever the response's write logs shares nothing with the invitation's.
    with fresh_correlation_id():
        stored = await store.answer_response(
            {
                **_response_slot(survey, invitation["owner_unit_id"], invitation["group"], rid),
                "answers": [{"field": k, "value": v} for k, v in answers.items()],
                "status": "valid",
                "void_reason": None,
            }
        )
    if not stored and answered_before:
        await store.flag(
            f"{TOKEN_REUSE}:{rid}",
            {
                "survey_id": survey["_id"],
                "kind": TOKEN_REUSE,
                "label": FLAG_LABELS[TOKEN_REUSE],
                "owner_unit_id": invitation["owner_unit_id"],
                "response_ids": [rid],
            },
            timed=False,
        )
        raise Conflict("Phiếu khảo sát này đã được trả lời; mỗi đường dẫn chỉ trả lời một lần", code="already_answered")
    # The response is kept first: a crash before the invitation is marked loses no answer, and the
    # retry through the link (its response found, the invitation still open) completes it here.
    # The invitation keeps no time of its own (its commit and event do: they are the identity side).
    await store.update_invitation(
        invitation["_id"],
        {"status": "answered"},
        [
            SurveyResponseReceived(
                invitation_id=invitation["_id"],
                survey_id=survey["_id"],
                owner_unit_id=invitation["owner_unit_id"],
                group=invitation["group"],
                received_at=now,
            )
        ],
        unless_status=("answered",),
    )
    if not stored:
        return rid  # the retry of an answer already kept: nothing more to check
    await store.drop_draft(draft_key(token))
    await _tamper_checks(request, store, survey, invitation, rid, caller)
    return rid


def _check_answers(definition: Any, answers: dict[str, Any], *, complete: bool) -> None:
    if errors := definition.check(answers, complete=complete):
        error = DomainError(f"Phiếu có {len(errors)} chỗ cần sửa", code="answers_invalid")
        error.details = {"errors": [e.model_dump() for e in errors]}
        raise error


async def _tamper_checks(
    request: Request,
    store: SurveyStore,
    survey: dict[str, Any],
    invitation: dict[str, Any],
    rid: str,
    caller: Principal | None,
) -> None:
    settings = request.app.state.settings
    # A secret salt: the addresses of IPv4 are few enough to hash them all.
    salt = settings.survey_fingerprint_salt or settings.survey_id_secret or survey["_id"]
    window = timedelta(seconds=settings.survey_burst_window_seconds)
    sources = {
        "address": fingerprint(salt, client_ip(request) or "unknown"),
        "device": fingerprint(
            salt, request.headers.get("user-agent", "") + "|" + request.headers.get("accept-language", "")
        ),
    }
    now = datetime.now(UTC)
    await store.forget_fingerprints(window)
    for kind, source in sources.items():
        await store.add_fingerprint(survey["_id"], rid, f"{kind}:{source}", now)
        recent = await store.recent_from(survey["_id"], f"{kind}:{source}", window)
        if is_burst(len(recent), settings.survey_burst_threshold):
            # One flag per source, without a time: each burst from the same office adds its
            # responses, sorted, so neither their order nor a window dates any of them.
            flag_id = f"{BURST}:{survey['_id']}:{kind}:{source}"
            listed = sorted(set(recent) | set((await store.flagged(flag_id) or {}).get("response_ids", [])))
            await store.flag(
                flag_id,
                {
                    "survey_id": survey["_id"],
                    "kind": BURST,
                    "label": FLAG_LABELS[BURST],
                    "by": kind,
                    "response_ids": listed,
                    "count": len(listed),
                },
                timed=False,
            )
    if caller is not None and caller.role in ADMIN_ROLES:
        await store.flag(
            f"{ADMIN_SESSION}:{rid}",
            {
                "survey_id": survey["_id"],
                "kind": ADMIN_SESSION,
                "label": FLAG_LABELS[ADMIN_SESSION],
                "owner_unit_id": invitation["owner_unit_id"],
                "response_ids": [rid],
                "account_id": caller.account_id,
                "role": caller.role,
            },
            timed=False,
        )


# The Ministry's side -------------------------------------------------------------------------
@router.get("/surveys/{survey_id}/progress", tags=["surveys"])
async def progress(
    survey_id: str, principal: CurrentPrincipal, store: Surveys, owner: str | None = None
) -> dict[str, Any]:
    """Chi tiết tiến độ khảo sát: per ministry or province and group, how many were sent the
    questionnaire, opened it and answered. Completion only: never who answered what."""
    survey = await _survey(store, survey_id)
    if principal.role != "central_admin":
        owner = owner or principal.unit_id
        kind = survey["owners"].get(owner)
        if kind is None or not may_manage_list(principal, owner, kind):
            raise NotFound("Không tìm thấy tiến độ này")
    voided: dict[tuple[str, str], int] = {}
    for response in await store.responses(survey_id):
        if response["status"] == "voided":
            key = (response["owner_unit_id"], response["group"])
            voided[key] = voided.get(key, 0) + 1
    owners: dict[str, dict[str, dict[str, int]]] = {}
    for unit_id, kind in survey["owners"].items():
        if owner is None or unit_id == owner:
            owners[unit_id] = {
                g: {"sent": 0, "opened": 0, "answered": 0, "voided": voided.get((unit_id, g), 0)} for g in GROUPS[kind]
            }
    for inv in await store.invitations(survey_id, owner):
        counts = owners.get(inv["owner_unit_id"], {}).get(inv["group"])
        if counts is None:
            continue
        counts["sent"] += 1
        counts["opened"] += inv["status"] in ("opened", "answered")
        counts["answered"] += inv["status"] == "answered"
    return {
        "survey_id": survey_id,
        "owners": [
            {
                "owner_unit_id": unit_id,
                "kind": survey["owners"][unit_id],
                "groups": [
                    {
                        "group": g,
                        "label": GROUPS[survey["owners"][unit_id]][g],
                        **c,
                        "percent_answered": round(100 * c["answered"] / c["sent"], 1) if c["sent"] else 0.0,
                    }
                    for g, c in groups.items()
                ],
            }
            for unit_id, groups in owners.items()
        ],
    }


@router.get("/surveys/{survey_id}/responses", tags=["surveys"])
async def responses(
    survey_id: str, request: Request, principal: CurrentPrincipal, store: Surveys
) -> list[dict[str, Any]]:
    """The answers, without identities, for the Ministry's analysis. Anyone else is refused, and
    the attempt is flagged."""
    survey = await _survey(store, survey_id)
    # Who read the answers, or tried to: never which answer nor whose (there is no such link).
    await audit_log.record(
        request,
        audit_log.entry(
            request,
            "survey_responses_read",
            actor=principal,
            target_id=survey_id,
            unit_lineage=[principal.unit_id],
            outcome="ok" if principal.role == "central_admin" else "refused",
        ),
    )
    if principal.role != "central_admin":
        await store.flag(
            f"{ANSWERS_ACCESS}:{survey_id}:{principal.account_id}",
            {
                "survey_id": survey_id,
                "kind": ANSWERS_ACCESS,
                "label": FLAG_LABELS[ANSWERS_ACCESS],
                "account_id": principal.account_id,
                "role": principal.role,
                "unit_id": principal.unit_id,
                "source": client_ip(request),
                "response_ids": [],
            },
        )
        raise Forbidden("Chỉ Bộ Nội vụ được xem câu trả lời của phiếu khảo sát")
    return [
        {
            "response_id": r["_id"],
            "owner_unit_id": r["owner_unit_id"],
            "group": r["group"],
            "questionnaire": f"{r.get('form_code')} v{r.get('form_version')}",
            "answers": {a["field"]: a["value"] for a in r["answers"]},
            "status": r["status"],
        }
        for r in await store.responses(survey["_id"])
    ]


@router.get("/surveys/{survey_id}/flags", tags=["surveys"])
async def flags(survey_id: str, principal: CurrentPrincipal, store: Surveys) -> list[dict[str, Any]]:
    """What looks like interference, for the Ministry to judge (seed 002: it voids the results)."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ xem các dấu hiệu can thiệp")
    await _survey(store, survey_id)
    found = await store.flags(survey_id)
    # Whether each flagged response is voided already, for the Ministry judging them.
    statuses = {
        rid: (r or {}).get("status")
        for rid in {rid for f in found for rid in f.get("response_ids", [])}
        for r in [await store.response(rid)]
    }
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in f.items() if k != "_id"}
        | {"flag_id": f["_id"], "statuses": {rid: statuses.get(rid) for rid in f.get("response_ids", [])}}
        for f in found
    ]


@router.post("/surveys/{survey_id}/responses/{rid}/void", tags=["surveys"])
async def void(
    survey_id: str, rid: str, body: ReasonRequest, request: Request, principal: CurrentPrincipal, store: Surveys
) -> dict[str, Any]:
    """Void a response, with the reason (the Ministry). It stays stored, out of the results."""
    if principal.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ hủy kết quả phiếu khảo sát")
    response = await store.response(rid)
    if response is None or response["survey_id"] != survey_id:
        raise NotFound("Không tìm thấy phiếu trả lời")
    if response["status"] == "voided":
        raise Conflict("Phiếu trả lời đã bị hủy", code="already_voided")
    now = datetime.now(UTC)
    await store.void_response(
        response,
        {"status": "voided", "void_reason": body.reason},
        SurveyResponseVoided(
            response_id=rid,
            survey_id=survey_id,
            owner_unit_id=response["owner_unit_id"],
            group=response["group"],
            reason=body.reason,
            voided_by=principal.account_id,
            voided_at=now,
        ),
        audit_log.entry(
            request,
            "survey_response_voided",
            actor=principal,
            target_id=rid,
            unit_lineage=[principal.unit_id, response["owner_unit_id"]],
            survey_id=survey_id,
            owner_unit_id=response["owner_unit_id"],
            group=response["group"],
        ),
    )
    return {"response_id": rid, "status": "voided", "reason": body.reason}


# What the survey pages need (issue 15): the surveys one may see, and every list of one ----------
@router.get("/surveys", tags=["surveys"])
async def list_surveys(principal: CurrentPrincipal, store: Surveys, tree: Units) -> list[dict[str, Any]]:
    """The surveys the caller may see (as `GET /surveys/{id}` decides), newest list deadline first,
    each with the lists the caller keeps (`my_lists`)."""
    found = []
    for survey in await store.surveys():
        if principal.role != "central_admin" and not await tree.reaches_scope(principal, survey["owner_unit_ids"]):
            continue
        mine = [o for o, kind in survey["owners"].items() if may_manage_list(principal, o, kind)]
        found.append({**_survey_view(survey), "my_lists": mine if principal.role != "central_admin" else []})
    return sorted(found, key=lambda s: (s["list_deadline"], s["survey_id"]), reverse=True)


@router.get("/surveys/{survey_id}/lists", tags=["surveys"])
async def survey_lists(
    survey_id: str, principal: CurrentPrincipal, store: Surveys, tree: Units
) -> list[dict[str, Any]]:
    """Every ministry's and province's list for the Ministry: its state, how many per group and
    whether the seed's rules are met, without the people; a ministry or province gets its own."""
    survey = await _survey(store, survey_id)
    if not await tree.reaches_scope(principal, survey["owner_unit_ids"]):
        raise NotFound("Không có cuộc điều tra này")
    found = []
    for owner, kind in survey["owners"].items():
        if not may_manage_list(principal, owner, kind):
            continue
        lst = await store.list_of(survey_id, owner) or RespondentList(f"{survey_id}:{owner}", survey_id, owner, kind)
        unit = await tree.get(owner)
        sent = [h["at"] for h in lst.history if h["action"] == "submitted"]
        view = {k: v for k, v in _list_view(lst).items() if k != "history"}
        found.append(
            {
                **view,
                "owner_name": unit["name"] if unit else owner,
                "listed": lst.version > 0,
                "submitted_at": sent[-1].isoformat() if sent else None,
            }
        )
    return found
