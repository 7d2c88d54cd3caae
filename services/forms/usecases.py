"""Forms' own use cases: a unit saves its draft, submits and resubmits its form; supervisors above it
read it, check it and code its answers; administrators open campaigns (one-off or half-yearly) and
publish form definitions; reviewers' decisions (FormApproved / FormRejected) move the submission;
the area's submissions leave as a sheet. (The PAR survey is forms' other part: survey/.)

Each takes a unit of work (`FormsUnitOfWork`), the wiring (`Forms`, built once in bootstrap.py) and
its command; scope is checked here, before anything is read for the caller, and out of scope reads
answer like unknown ones. The HTTP routes (api.py, ministry_api.py) and the subscribers
(handlers.py) are adapters over these, run through `Forms.run` (`chassis.unit_of_work.run`, the
one retry policy on a stale version)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

from chassis import audit as audit_log
from chassis.audit import AuditEntry
from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Conflict, DomainError, Forbidden, NotFound
from chassis.messaging import Malformed, Retry
from chassis.store import AlreadyExists, StaleVersion, Store
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from moha_contracts import FormApproved, FormRejected

from .domain.campaigns import Campaign, OpenedCampaign, half_yearly, tier_of
from .domain.codelists import DYNAMIC, code_lists
from .domain.definitions import FieldError, FormDefinition, PublishedDefinition
from .domain.model import InconsistentDecision, Submission, submission_id
from .exports import STATUS_VI
from .store import BUNDLED, DefinitionStore, FormsUnitOfWork, OpenedCampaigns

T = TypeVar("T")
NO_SUBMISSION = "Không tìm thấy phiếu"
NO_UNIT = "Không tìm thấy đơn vị"


@dataclass
class Forms:
    """What the adapters need, built once in bootstrap.py: the store units of work open on, the
    tree, the published definitions and the opened campaigns (read sides, cached) and the clock."""

    store: Store
    units: UnitDirectory
    definitions: DefinitionStore
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    campaigns: OpenedCampaigns = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.campaigns = OpenedCampaigns(self.store)

    def uow(self) -> FormsUnitOfWork:
        return FormsUnitOfWork(self.store)

    def today(self) -> date:
        return today_in_vietnam(self.now())

    async def run(self, use_case: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """`use_case(uow, self, *args, **kwargs)` with a fresh unit of work, again on a stale version."""
        return await run(self.uow, lambda uow: use_case(uow, self, *args, **kwargs))


class AnswersInvalid(DomainError):
    code = "answers_invalid"


def _audit(action: str, by: Principal, ip: str | None, **fields: Any) -> AuditEntry:
    return dataclasses.replace(audit_log.entry(None, action, actor=by, **fields), ip=ip)


# A unit's own form -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fill:
    """A unit's answers to its form in a campaign (`expected_version`: the version it last read)."""

    by: Principal
    campaign_id: str
    form_code: str
    unit_id: str
    answers: dict[str, Any]
    expected_version: int | None = None


