"""Notifications' use cases: telling people (an inbox notice and an e-mail), what each consumed event
does, an administrator's notice to its subtree (sent, followed, finished), the inbox, the reminder
pass (the scheduler's, or one run by hand), and the mail outbox's work (claiming the due e-mails,
recording each attempt). The HTTP routes, the event handlers, the mailer and the scheduler are
adapters over these; a lost version race is retried by `chassis.unit_of_work.run` alone."""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from chassis import audit as audit_log
from chassis import metrics, readmodel
from chassis.auth import Principal
from chassis.clock import VIETNAM, today_in_vietnam
from chassis.errors import DomainError, Forbidden, NotFound
from chassis.logging import get_logger
from chassis.messaging import Malformed, Retry
from chassis.sealing import Sealer, SealError
from chassis.store import AlreadyExists, Store
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from chassis.workdays import effective_deadline
from moha_contracts import AccountIssued, CampaignOpened, PasswordReset, SurveyInvitationIssued

from .domain.model import LINK_MARK, PENDING, Broadcast, Delivery, notice_id
from .domain.reminders import OVERDUE, Unit, area_of, due_reminder, reminder_id
from .domain.templates import render
from .settings import NotificationsSettings
from .store import NotificationStore, NotificationsUnitOfWork

if TYPE_CHECKING:
    import asyncio

    from .mailer import Mailer

T = TypeVar("T")
log = get_logger("notifications.usecases")
ADMINS = ("central_admin", "province_admin", "district_admin")
NO_NOTICE = "Không tìm thấy thông báo"
# What an attempt at an e-mail changes (and its events).
_ATTEMPT = ("status", "attempts", "next_attempt_at", "last_error")
REPORTING_LEVELS = ("commune", "agency")
SUPERVISORS = ("district_supervisor", "province_supervisor")


class Calendar:
    """What decides "today" (Vietnam's date) for a reminder pass run by hand, which refuses a day
    that has not come. Tests that drive reminders ahead replace it (tests/support/faults.py)."""

    def today(self) -> date:
        return today_in_vietnam()


