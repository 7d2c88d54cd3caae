"""The PAR Index survey's use cases: the Ministry opens a survey; each ministry and province imports,
reviews and sends its respondent list; the Ministry dispatches personal links; respondents answer
without an account; progress per group; tamper flags and voided responses for the Ministry.

Each takes a unit of work (or, for the few written in steps, `Survey.uow` to make one per step),
the wiring (`SurveyWiring`) and a command; scope is checked here, before anything is read for the
caller. The HTTP routes (api.py) are adapters over these, run through `chassis.unit_of_work.run`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from chassis import audit as audit_log
from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.logging import fresh_correlation_id
from chassis.sealing import Sealer, SealError
from chassis.store import AlreadyExists
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run

from .domain import (
    ADMIN_ROLES,
    ADMIN_SESSION,
    ANSWERED,
    ANSWERS_ACCESS,
    BURST,
    FLAG_LABELS,
    GROUPS,
    OPENED,
    QUESTIONNAIRES,
    TOKEN_REUSE,
    VOIDED,
    Invitation,
    RespondentList,
    Response,
    RowError,
    Survey,
    check_list,
    draft_key,
    fingerprint,
    invitation_id,
    is_burst,
    kind_of,
    may_manage_list,
    response_id,
    token_hash,
)
from .store import SurveyUnitOfWork


class Questionnaires(Protocol):
    """Forms' published definitions, where the survey's questionnaires are."""

    async def latest(self, form_code: str) -> Any: ...

    async def get(self, form_code: str, version: int) -> Any: ...


@dataclass
class SurveyWiring:
    """What the survey's use cases need, built once in bootstrap."""

    uow: Callable[[], SurveyUnitOfWork]
    tree: UnitDirectory
    questionnaires: Questionnaires
    sealer: Sealer
    link_base: str
    id_secret: str
    fingerprint_salt: str
    burst_threshold: int
    burst_window: timedelta
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def today(self) -> date:
        return today_in_vietnam(self.now())


# The survey ------------------------------------------------------------------------------------
@dataclass
class OpenSurvey:
    survey_id: str
    title: str
    list_deadline: date
    answer_deadline: date
    owner_unit_ids: list[str]


async def open_survey(uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, cmd: OpenSurvey) -> Survey:
    """For the Ministry's central administrators. The questionnaires' versions are fixed now:
    publishing a new one later changes no running survey."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ mở cuộc điều tra xã hội học")
    owners = {}
    for unit_id in cmd.owner_unit_ids:
        unit = await w.tree.get(unit_id)
        kind = kind_of(unit) if unit else None
        if kind is None:
            raise DomainError(f"Đơn vị '{unit_id}' không phải một bộ hay một tỉnh", code="not_a_survey_owner")
        owners[unit_id] = kind
    versions: dict[str, int] = {}
    for kind in set(owners.values()):
        latest = await w.questionnaires.latest(QUESTIONNAIRES[kind])
        if latest is None:
            raise DomainError(f"Chưa có phiếu khảo sát '{QUESTIONNAIRES[kind]}'", code="unknown_form")
        versions[kind] = latest.version
    survey = uow.surveys.add(
        Survey(cmd.survey_id, cmd.title, cmd.list_deadline, cmd.answer_deadline, cmd.owner_unit_ids, owners, versions)
    )
    try:
        await uow.commit()
    except AlreadyExists as exc:
        raise Conflict(f"Cuộc điều tra '{cmd.survey_id}' đã có", code="duplicate") from exc
    return survey


async def _survey(uow: SurveyUnitOfWork, survey_id: str) -> Survey:
    survey = await uow.surveys.get(survey_id)
    if survey is None:
        raise NotFound("Không có cuộc điều tra này")
    return survey


async def visible_survey(uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str) -> Survey:
    """For the ministries and provinces surveyed, everyone under them and the Ministry; for anyone
    else it does not exist."""
    survey = await _survey(uow, survey_id)
    if not await w.tree.reaches_scope(by, survey.owner_unit_ids):
        raise NotFound("Không có cuộc điều tra này")
    return survey


async def visible_surveys(uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal) -> list[tuple[Survey, list[str]]]:
    """The surveys the caller may see, each with the lists the caller keeps (none for the Ministry,
    which keeps every one)."""
    found = []
    for survey in await uow.surveys.all():
        if by.role != "central_admin" and not await w.tree.reaches_scope(by, survey.owner_unit_ids):
            continue
        found.append((survey, survey.managed_by(by) if by.role != "central_admin" else []))
    return found


# Respondent lists --------------------------------------------------------------------------------
async def managed_list(
    uow: SurveyUnitOfWork, by: Principal, survey_id: str, owner: str
) -> tuple[Survey, RespondentList]:
    """The owner's list, for whoever keeps it; another ministry's or province's answers as unknown."""
    survey = await _survey(uow, survey_id)
    kind = survey.kind(owner)
    if kind is None or not may_manage_list(by, owner, kind):
        raise NotFound("Không tìm thấy danh sách này")
    return survey, await uow.lists.of(survey, owner)