async def _open(uow: FormsUnitOfWork, w: Forms, cmd: Fill) -> tuple[Submission, FormDefinition]:
    """The unit's submission for the campaign (new if none), checked for version and form, with the
    definition it is checked against: the one it started under, or the latest for a new one."""
    # Scope first: nobody else learns whether the submission exists, or anything about it.
    if cmd.by.role != "reporting_unit" or cmd.by.unit_id != cmd.unit_id:
        raise Forbidden("Chỉ đơn vị cung cấp thông tin được kê khai, gửi phiếu của chính mình")
    # From memory once read (a campaign never changes once opened): not a read per submission.
    campaign = await w.campaigns.get(cmd.campaign_id)
    if campaign is None:
        raise NotFound(f"Không có đợt thu thập '{cmd.campaign_id}'")
    unit = await w.units.get(cmd.unit_id)
    if unit is None:
        raise Conflict("Đơn vị chưa được hệ thống ghi nhận; hãy thử lại sau ít phút", code="unit_unknown")
    if unit.get("status", "active") != "active":
        raise Conflict("Đơn vị đã giải thể hoặc sáp nhập, không gửi phiếu được nữa", code="unit_retired")
    campaign.check_accepts([*unit["path"], cmd.unit_id], cmd.form_code, w.today())
    sub = await uow.submissions.get(submission_id(cmd.campaign_id, cmd.unit_id))
    if sub is None:
        sub = uow.submissions.add(Submission.start(cmd.campaign_id, cmd.form_code, cmd.unit_id))
    if cmd.form_code != sub.form_code:
        raise DomainError(f"Phiếu này theo mẫu '{sub.form_code}', không phải '{cmd.form_code}'", code="wrong_form")
    if cmd.expected_version is not None and cmd.expected_version != sub.version:
        raise Conflict("Phiếu đã được thay đổi ở nơi khác; hãy tải lại rồi gửi lại", code="stale_version")
    definition = await (
        w.definitions.get(sub.form_code, sub.definition_version)
        if sub.definition_version
        else w.definitions.latest(sub.form_code)
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


async def _commit_submission(uow: FormsUnitOfWork, sub: Submission, audit: AuditEntry | None = None) -> None:
    try:
        await uow.commit(audit)
    except AlreadyExists as exc:
        # Its first save lost to another (a draft saved while the first submit ran): read it again.
        raise StaleVersion(sub.id) from exc


async def save_draft(uow: FormsUnitOfWork, w: Forms, cmd: Fill) -> Submission:
    """Keep the answers filled so far (each answer checked on its own, the rules at submit)."""
    sub, definition = await _open(uow, w, cmd)
    await _check(definition, cmd.answers, w.units, complete=False)
    sub.save_draft(cmd.by, cmd.answers, definition.version, now=w.now())
    await _commit_submission(uow, sub)
    return sub


async def submit(uow: FormsUnitOfWork, w: Forms, cmd: Fill) -> Submission:
    """Submit (or, once returned, resubmit) the unit's answers, checked against the version of the
    form the submission started with (the latest, at its first save)."""
    sub, definition = await _open(uow, w, cmd)
    await _check(definition, cmd.answers, w.units, complete=True)
    sub.submit(cmd.by, cmd.answers, now=w.now(), definition_version=definition.version)
    await _commit_submission(uow, sub)
    return sub


async def validate(uow: FormsUnitOfWork, w: Forms, cmd: Fill, *, complete: bool) -> dict[str, Any]:
    """Check answers with the form's own rules without saving anything: the problems found."""
    _sub, definition = await _open(uow, w, cmd)
    try:
        await _check(definition, cmd.answers, w.units, complete=complete)
    except AnswersInvalid as invalid:
        errors = (invalid.details or {}).get("errors", [])
        return {"valid": False, "errors": errors, "definition_version": definition.version}
    return {"valid": True, "errors": [], "definition_version": definition.version}


# Supervisors: reading, checking, coding ---------------------------------------------------------
async def visible_submission(uow: FormsUnitOfWork, w: Forms, by: Principal, sid: str) -> Submission:
    sub = await uow.submissions.get(sid)
    # Out of scope answers like unknown, so a guessed id tells nothing.
    if sub is None or not await w.units.can_see(by, sub.unit_id):
        raise NotFound(NO_SUBMISSION)
    return sub


async def submission_checks(uow: FormsUnitOfWork, w: Forms, by: Principal, sid: str) -> dict[str, Any]:
    """Every check on the submission's answers: each answer's own, and each logic rule (held or
    not, with its message), for the supervisor who reviews it."""
    sub = await visible_submission(uow, w, by, sid)
    definition = await w.definitions.get(sub.form_code, sub.definition_version or 1)
    if definition is None:
        raise NotFound("Không có mẫu phiếu này")
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
        "field_errors": [e.model_dump() for e in definition.check(sub.answers, complete=False)],
        "rules": rules,
    }