@dataclass
class Notifications:
    """What the adapters need, built once in bootstrap.py."""

    store: Store
    notifications: NotificationStore  # the readers' queries (pages, inbox); writes go through use cases
    units: UnitDirectory
    settings: NotificationsSettings
    sealer: Sealer  # opens survey invitations sealed by forms
    mailer: Mailer | None = None  # woken when there is mail to send
    calendar: Calendar = field(default_factory=Calendar)
    sending: set[asyncio.Task[Any]] = field(default_factory=set)  # notices being sent, kept referenced

    def uow(self) -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(self.store)

    async def run(self, use_case: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """`use_case(uow, *args, **kwargs)` with a fresh unit of work, again on a stale version."""
        return await run(self.uow, lambda uow: use_case(uow, *args, **kwargs))

    def wake_mailer(self) -> None:
        if self.mailer is not None:
            self.mailer.wake()


# Telling people ------------------------------------------------------------------------------------
# An in-app notice and, where the account has an address, an e-mail, both with ids made from the
# cause (an event, a reminder, a notice) and the account. Whoever tells the same thing again, a
# redelivered event or another replica, re-creates nothing: one notice, one e-mail.
@dataclass(frozen=True)
class Tell:
    cause_id: str
    recipient: dict[str, Any]  # _id, display_name, email (None: no e-mail)
    template: str
    values: dict[str, Any] = field(default_factory=dict)
    in_app: bool = True  # False for people without an account (survey respondents): e-mail only
    sealed: str | None = None  # the text holds a mark where the link goes, filled in by the mailer


async def tell(uow: NotificationsUnitOfWork, cmd: Tell) -> None:
    """One person told of one thing. Its unit of work holds this one e-mail: use a fresh one for each."""
    recipient = cmd.recipient
    text = render(cmd.template, display_name=recipient["display_name"], **cmd.values)
    nid = notice_id(cmd.cause_id, recipient["_id"])
    if cmd.in_app:
        await uow.documents.add_notice(nid, recipient["_id"], text.subject, text.body, cmd.template, cmd.cause_id)
    if recipient.get("email"):
        await add_delivery(
            uow,
            Delivery(
                id=nid + ":email",
                account_id=recipient["_id"],
                to=recipient["email"],
                subject=text.subject,
                body=text.body,
                template=cmd.template,
                cause_event_id=cmd.cause_id,
                sealed=cmd.sealed,
            ),
        )


async def add_delivery(uow: NotificationsUnitOfWork, delivery: Delivery) -> bool:
    """An e-mail to send; False if it was made before (the same cause told again)."""
    # Queue entry first: a delivery is never without one while it is pending.
    await uow.deliveries.enqueue(delivery.id, delivery.next_attempt_at)
    if await uow.deliveries.get(delivery.id) is not None:
        return False
    uow.deliveries.add(delivery)
    try:
        await uow.commit()
    except AlreadyExists:
        return False  # another replica made it meanwhile
    metrics.mails.labels(metrics.service(), "queued").inc()
    return True


async def tell_unit(
    make: Callable[[], NotificationsUnitOfWork],
    cause_id: str,
    unit_id: str,
    template: str,
    roles: tuple[str, ...] = (),
    **values: Any,
) -> int:
    """Every active account of the unit with one of `roles` (any role if none): how many."""
    recipients = await make().documents.recipients_of_unit(unit_id, *roles)
    for recipient in recipients:
        await tell(make(), Tell(cause_id, recipient, template, values))
    return len(recipients)


# What consumed events do ---------------------------------------------------------------------------
async def account_issued(uow: NotificationsUnitOfWork, event: AccountIssued, cause_id: str, order: Any) -> None:
    """The account becomes a recipient, and is told its username."""
    await uow.documents.upsert_recipient(
        order,
        event.account_id,
        event.unit_id,
        role=event.role,
        email=event.email,
        username=event.username,
        display_name=event.display_name,
    )
    recipient = await uow.documents.recipient(event.account_id)
    await tell(uow, Tell(cause_id, recipient or {}, "account_issued", {"username": event.username}))


async def password_reset(uow: NotificationsUnitOfWork, event: PasswordReset, cause_id: str) -> None:
    recipient = await uow.documents.recipient(event.account_id)
    if recipient is None:
        raise Retry(f"account {event.account_id} not known yet")
    values = {"username": recipient["username"], "reason": event.reason}
    await tell(uow, Tell(cause_id, recipient, "password_reset", values))


async def recipient_changed(
    uow: NotificationsUnitOfWork, order: readmodel.Order, account_id: str, part: str, **fields: Any
) -> None:
    """A later event's part of an account (its role, its status), applied only if newer."""
    await uow.documents.update_recipient(order, account_id, part, **fields)


async def campaign_opened(uow: NotificationsUnitOfWork, event: CampaignOpened) -> None:
    await uow.documents.add_campaign({"_id": event.campaign_id, **event.model_dump(mode="json")})


async def form_submitted(uow: NotificationsUnitOfWork, campaign_id: str, unit_id: str) -> None:
    await uow.documents.mark_submitted(campaign_id, unit_id)  # no more reminders for it


async def survey_invitation_issued(
    uow: NotificationsUnitOfWork, event: SurveyInvitationIssued, cause_id: str, *, sealer: Sealer
) -> None:
    """A respondent is invited by e-mail alone; its address and link stay sealed in what is stored."""
    try:
        person = sealer.open(event.sealed)
    except SealError as exc:
        raise Malformed(f"sealed invitation cannot be opened: {exc}") from exc
    await uow.documents.add_survey_invite(
        {
            "_id": event.invitation_id,
            "survey_id": event.survey_id,
            "survey_title": event.survey_title,
            "sealed": event.sealed,
            "answer_deadline": event.answer_deadline.isoformat(),
        }
    )
    values = {
        "survey_title": event.survey_title,
        "link": LINK_MARK,
        "deadline": f"{event.answer_deadline:%d/%m/%Y}",
    }
    respondent = {"_id": event.invitation_id, "display_name": person["full_name"], "email": person["email"]}
    await tell(uow, Tell(cause_id, respondent, "survey_invitation", values, in_app=False, sealed=event.sealed))


async def survey_answered(uow: NotificationsUnitOfWork, invitation_id: str, received_at: datetime) -> None:
    await uow.documents.survey_answered(invitation_id, received_at)  # no more reminders


async def unit_told(
    make: Callable[[], NotificationsUnitOfWork], cause_id: str, unit_id: str, template: str, **values: Any
) -> int:
    """A unit's reporting accounts told of a decision on its form."""
    told = await tell_unit(make, cause_id, unit_id, template, ("reporting_unit",), **values)
    if not told:
        log.warning("no account to notify for unit", unit_id=unit_id)
    return told


# Notices an administrator sends ----------------------------------------------------------------
@dataclass(frozen=True)
class SendNotice:
    by: Principal
    title: str
    body: str
    links: list[dict[str, str]]
    area_unit_id: str | None = None
    ip: str | None = None


async def send_notice(
    uow: NotificationsUnitOfWork, cmd: SendNotice, *, tree: UnitDirectory, recipients: NotificationStore
) -> Broadcast:
    """The notice, stored with the audit entry of its sending; the caller sends it in the
    background (and the scheduler resumes it if that process dies)."""
    if cmd.by.role not in ADMINS:
        raise Forbidden("Chỉ quản trị hệ thống gửi thông báo nghiệp vụ")
    area = cmd.area_unit_id or cmd.by.unit_id
    if not await tree.can_see(cmd.by, area) or (lineage := await tree.lineage(area)) is None:
        raise NotFound("Không tìm thấy đơn vị này trong phạm vi của bạn")
    sender = await recipients.recipient(cmd.by.account_id)
    broadcast = uow.broadcasts.add(
        Broadcast(
            id=uuid.uuid4().hex,
            area_unit_id=area,
            title=cmd.title,
            body=cmd.body,
            links=cmd.links,
            sender_id=cmd.by.account_id,
            sender_name=sender["display_name"] if sender else cmd.by.username,
            at=datetime.now(UTC),
        )
    )
    entry = audit_log.entry(
        None,
        "notice_sent",
        actor=cmd.by,
        target_id=broadcast.id,
        unit_lineage=lineage,
        area=area,
        links=len(cmd.links),
    )
    await uow.commit(dataclasses.replace(entry, ip=cmd.ip))
    return broadcast


async def sent_notice(uow: NotificationsUnitOfWork, notice_id: str, by: Principal) -> Broadcast:
    """A notice, for its sender (or a central administrator); for anyone else it does not exist."""
    broadcast = await uow.broadcasts.get(notice_id)
    if broadcast is None or not broadcast.visible_to(by.account_id, by.role):
        raise NotFound(NO_NOTICE)
    return broadcast


async def finish_broadcast(uow: NotificationsUnitOfWork, notice_id: str, recipients: int, emailed: int) -> None:
    broadcast = await uow.broadcasts.get(notice_id)
    if broadcast is None:
        raise NotFound(NO_NOTICE)
    broadcast.finish(recipients, emailed)
    await uow.commit()


async def send_broadcast(svc: Notifications, broadcast: Broadcast) -> int:
    """A notice to every account of every unit under the area. Resumable: run again after a crash,
    it re-creates nothing already created. Counts who was told, and of them who by e-mail too, so
    that the sender learns when nobody was."""
    links = "".join(f"- {link['title']}: {link['url']}\n" for link in broadcast.links)
    values = {"title": broadcast.title, "body": broadcast.body, "links": links, "sender": broadcast.sender_name}
    told = emailed = 0
    async for unit in svc.units.units.find({"path": broadcast.area_unit_id}):
        for recipient in await svc.uow().documents.recipients_of_unit(unit["_id"]):
            await tell(svc.uow(), Tell(broadcast.id, recipient, "notice", values))
            told += 1
            emailed += bool(recipient.get("email"))
    await svc.run(finish_broadcast, broadcast.id, told, emailed)
    svc.wake_mailer()
    return told


async def resume_broadcasts(svc: Notifications, stale_seconds: float = 60) -> int:
    """The notices whose sender's process died while sending them, sent on: how many."""
    stale = datetime.now(VIETNAM) - timedelta(seconds=stale_seconds)
    resumed = 0
    for broadcast in await svc.uow().broadcasts.unfinished():
        if broadcast.at < stale:
            await send_broadcast(svc, broadcast)
            resumed += 1
    return resumed


# The inbox -----------------------------------------------------------------------------------------
async def read_notice(uow: NotificationsUnitOfWork, notice_id: str, by: Principal) -> None:
    # Only the owner's notices match: another account's id answers as unknown.
    if not await uow.documents.mark_read(notice_id, by.account_id):
        raise NotFound(NO_NOTICE)


# Reminders -----------------------------------------------------------------------------------------
async def run_reminders(
    svc: Notifications, by: Principal, as_of: date, campaign_id: str | None, ip: str | None = None
) -> dict[str, int]:
    """A day's reminder pass run by hand (to catch up a day the scheduler missed); a reminder already
    sent is not sent again."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương chạy lại việc nhắc hạn")
    if as_of > svc.calendar.today():
        # A future day would send its overdue lists early and mark them sent.
        raise DomainError("Không chạy việc nhắc hạn cho một ngày chưa tới", code="future_day")
    entry = audit_log.entry(
        None, "reminders_run", actor=by, target_id=campaign_id, unit_lineage=[by.unit_id], as_of=str(as_of)
    )
    await svc.store.record(dataclasses.replace(entry, ip=ip))
    return await reminder_pass(svc, as_of, campaign_id)


# Several replicas run the pass at once. A reminder is checked as sent before it is made; two
# replicas passing that check together make the same notices and e-mails, whose ids come from the
# reminder and the account, so each person still gets one. The sent mark comes last: a replica that
# dies half way leaves the reminder to the next pass, which completes it.
async def reminder_pass(svc: Notifications, today: date, campaign_id: str | None = None) -> dict[str, int]:
    """Each open campaign's units that have not submitted get the reminder due `today`, and once a
    deadline has passed each area's supervisors get the list of their late units; respondents who
    have not answered a survey get theirs. `campaign_id`: a campaign's or a survey's only."""
    settings, documents = svc.settings, svc.uow().documents
    sent = {
        "unit_reminders": 0,
        "overdue_lists": 0,
        "survey_reminders": await _survey_reminders(svc, today, campaign_id),
    }
    days_before = tuple(settings.reminder_days_before)
    for campaign in await documents.campaigns():
        if campaign_id is not None and campaign["campaign_id"] != campaign_id:
            continue
        opens, closes = date.fromisoformat(campaign["opens_on"]), date.fromisoformat(campaign["closes_on"])
        if not opens <= today <= closes + timedelta(days=settings.overdue_window_days):
            continue
        submitted = await documents.submitted_units(campaign["campaign_id"])
        late: dict[tuple[str, date], list[Unit]] = defaultdict(list)
        for unit in await _reporting_units(svc.units, campaign["scope_unit_ids"]):
            if unit.unit_id in submitted:
                continue
            # As approvals counts it: a deadline on a day off ends with the next working day.
            deadline = effective_deadline(date.fromisoformat(campaign[f"{unit.tier}_deadline"]))
            kind = due_reminder(deadline, today, days_before)
            if kind == OVERDUE:
                late[(unit.area_id, deadline)].append(unit)
            elif kind is not None and today >= opens:
                sent["unit_reminders"] += await _remind(
                    svc,
                    reminder_id(campaign["campaign_id"], unit.unit_id, kind, deadline),
                    unit.unit_id,
                    "reminder_before",
                    ("reporting_unit",),
                    when=_when((deadline - today).days),
                    deadline=f"{deadline:%d/%m/%Y}",
                    campaign_title=campaign["title"],
                )
        for (area_id, deadline), units in sorted(late.items()):
            names = "\n".join(f"- {u.name}" for u in sorted(units, key=lambda u: u.name))
            sent["overdue_lists"] += await _remind(
                svc,
                reminder_id(campaign["campaign_id"], area_id, OVERDUE, deadline),
                area_id,
                "reminder_overdue",
                SUPERVISORS,
                deadline=f"{deadline:%d/%m/%Y}",
                campaign_title=campaign["title"],
                count=len(units),
                units=names,
            )
    svc.wake_mailer()
    if any(sent.values()):
        log.info("reminders sent", as_of=today.isoformat(), **sent)
    return sent


async def _survey_reminders(svc: Notifications, today: date, survey_id: str | None) -> int:
    """Respondents who have not answered, before the answer deadline (never after: the link is
    closed then)."""
    sent = 0
    days_before = tuple(svc.settings.reminder_days_before)
    documents = svc.uow().documents
    for invite in await documents.open_survey_invites(survey_id):
        deadline = date.fromisoformat(invite["answer_deadline"])  # the link closes that day: no shift
        kind = due_reminder(deadline, today, days_before)
        if kind is None or kind == OVERDUE:
            continue
        rid = reminder_id(invite["survey_id"], invite["_id"], kind, deadline)
        if await documents.reminder_sent(rid):
            continue
        try:
            person = svc.sealer.open(invite["sealed"])
        except SealError as exc:  # sealed under another key: this one cannot be reminded, the rest can
            log.warning("survey invitation cannot be opened", invitation_id=invite["_id"], error=str(exc))
            continue
        values = {
            "survey_title": invite["survey_title"],
            "link": LINK_MARK,
            "deadline": f"{deadline:%d/%m/%Y}",
            "when": _when((deadline - today).days),
        }
        respondent = {"_id": invite["_id"], "display_name": person["full_name"], "email": person["email"]}
        await tell(svc.uow(), Tell(rid, respondent, "survey_reminder", values, in_app=False, sealed=invite["sealed"]))
        await documents.mark_reminder_sent(rid, 1)
        sent += 1
    return sent


async def _remind(
    svc: Notifications, rid: str, unit_id: str, template: str, roles: tuple[str, ...], **values: Any
) -> int:
    documents = svc.uow().documents
    if await documents.reminder_sent(rid):
        return 0
    told = await tell_unit(svc.uow, rid, unit_id, template, roles, **values)
    await documents.mark_reminder_sent(rid, told)
    return 1


async def _reporting_units(tree: UnitDirectory, scope_unit_ids: list[str]) -> list[Unit]:
    found: dict[str, dict[str, Any]] = {}
    levels: dict[str, str] = {}
    for scope_id in scope_unit_ids:
        root = await tree.get(scope_id)
        if root is None:
            continue
        for ancestor_id in root["path"]:
            if (ancestor := await tree.get(ancestor_id)) is not None:
                levels[ancestor_id] = ancestor["level"]
        found[scope_id] = root
        async for doc in tree.units.find({"path": scope_id}):
            found[doc["_id"]] = doc
    levels.update({unit_id: doc["level"] for unit_id, doc in found.items()})
    units = []
    for doc in found.values():
        if doc["level"] in REPORTING_LEVELS and doc.get("status", "active") == "active":
            tier, area_id = area_of(doc["path"], levels)
            units.append(Unit(doc["_id"], doc.get("name", ""), doc["path"], tier, area_id))
    return units


def _when(days_left: int) -> str:
    return f"còn {days_left} ngày" if days_left else "hôm nay là hạn cuối"


# The mail outbox -----------------------------------------------------------------------------------
async def claim_delivery(
    uow: NotificationsUnitOfWork, delivery_id: str, now: datetime, lease_end: datetime
) -> Delivery | None:
    """Take one due e-mail, pushing its next attempt past the lease: a versioned write, so of several
    replicas exactly one wins it (the others, running again, find it leased and leave it)."""
    delivery = await uow.deliveries.get(delivery_id)
    if delivery is None or delivery.status != PENDING or delivery.next_attempt_at > now:
        return None  # sent, failed, or leased by another replica meanwhile
    delivery.next_attempt_at = lease_end
    await uow.commit()
    await uow.deliveries.reschedule(delivery.id, lease_end)
    return delivery


async def claim_due(make: Callable[[], NotificationsUnitOfWork], lease_seconds: float, limit: int) -> list[Delivery]:
    """The due e-mails this replica now holds a lease on."""
    now = datetime.now(UTC)
    lease_end = now + timedelta(seconds=lease_seconds)
    queue = make().deliveries
    claimed = []
    for entry in await queue.due(now, limit):
        doc = await queue.store.find(queue.collection, entry["_id"])
        if doc is None or doc["status"] != PENDING:
            if doc is not None or entry["due_at"] < now - timedelta(minutes=5):
                await queue.unqueue(entry["_id"])  # done with, or its delivery never came
            continue
        delivery_id: str = entry["_id"]

        async def claim(uow: NotificationsUnitOfWork, i: str = delivery_id) -> Delivery | None:
            return await claim_delivery(uow, i, now, lease_end)

        if (delivery := await run(make, claim)) is not None:
            claimed.append(delivery)
    return claimed


async def record_attempt(uow: NotificationsUnitOfWork, attempted: Delivery) -> bool:
    """Store what became of an attempt at a claimed e-mail, with its event (delivered, failed for
    good). False if the lease ran out and another replica claimed it since: that one's attempt
    counts, not this one's."""
    current = await uow.deliveries.get(attempted.id)
    if current is None or current.version != attempted.version:
        return False
    for name in _ATTEMPT:
        setattr(current, name, getattr(attempted, name))
    current.events = list(attempted.events)
    await uow.commit()
    attempted.version, attempted.events = current.version, []
    if current.status == PENDING:
        await uow.deliveries.reschedule(current.id, current.next_attempt_at)
    else:
        await uow.deliveries.unqueue(current.id)
    return True