async def import_list(
    uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str, owner: str, rows: list[dict[str, str]]
) -> tuple[RespondentList, list[dict[str, Any]]]:
    """Replace the draft list with a sheet's rows (headers normalised). Any bad row rejects the
    sheet with every problem listed, and nothing is stored. People listed twice are kept once."""
    _, lst = await managed_list(uow, by, survey_id, owner)
    checked = check_list(lst.kind, rows)
    if checked.errors:
        raise _rejected(checked.errors)
    lst.replace(by, checked, w.now())
    await uow.commit()
    return lst, checked.merged


def _rejected(errors: list[RowError]) -> DomainError:
    error = DomainError(f"Danh sách có {len(errors)} lỗi; chưa có dòng nào được lưu", code="list_rejected")
    error.details = {"errors": [e.__dict__ for e in sorted(errors, key=lambda e: e.row)[:1000]], "total": len(errors)}
    return error


async def submit_list(
    uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str, owner: str
) -> RespondentList:
    """Send the list to the Ministry; it is locked from then on."""
    survey, lst = await managed_list(uow, by, survey_id, owner)
    lst.submit(by, w.today(), survey.list_deadline, w.now())
    await uow.commit()
    return lst


async def reopen_list(
    uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str, owner: str, reason: str
) -> RespondentList:
    _, lst = await managed_list(uow, by, survey_id, owner)
    lst.reopen(by, reason, w.now())
    await uow.commit()
    return lst


async def survey_lists(
    uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str
) -> list[tuple[RespondentList, str]]:
    """Every list the caller keeps (the Ministry: all), with its owner's name."""
    survey = await visible_survey(uow, w, by, survey_id)
    found = []
    for owner in survey.managed_by(by):
        unit = await w.tree.get(owner)
        found.append((await uow.lists.of(survey, owner), unit["name"] if unit else owner))
    return found