@dataclass(frozen=True)
class Code:
    """A supervisor's official code for one of the form's code fields (ghi mã, seed 001)."""

    by: Principal
    submission_id: str
    field: str
    code: str
    expected_version: int | None = None
    ip: str | None = None


async def code_answer(uow: FormsUnitOfWork, w: Forms, cmd: Code) -> Submission:
    """Checked against the field's code list; the latest coding of a field stands."""
    sub = await visible_submission(uow, w, cmd.by, cmd.submission_id)
    if cmd.expected_version is not None and cmd.expected_version != sub.version:
        raise Conflict("Phiếu đã được thay đổi ở nơi khác; hãy tải lại", code="stale_version")
    definition = await w.definitions.get(sub.form_code, sub.definition_version or 1)
    target = definition.fields.get(cmd.field) if definition else None
    if definition is None or target is None or target.type != "code":
        raise DomainError(f"Mục '{cmd.field}' không phải mục ghi mã của mẫu phiếu", code="not_a_code_field")
    await _check(definition, {cmd.field: cmd.code}, w.units, complete=False)
    sub.code_answer(cmd.by, cmd.field, cmd.code, now=w.now())
    lineage = await w.units.lineage(sub.unit_id) or [sub.unit_id]
    audit = _audit(
        "answer_coded",
        cmd.by,
        cmd.ip,
        target_id=sub.id,
        unit_lineage=lineage,
        field=cmd.field,
        code=cmd.code,
        revision=sub.revision,
    )
    await uow.commit(audit)
    return sub


async def area_submissions(
    uow: FormsUnitOfWork, w: Forms, by: Principal, campaign_id: str, area: str | None, status: str | None
) -> list[tuple[Submission, dict[str, Any]]]:
    """The campaign's submissions in an area (the caller's own by default), each with its unit, by
    unit code. A unit sees its own only, whatever hangs under it."""
    area = area or by.unit_id
    unit = await w.units.get(area)
    if unit is None or not await w.units.can_see(by, area):
        raise NotFound(NO_UNIT)
    members = {area: unit}
    if by.role != "reporting_unit":
        members |= {u["_id"]: u async for u in w.units.units.find({"path": area})}
    subs = await uow.submissions.of_units(campaign_id, list(members), status)
    found = [(s, members[s.unit_id]) for s in subs]
    found.sort(key=lambda pair: pair[1].get("code", ""))
    return found


# What reviewers decided (FormApproved / FormRejected) ----------------------------------------------
async def record_decision(uow: FormsUnitOfWork, w: Forms, event: FormApproved | FormRejected) -> bool:
    """The submission approved at a level (approved for good at the last) or returned to its unit.
    A late or repeated decision changes nothing (False); one about a revision the submission never
    had is malformed."""
    sub = await uow.submissions.get(event.submission_id)
    if sub is None:
        raise Retry(f"submission {event.submission_id} not known yet")
    if sub.unit_id != event.unit_id:
        raise Malformed(f"submission {sub.id} belongs to unit {sub.unit_id}, not {event.unit_id}")
    try:
        if isinstance(event, FormApproved):
            changed = sub.approve(event.revision, final=event.final, by=event.approved_by, at=event.approved_at)
        else:
            changed = sub.return_to_unit(
                event.revision, reason=event.reason, by=event.rejected_by, at=event.rejected_at
            )
    except InconsistentDecision as exc:
        raise Malformed(str(exc)) from exc
    if changed:
        await uow.commit()
    return changed


# Campaigns ---------------------------------------------------------------------------------------
async def open_campaign(uow: FormsUnitOfWork, w: Forms, by: Principal, campaign: Campaign, ip: str | None) -> Campaign:
    """For central administrators anywhere, province administrators in their province."""
    lineages = [await w.units.lineage(u) for u in campaign.scope_unit_ids]
    opened = OpenedCampaign.open(campaign, by, lineages)
    if await w.definitions.latest(campaign.form_code) is None:
        raise DomainError(f"Không có mẫu phiếu '{campaign.form_code}'", code="unknown_form")
    uow.campaigns.add(opened)
    audit = _audit(
        "campaign_opened",
        by,
        ip,
        target_id=campaign.campaign_id,
        unit_lineage=[u for lineage in lineages for u in lineage or []],
        form_code=campaign.form_code,
        scope_unit_ids=campaign.scope_unit_ids,
        opens_on=str(campaign.opens_on),
        closes_on=str(campaign.closes_on),
    )
    try:
        await uow.commit(audit)
    except AlreadyExists as exc:
        raise Conflict(f"Đợt thu thập '{campaign.campaign_id}' đã có", code="duplicate") from exc
    return campaign


