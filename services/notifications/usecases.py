"""Notifications' use cases: an administrator's notice to its subtree (sent, followed, finished),
the inbox, a reminder pass run by hand, and the mail outbox's work (claiming the due e-mails,
recording each attempt). The HTTP routes, the event handlers, the mailer and the scheduler are
adapters over these; a lost version race is retried by `chassis.unit_of_work.run` alone."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from chassis import audit as audit_log
from chassis.auth import Principal
from chassis.errors import DomainError, Forbidden, NotFound
from chassis.store import Store
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run

from .domain.model import PENDING, Broadcast, Delivery
from .settings import NotificationsSettings
from .store import NotificationStore, NotificationsUnitOfWork

if TYPE_CHECKING:
    import asyncio

    from .notifier import Notifier
    from .scheduler import Scheduler

T = TypeVar("T")
ADMINS = ("central_admin", "province_admin", "district_admin")
NO_NOTICE = "Không tìm thấy thông báo"
# What an attempt at an e-mail changes (and its events).
_ATTEMPT = ("status", "attempts", "next_attempt_at", "last_error")


@dataclass
class Notifications:
    """What the adapters need, built once in bootstrap.py."""

    store: Store
    notifications: NotificationStore
    units: UnitDirectory
    settings: NotificationsSettings
    notifier: Notifier
    scheduler: Scheduler
    sending: set[asyncio.Task[Any]] = field(default_factory=set)  # notices being sent, kept referenced

    def uow(self) -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(self.store)

    async def run(self, use_case: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """`use_case(uow, *args, **kwargs)` with a fresh unit of work, again on a stale version."""
        return await run(self.uow, lambda uow: use_case(uow, *args, **kwargs))


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


def as_document(broadcast: Broadcast) -> dict[str, Any]:
    """The notice as the notifier and the readers of the collection see it."""
    return {"_id": broadcast.id, **dataclasses.asdict(broadcast)} | {"version": broadcast.version}


# The inbox -----------------------------------------------------------------------------------------
async def read_notice(notifications: NotificationStore, notice_id: str, by: Principal) -> None:
    # Only the owner's notices match: another account's id answers as unknown.
    if not await notifications.mark_read(notice_id, by.account_id):
        raise NotFound(NO_NOTICE)


# Reminders -----------------------------------------------------------------------------------------
async def run_reminders(
    svc: Notifications, by: Principal, as_of: date, campaign_id: str | None, today: date, ip: str | None = None
) -> dict[str, int]:
    """A day's reminder pass run by hand (to catch up a day the scheduler missed); a reminder already
    sent is not sent again."""
    if by.role != "central_admin":
        raise Forbidden("Chỉ quản trị hệ thống cấp Trung ương chạy lại việc nhắc hạn")
    if as_of > today and not svc.settings.reminders_any_day:
        # A future day would send its overdue lists early and mark them sent.
        raise DomainError("Không chạy việc nhắc hạn cho một ngày chưa tới", code="future_day")
    entry = audit_log.entry(
        None, "reminders_run", actor=by, target_id=campaign_id, unit_lineage=[by.unit_id], as_of=str(as_of)
    )
    await svc.store.record(dataclasses.replace(entry, ip=ip))
    return await svc.scheduler.run_pass(as_of, campaign_id)


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
        if (
            delivery := await run(make, lambda uow, i=entry["_id"]: claim_delivery(uow, i, now, lease_end))
        ) is not None:
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