# Dispatch ----------------------------------------------------------------------------------------
async def dispatch(w: SurveyWiring, by: Principal, survey_id: str) -> dict[str, int]:
    """Make a personal link for each respondent of every list sent (the Ministry); notifications
    e-mails it. Run again after a list is added: those already invited are left alone. Each
    invitation is committed on its own (with its event): a second dispatch running at once gets
    the other's invitations as already made."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ gửi phiếu khảo sát")
    uow = w.uow()
    survey = await _survey(uow, survey_id)
    if not w.id_secret:
        raise DomainError(
            "Chưa cấu hình khóa bí mật của mã thư mời khảo sát (SURVEY_ID_SECRET)", code="survey_secret_missing"
        )
    base = w.link_base.rstrip("/")
    already = 0
    new: list[tuple[str, str, str, str, str]] = []  # invitation id, token, sealed, owner, group
    for lst in await uow.lists.submitted(survey_id):
        for person in lst.respondents:
            iid = invitation_id(w.id_secret, survey_id, lst.owner_unit_id, person["email"])
            if await uow.invitations.exists(iid):
                already += 1
                continue
            token = secrets.token_urlsafe(32)
            try:
                sealed = w.sealer.seal(
                    {"email": person["email"], "full_name": person["full_name"], "link": f"{base}/{token}"}
                )
            except SealError as exc:
                raise DomainError(
                    "Chưa cấu hình khóa niêm phong đường dẫn khảo sát (SURVEY_SEAL_KEY)", code="seal_key_missing"
                ) from exc
            new.append((iid, token, sealed, lst.owner_unit_id, person["group"]))
    # Every response's document first, empty and shuffled: answers are later written into them in
    # place, so where an answer sits says nothing of when it came nor of whose invitation it is
    # (docs/decisions/0013). A crash after this leaves documents no token leads to.
    slots = [Response.slot(survey, owner, group, response_id(token)) for _, token, _, owner, group in new]
    secrets.SystemRandom().shuffle(slots)
    await uow.responses.add_slots(slots)
    issued = 0
    for iid, token, sealed, owner, group in new:
        one = w.uow()
        await one.invitations.add_token(token_hash(token), iid)
        one.invitations.add(Invitation.issue(iid, survey, owner, group, sealed, w.now()))
        try:
            await one.commit()
        except AlreadyExists:
            await one.invitations.drop_token(token_hash(token))
            already += 1
        else:
            issued += 1
    return {"issued": issued, "already_invited": already}


# The respondent's side: no account, the token is the key ---------------------------------------------
async def _by_token(uow: SurveyUnitOfWork, token: str) -> tuple[Invitation, Survey]:
    invitation = await uow.invitations.by_token(token_hash(token)) if 20 <= len(token) <= 100 else None
    if invitation is None:
        raise NotFound("Đường dẫn khảo sát không đúng hoặc không còn giá trị")
    return invitation, await _survey(uow, invitation.survey_id)


async def _questionnaire(w: SurveyWiring, survey: Survey, owner: str) -> Any:
    definition = await w.questionnaires.get(*survey.questionnaire(owner))
    if definition is None:
        raise DomainError("Chưa có phiếu khảo sát", code="unknown_form")
    return definition


def _check_answers(definition: Any, answers: dict[str, Any], *, complete: bool) -> None:
    if errors := definition.check(answers, complete=complete):
        error = DomainError(f"Phiếu có {len(errors)} chỗ cần sửa", code="answers_invalid")
        error.details = {"errors": [e.model_dump() for e in errors]}
        raise error


@dataclass
class OpenedLink:
    survey: Survey
    answered: bool
    questionnaire: Any
    saved_answers: dict[str, Any]


async def open_link(uow: SurveyUnitOfWork, w: SurveyWiring, token: str) -> OpenedLink:
    """The respondent's questionnaire, with what was saved so far. The first open is counted."""
    invitation, survey = await _by_token(uow, token)
    definition = await _questionnaire(w, survey, invitation.owner_unit_id)
    invitation.open(w.now())
    await uow.commit()
    saved = await uow.drafts.get(draft_key(token))
    return OpenedLink(survey, invitation.status == ANSWERED, definition, saved)


async def save_draft(uow: SurveyUnitOfWork, w: SurveyWiring, token: str, answers: dict[str, Any]) -> None:
    """The answers so far, each checked on its own."""
    invitation, survey = await _by_token(uow, token)
    survey.check_open(w.today())
    if invitation.status == ANSWERED:
        raise Conflict("Phiếu khảo sát này đã được trả lời", code="already_answered")
    _check_answers(await _questionnaire(w, survey, invitation.owner_unit_id), answers, complete=False)
    await uow.drafts.save(draft_key(token), answers)


@dataclass
class Answer:
    token: str
    answers: dict[str, Any]
    address: str  # the client's network address ("unknown" when none)
    device: str  # what the browser tells of itself (user agent, languages)
    caller: Principal | None  # a session the answer was sent from, if any