@dataclass(frozen=True)
class OpenPeriodic:
    by: Principal
    base_id: str
    form_code: str
    title: str
    scope_unit_ids: list[str]
    year: int
    ip: str | None = None


async def open_periodic(w: Forms, cmd: OpenPeriodic) -> list[Campaign]:
    """The two half-yearly reports of a year (due 15/6 and 15/12), each opened on its own: the
    first stays open if the second is refused."""
    return [
        await w.run(open_campaign, cmd.by, campaign, cmd.ip)
        for campaign in half_yearly(cmd.base_id, cmd.form_code, cmd.title, cmd.scope_unit_ids, cmd.year)
    ]


async def visible_campaign(uow: FormsUnitOfWork, w: Forms, by: Principal, campaign_id: str) -> Campaign:
    """For the units in the campaign's scope, those above them and the Ministry; for anyone else
    it does not exist."""
    opened = await uow.campaigns.get(campaign_id)
    if opened is None or not await w.units.reaches_scope(by, opened.campaign.scope_unit_ids):
        raise NotFound("Không có đợt thu thập này")
    return opened.campaign


def _campaign_row(campaign: Campaign, deadline: Any = None) -> dict[str, Any]:
    return {**campaign.model_dump(mode="json"), "deadline": (deadline or campaign.closes_on).isoformat()}


def _page(items: list[T], page: int, page_size: int) -> list[T]:
    return items[(page - 1) * page_size : page * page_size]


@dataclass(frozen=True)
class Listing:
    """Which campaigns: open ones only or all, and which page of them."""

    open_only: bool = False
    page: int = 1
    page_size: int = 50


async def unit_campaigns(
    uow: FormsUnitOfWork, w: Forms, by: Principal, unit_id: str, listing: Listing
) -> tuple[list[dict[str, Any]], int]:
    """The campaigns a unit reports in, newest first, each with the unit's deadline (by where it
    sits) and its submission (status, revision, version), or none yet; and how many in all."""
    unit = await w.units.get(unit_id)
    if unit is None or not await w.units.can_see(by, unit_id):
        raise NotFound(NO_UNIT)
    lineage, today = [*unit["path"], unit_id], w.today()
    tier = tier_of([a["level"] for a in [await w.units.get(u) for u in unit["path"]] if a])
    mine = [
        c
        for c in await uow.campaigns.all()
        if any(root in lineage for root in c.scope_unit_ids)
        and (not listing.open_only or c.opens_on <= today <= c.closes_on)
    ]
    mine.sort(key=lambda c: (c.opens_on, c.campaign_id), reverse=True)
    items = []
    for campaign in _page(mine, listing.page, listing.page_size):
        sub = await uow.submissions.get(submission_id(campaign.campaign_id, unit_id))
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
    return items, len(mine)


async def area_campaigns(
    uow: FormsUnitOfWork, w: Forms, by: Principal, area: str | None, listing: Listing
) -> tuple[list[dict[str, Any]], int]:
    """The campaigns that reach into an area (the caller's own by default): those whose scope
    holds the area, or lies under it. Newest first."""
    area = area or by.unit_id
    unit = await w.units.get(area)
    if unit is None or not await w.units.can_see(by, area):
        raise NotFound(NO_UNIT)
    lineage, today = [*unit["path"], area], w.today()
    found = []
    for campaign in await uow.campaigns.all():
        if listing.open_only and not campaign.opens_on <= today <= campaign.closes_on:
            continue
        if any(root in lineage for root in campaign.scope_unit_ids):
            found.append(campaign)
            continue
        for root in campaign.scope_unit_ids:
            root_lineage = await w.units.lineage(root)
            if root_lineage is not None and area in root_lineage:
                found.append(campaign)
                break
    found.sort(key=lambda c: (c.opens_on, c.campaign_id), reverse=True)
    return [_campaign_row(c) for c in _page(found, listing.page, listing.page_size)], len(found)