async def answer(w: SurveyWiring, cmd: Answer) -> str:
    """The answers through a link: once per link, stored apart from the respondent's identity. In
    steps, each written on its own: the response (in place, no commit), then the invitation marked
    with its event (retried on a newer version), then the draft dropped and the tamper checks."""
    uow = w.uow()
    invitation, survey = await _by_token(uow, cmd.token)
    survey.check_open(w.today())
    _check_answers(await _questionnaire(w, survey, invitation.owner_unit_id), cmd.answers, complete=True)
    rid = response_id(cmd.token)
    response = Response.slot(survey, invitation.owner_unit_id, invitation.group, rid)
    response.answer(cmd.answers)
    # Its own correlation id: whatever the response's write logs shares nothing with the invitation's.
    with fresh_correlation_id():
        stored = await uow.responses.answer(response)
    if not stored and invitation.status == ANSWERED:
        await uow.evidence.flag(
            f"{TOKEN_REUSE}:{rid}",
            {
                "survey_id": survey.id,
                "kind": TOKEN_REUSE,
                "label": FLAG_LABELS[TOKEN_REUSE],
                "owner_unit_id": invitation.owner_unit_id,
                "response_ids": [rid],
            },
        )
        raise Conflict("Phiếu khảo sát này đã được trả lời; mỗi đường dẫn chỉ trả lời một lần", code="already_answered")

    # The response is kept first: a crash before the invitation is marked loses no answer, and the
    # retry through the link (its response found, the invitation still open) completes it here.
    async def mark(again: SurveyUnitOfWork) -> None:
        marked = await again.invitations.get(invitation.id)
        if marked is not None:
            marked.answered(w.now())
            await again.commit()

    await run(w.uow, mark)  # the one retry policy, for the invitation's step alone
    if not stored:
        return rid  # the retry of an answer already kept: nothing more to check
    await uow.drafts.drop(draft_key(cmd.token))
    await _tamper_checks(uow, w, survey, invitation, rid, cmd)
    return rid


async def _tamper_checks(
    uow: SurveyUnitOfWork, w: SurveyWiring, survey: Survey, invitation: Invitation, rid: str, cmd: Answer
) -> None:
    # A secret salt: the addresses of IPv4 are few enough to hash them all.
    salt = w.fingerprint_salt or w.id_secret or survey.id
    sources = {"address": fingerprint(salt, cmd.address), "device": fingerprint(salt, cmd.device)}
    now = w.now()
    await uow.evidence.forget_fingerprints(now - w.burst_window)
    for kind, source in sources.items():
        await uow.evidence.add_fingerprint(survey.id, rid, f"{kind}:{source}", now)
        recent = await uow.evidence.recent_from(survey.id, f"{kind}:{source}", now - w.burst_window)
        if is_burst(len(recent), w.burst_threshold):
            # One flag per source, without a time: each burst from the same office adds its
            # responses, sorted, so neither their order nor a window dates any of them.
            flag_id = f"{BURST}:{survey.id}:{kind}:{source}"
            listed = sorted(set(recent) | set((await uow.evidence.flagged(flag_id) or {}).get("response_ids", [])))
            await uow.evidence.flag(
                flag_id,
                {
                    "survey_id": survey.id,
                    "kind": BURST,
                    "label": FLAG_LABELS[BURST],
                    "by": kind,
                    "response_ids": listed,
                    "count": len(listed),
                },
            )
    if cmd.caller is not None and cmd.caller.role in ADMIN_ROLES:
        await uow.evidence.flag(
            f"{ADMIN_SESSION}:{rid}",
            {
                "survey_id": survey.id,
                "kind": ADMIN_SESSION,
                "label": FLAG_LABELS[ADMIN_SESSION],
                "owner_unit_id": invitation.owner_unit_id,
                "response_ids": [rid],
                "account_id": cmd.caller.account_id,
                "role": cmd.caller.role,
            },
        )


# The Ministry's side -------------------------------------------------------------------------------
def _entry(by: Principal, ip: str | None, action: str, **fields: Any) -> audit_log.AuditEntry:
    return replace(audit_log.entry(None, action, actor=by, **fields), ip=ip)