# Definitions and code lists ----------------------------------------------------------------------
async def _publish(uow: FormsUnitOfWork, definitions: DefinitionStore, body: FormDefinition, audit: AuditEntry) -> None:
    uow.definitions.add(PublishedDefinition.publish(body, await definitions.latest_version(body.form_code)))
    try:
        # The version-1 commit decides: of two publishers of the same version, one wins.
        await uow.commit(audit)
    except AlreadyExists as exc:
        raise Conflict("Phiên bản này đã được ban hành", code="version_sequence") from exc
    await definitions.advance_latest(body.form_code, body.version)


async def publish_definition(
    uow: FormsUnitOfWork, w: Forms, by: Principal, body: FormDefinition, ip: str | None
) -> FormDefinition:
    """The next version of a form (central administrators). Submissions started under an earlier
    version keep being checked against it."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương ban hành mẫu phiếu")
    audit = _audit(
        "definition_published",
        by,
        ip,
        target_id=f"{body.form_code}:v{body.version}",
        unit_lineage=[by.unit_id],
        form_code=body.form_code,
        version=body.version,
    )
    await _publish(uow, w.definitions, body, audit)
    return body


async def publish_bundled(definitions: DefinitionStore) -> None:
    """The definitions shipped with the service (definitions/*.json), published at first start."""
    for path in sorted(BUNDLED.glob("*.json")):
        definition = FormDefinition.model_validate_json(path.read_text(encoding="utf-8"))
        if await definitions.get(definition.form_code, definition.version) is not None:
            continue
        audit = AuditEntry(
            "definition_published",
            target_id=f"{definition.form_code}:v{definition.version}",
            unit_lineage=["root"],
            details={"form_code": definition.form_code, "version": definition.version, "bundled": True},
        )
        try:
            publish = partial(_publish, definitions=definitions, body=definition, audit=audit)
            await run(lambda: FormsUnitOfWork(definitions.store), publish)
        except Conflict:
            pass  # another replica published it first


async def definition(w: Forms, form_code: str, version: int | None) -> FormDefinition:
    """A form's definition: the latest version, or the one asked for (anyone signed in)."""
    found = await (w.definitions.get(form_code, version) if version else w.definitions.latest(form_code))
    if found is None:
        raise NotFound("Không có mẫu phiếu này")
    return found


async def definition_versions(w: Forms, form_code: str | None) -> list[dict[str, Any]]:
    """Every published version of every form (or of one), by form code then version, each with its
    title and size."""
    found = await w.definitions.versions(form_code)
    latest = {code: version for code, version in found}
    rows = []
    for code, version in found:
        published = await w.definitions.get(code, version)
        if published is None:
            continue
        rows.append(
            {
                "form_code": code,
                "version": version,
                "title": published.title,
                "sections": len(published.sections),
                "fields": len(published.fields),
                "rules": len(published.rules),
                "latest": latest[code] == version,
            }
        )
    return rows


async def code_list(w: Forms, name: str, q: str | None, level: int | None) -> dict[str, Any]:
    """An official code list's entries (those whose code or name contains `q`, at `level`); the
    tree's own units for the lists that are the tree."""
    needle = (q or "").strip().lower()
    if name in DYNAMIC:
        units = await w.units.search(needle, limit=50)
        return {
            "name": name,
            "title": DYNAMIC[name],
            "pattern": None,
            "entries": [
                {"code": u["code"], "level": u["level"], "name": u["name"], "parent": u.get("parent_id")} for u in units
            ],
        }
    found = code_lists().get(name)
    if found is None:
        raise NotFound("Không có bảng mã này")
    entries = [
        {"code": e.code, "level": e.level, "name": e.name, "parent": e.parent}
        for e in found.entries.values()
        if (level is None or e.level == level) and (not needle or needle in e.code.lower() or needle in e.name.lower())
    ]
    return {"name": found.name, "title": found.title, "entries": entries, "pattern": found.pattern}


def code_list_summaries() -> list[dict[str, Any]]:
    """The official code lists: name, title, how many entries at each level, and the form of the
    codes where only that is known (`pattern`)."""
    found: list[dict[str, Any]] = []
    for listed in code_lists().values():
        levels: dict[str, int] = {}
        for entry in listed.entries.values():
            levels[str(entry.level)] = levels.get(str(entry.level), 0) + 1
        found.append(
            {
                "name": listed.name,
                "title": listed.title,
                "entries": len(listed.entries),
                "levels": levels,
                "pattern": listed.pattern,
                "dynamic": False,
            }
        )
    found += [
        {"name": name, "title": title, "entries": None, "levels": {}, "pattern": None, "dynamic": True}
        for name, title in DYNAMIC.items()
    ]
    return found


# Exports -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportRequest:
    by: Principal
    campaign_id: str
    form_code: str
    format: str
    area: str | None = None
    ip: str | None = None


@dataclass
class ExportSheet:
    """What leaves: the form's latest definition (for the column labels), every question of every
    version of the form, and each submission in the area as (fixed columns, answers), as read."""

    definition: FormDefinition | None
    columns: list[str]
    rows: AsyncIterator[tuple[list[Any], dict[str, Any]]]


async def export(uow: FormsUnitOfWork, w: Forms, cmd: ExportRequest) -> ExportSheet:
    """The campaign's submissions and answers in the caller's area (or in `area`, a unit under it;
    a unit's own only). Recorded before a row leaves: what left, of which area, for whom, from where
    (only what exists is named: a query string is not to be kept for ever)."""
    area = cmd.by.unit_id if cmd.by.role == "reporting_unit" else cmd.area
    latest = await w.definitions.latest(cmd.form_code)
    where = area or cmd.by.unit_id
    lineage = await w.units.lineage(where)
    audit = _audit(
        "submissions_exported",
        cmd.by,
        cmd.ip,
        target_id=cmd.campaign_id,
        unit_lineage=lineage or [cmd.by.unit_id],
        form_code=cmd.form_code if latest else None,
        area=where if lineage else None,
        format=cmd.format,
    )
    await uow.commit(audit)
    # Every question of every published version of the form, latest version's order first.
    newest = await w.definitions.latest_version(cmd.form_code)
    versions = [d for v in range(newest, 0, -1) if (d := await w.definitions.get(cmd.form_code, v))]
    columns = list(dict.fromkeys(code for d in versions for code in d.fields))
    return ExportSheet(latest, columns, _export_rows(uow, w, cmd.by, cmd.campaign_id, area))


async def _export_rows(
    uow: FormsUnitOfWork, w: Forms, by: Principal, campaign_id: str, area: str | None
) -> AsyncIterator[tuple[list[Any], dict[str, Any]]]:
    # The tree once (not a lookup per row): who is under the caller, and each unit's code and name.
    tree = {u["_id"]: u async for u in w.units.units.find({})}
    root = area or by.unit_id
    async for sub in uow.submissions.of_campaign(campaign_id):
        unit = tree.get(sub.unit_id)
        lineage = [*unit["path"], sub.unit_id] if unit else [sub.unit_id]
        if by.unit_id not in lineage or root not in lineage:
            continue
        if by.role == "reporting_unit" and sub.unit_id != by.unit_id:
            continue  # a unit sees its own form only, whatever hangs under it
        fixed = [
            sub.id,
            unit["code"] if unit else "",
            unit["name"] if unit else "",
            STATUS_VI.get(sub.status, sub.status),
            sub.revision,
            sub.definition_version,
        ]
        yield fixed, sub.answers