async def progress(uow: SurveyUnitOfWork, by: Principal, survey_id: str, owner: str | None = None) -> dict[str, Any]:
    """Per ministry or province and group, how many were sent the questionnaire, opened it and
    answered. Completion only: never who answered what. A ministry or province sees its own."""
    survey = await _survey(uow, survey_id)
    if by.role != "central_admin":
        owner = owner or by.unit_id
        kind = survey.kind(owner)
        if kind is None or not may_manage_list(by, owner, kind):
            raise NotFound("Không tìm thấy tiến độ này")
    voided: dict[tuple[str, str], int] = {}
    for response in await uow.responses.of_survey(survey_id):
        if response.status == VOIDED:
            key = (response.owner_unit_id, response.group)
            voided[key] = voided.get(key, 0) + 1
    owners: dict[str, dict[str, dict[str, int]]] = {}
    for unit_id, kind in survey.owners.items():
        if owner is None or unit_id == owner:
            owners[unit_id] = {
                g: {"sent": 0, "opened": 0, "answered": 0, "voided": voided.get((unit_id, g), 0)} for g in GROUPS[kind]
            }
    for inv in await uow.invitations.of_survey(survey_id, owner):
        counts = owners.get(inv.owner_unit_id, {}).get(inv.group)
        if counts is None:
            continue
        counts["sent"] += 1
        counts["opened"] += inv.status in (OPENED, ANSWERED)
        counts["answered"] += inv.status == ANSWERED
    return {
        "survey_id": survey_id,
        "owners": [
            {
                "owner_unit_id": unit_id,
                "kind": survey.owners[unit_id],
                "groups": [
                    {
                        "group": g,
                        "label": GROUPS[survey.owners[unit_id]][g],
                        **c,
                        "percent_answered": round(100 * c["answered"] / c["sent"], 1) if c["sent"] else 0.0,
                    }
                    for g, c in groups.items()
                ],
            }
            for unit_id, groups in owners.items()
        ],
    }


async def read_responses(
    uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str, ip: str | None
) -> list[Response]:
    """The answers, without identities, for the Ministry's analysis. Anyone else is refused, and
    the attempt is flagged. Who read them, or tried to, is audited: never which answer nor whose."""
    survey = await _survey(uow, survey_id)
    allowed = by.role == "central_admin"
    await uow.commit(
        _entry(
            by,
            ip,
            "survey_responses_read",
            target_id=survey_id,
            unit_lineage=[by.unit_id],
            outcome="ok" if allowed else "refused",
        )
    )
    if not allowed:
        await uow.evidence.flag(
            f"{ANSWERS_ACCESS}:{survey_id}:{by.account_id}",
            {
                "survey_id": survey_id,
                "kind": ANSWERS_ACCESS,
                "label": FLAG_LABELS[ANSWERS_ACCESS],
                "account_id": by.account_id,
                "role": by.role,
                "unit_id": by.unit_id,
                "source": ip,
                "response_ids": [],
            },
            at=w.now(),  # it names no response: its time dates no answer
        )
        raise Forbidden("Chỉ Bộ Nội vụ được xem câu trả lời của phiếu khảo sát")
    return await uow.responses.of_survey(survey.id)


async def flags(
    uow: SurveyUnitOfWork, by: Principal, survey_id: str
) -> list[tuple[dict[str, Any], dict[str, str | None]]]:
    """What looks like interference, for the Ministry to judge (seed 002: it voids the results),
    each flag with whether its responses are voided already."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ xem các dấu hiệu can thiệp")
    await _survey(uow, survey_id)
    found = await uow.evidence.flags(survey_id)
    statuses = await uow.responses.statuses({rid for f in found for rid in f.get("response_ids", [])})
    return [(f, {rid: statuses.get(rid) for rid in f.get("response_ids", [])}) for f in found]


async def void(
    uow: SurveyUnitOfWork, w: SurveyWiring, by: Principal, survey_id: str, rid: str, reason: str, ip: str | None
) -> Response:
    """Void a response, with the reason (the Ministry). It stays stored, out of the results."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ Bộ Nội vụ hủy kết quả phiếu khảo sát")
    response = await uow.responses.get(rid)
    if response is None or response.survey_id != survey_id:
        raise NotFound("Không tìm thấy phiếu trả lời")
    response.void(by, reason, w.now())
    await uow.commit(
        _entry(
            by,
            ip,
            "survey_response_voided",
            target_id=rid,
            unit_lineage=[by.unit_id, response.owner_unit_id],
            survey_id=survey_id,
            owner_unit_id=response.owner_unit_id,
            group=response.group,
        )
    )
    return response
