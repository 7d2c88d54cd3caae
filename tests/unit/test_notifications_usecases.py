"""Notifications' use cases over the in-memory store (no broker, no MongoDB, no SMTP server): who may
send and follow a notice, the reminder pass run by hand, and the mail outbox's claims and attempts
under a lost version race."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from chassis.auth import Principal
from chassis.errors import DomainError, Forbidden, NotFound
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from services.notifications import usecases
from services.notifications.domain.model import Delivery
from services.notifications.settings import NotificationsSettings
from services.notifications.store import MAIL_QUEUE, NotificationStore, NotificationsUnitOfWork
from services.notifications.usecases import Notifications, SendNotice
from tests.support.memory_store import MemoryStore

UNITS = [
    {"_id": "p", "code": "01", "name": "Tỉnh", "level": "province", "path": []},
    {"_id": "d1", "code": "0101", "name": "Huyện 1", "level": "district", "path": ["p"]},
    {"_id": "d2", "code": "0102", "name": "Huyện 2", "level": "district", "path": ["p"]},
]


def who(account_id: str, unit_id: str, role: str) -> Principal:
    return Principal(account_id=account_id, username=account_id, unit_id=unit_id, role=role)


PROVINCE_ADMIN = who("adm-p", "p", "province_admin")
DISTRICT_ADMIN = who("adm-d1", "d1", "district_admin")
CENTRAL = who("adm-c", "root", "central_admin")


class Passes:
    """Stands for the scheduler: the reminder passes asked of it."""

    def __init__(self) -> None:
        self.asked: list[tuple[date, str | None]] = []

    async def run_pass(self, as_of: date, campaign_id: str | None = None) -> dict[str, int]:
        self.asked.append((as_of, campaign_id))
        return {"unit_reminders": 0, "overdue_lists": 0, "survey_reminders": 0}


@pytest.fixture
async def svc() -> Notifications:
    store = MemoryStore()
    for unit in UNITS:
        await store["units"].insert_one(dict(unit))
    return Notifications(
        store,
        NotificationStore(store),
        UnitDirectory(store),
        NotificationsSettings(),
        notifier=SimpleNamespace(),  # type: ignore[arg-type]
        scheduler=Passes(),  # type: ignore[arg-type]
    )


def notice(by: Principal, area: str | None = None) -> SendNotice:
    return SendNotice(by=by, title="Họp giao ban", body="Nội dung", links=[], area_unit_id=area, ip="10.0.0.9")


async def send(svc: Notifications, cmd: SendNotice):
    return await svc.run(usecases.send_notice, cmd, tree=svc.units, recipients=svc.notifications)


async def test_an_administrator_sends_a_notice_to_its_subtree_with_its_audit_entry(svc):
    broadcast = await send(svc, notice(PROVINCE_ADMIN, "d1"))
    stored = await svc.store.find("broadcasts", broadcast.id)
    assert (stored["status"], stored["area_unit_id"], stored["sender_name"]) == ("sending", "d1", "adm-p")
    commit = await svc.store.commits.find_one({"audit.action": "notice_sent"})
    assert commit["audit"]["ip"] == "10.0.0.9" and commit["audit"]["unit_lineage"] == ["p", "d1"]


@pytest.mark.parametrize(
    ("by", "area", "error"),
    [
        (who("sup", "d1", "district_supervisor"), None, Forbidden),
        (who("unit", "d1", "reporting_unit"), None, Forbidden),
        (DISTRICT_ADMIN, "d2", NotFound),  # a sibling's area
        (DISTRICT_ADMIN, "p", NotFound),  # the level above
        (PROVINCE_ADMIN, "nowhere", NotFound),
    ],
)
async def test_a_notice_goes_only_from_an_administrator_to_its_own_subtree(svc, by, area, error):
    with pytest.raises(error):
        await send(svc, notice(by, area))
    assert await svc.store["broadcasts"].count_documents({}) == 0


async def test_a_notice_is_followed_by_its_sender_and_the_central_level_only(svc):
    broadcast = await send(svc, notice(DISTRICT_ADMIN))
    for reader in (DISTRICT_ADMIN, CENTRAL):
        assert (await usecases.sent_notice(svc.uow(), broadcast.id, reader)).id == broadcast.id
    for outsider in (PROVINCE_ADMIN, who("adm-d1b", "d1", "district_admin")):
        with pytest.raises(NotFound):
            await usecases.sent_notice(svc.uow(), broadcast.id, outsider)


async def test_a_finished_notice_says_whether_it_reached_anybody(svc):
    reached, nobody = await send(svc, notice(DISTRICT_ADMIN)), await send(svc, notice(DISTRICT_ADMIN))
    await svc.run(usecases.finish_broadcast, reached.id, 3, 2)
    await svc.run(usecases.finish_broadcast, nobody.id, 0, 0)
    await svc.run(usecases.finish_broadcast, nobody.id, 0, 0)  # a resumed sending finishes it again
    got = await usecases.sent_notice(svc.uow(), reached.id, DISTRICT_ADMIN)
    assert (got.status, got.recipients, got.emailed) == ("sent", 3, 2)
    again = await usecases.sent_notice(svc.uow(), nobody.id, DISTRICT_ADMIN)
    assert (again.status, again.version) == ("no_recipients", 2)


async def test_a_reminder_pass_by_hand_is_the_central_levels_for_a_day_that_has_come(svc):
    today = date(2026, 4, 10)
    with pytest.raises(Forbidden):
        await usecases.run_reminders(svc, PROVINCE_ADMIN, today, None, today)
    with pytest.raises(DomainError) as future:
        await usecases.run_reminders(svc, CENTRAL, today + timedelta(days=1), None, today)
    assert future.value.code == "future_day"
    assert svc.scheduler.asked == []
    await usecases.run_reminders(svc, CENTRAL, today, "k", today)
    assert svc.scheduler.asked == [(today, "k")]
    assert await svc.store.commits.find_one({"audit.action": "reminders_run"}) is not None


async def test_reading_a_notice_is_its_owners_alone(svc):
    await svc.notifications.add_notice("n1", "acc-1", "Tiêu đề", "Nội dung", "notice")
    with pytest.raises(NotFound):
        await usecases.read_notice(svc.notifications, "n1", who("acc-2", "d1", "reporting_unit"))
    await usecases.read_notice(svc.notifications, "n1", who("acc-1", "d1", "reporting_unit"))
    assert await svc.notifications.unread("acc-1") == 0


# The mail outbox -----------------------------------------------------------------------------------
async def queued(svc: Notifications, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        delivery = Delivery(
            id=f"d{i}",
            account_id=f"acc-{i}",
            to=f"n{i}@example.vn",
            subject="Chủ đề",
            body="Nội dung",
            template="notice",
            cause_event_id="ev",
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        await svc.notifications.add_delivery(delivery)
        await svc.notifications.add_delivery(delivery)  # told twice: one e-mail
        ids.append(delivery.id)
    return ids


async def test_due_mails_are_claimed_once_with_a_lease(svc):
    await queued(svc, 3)
    claimed = await usecases.claim_due(svc.uow, lease_seconds=30, limit=10)
    assert sorted(d.id for d in claimed) == ["d0", "d1", "d2"]
    assert all(d.version == 2 for d in claimed)
    assert await usecases.claim_due(svc.uow, lease_seconds=30, limit=10) == []  # leased: nobody else takes them


async def test_a_claim_that_lost_the_race_leaves_the_mail_to_the_replica_that_won(svc):
    (delivery_id,) = await queued(svc)
    now = datetime.now(UTC)
    raced: list[int] = []

    class Interrupted(NotificationsUnitOfWork):
        async def commit(self, audit=None) -> None:
            if not raced:  # another replica claims it between our read and our write
                raced.append(1)
                other = NotificationsUnitOfWork(self.store)
                await usecases.claim_delivery(other, delivery_id, now, now + timedelta(seconds=30))
            await super().commit(audit)

    got = await run(
        lambda: Interrupted(svc.store),
        lambda uow: usecases.claim_delivery(uow, delivery_id, now, now + timedelta(seconds=60)),
        pause=0,
    )
    assert got is None  # run read again and found it leased
    stored = await svc.store.find("deliveries", delivery_id)
    assert stored["version"] == 2 and stored["next_attempt_at"] < now + timedelta(seconds=45)  # the winner's lease


async def test_an_attempt_is_recorded_with_its_event_and_the_mail_leaves_the_queue(svc):
    await queued(svc)
    (delivery,) = await usecases.claim_due(svc.uow, lease_seconds=30, limit=10)
    delivery.delivered(datetime.now(UTC))
    assert await svc.run(usecases.record_attempt, delivery)
    stored = await svc.store.find("deliveries", delivery.id)
    assert (stored["status"], stored["attempts"], stored["version"]) == ("sent", 1, 3)
    assert [e["routing_key"] for e in await svc.store.events()] == ["notifications.delivery.delivered.v1"]
    assert await svc.store[MAIL_QUEUE].count_documents({}) == 0


async def test_a_failed_attempt_waits_its_backoff_in_the_queue(svc):
    await queued(svc)
    (delivery,) = await usecases.claim_due(svc.uow, lease_seconds=30, limit=10)
    now = datetime.now(UTC)
    delivery.attempt_failed("SMTPServerDisconnected", permanent=False, now=now, base=60, cap=300, max_attempts=5)
    assert await svc.run(usecases.record_attempt, delivery)
    entry = await svc.store[MAIL_QUEUE].find_one({"_id": delivery.id})
    assert entry["due_at"] > now + timedelta(seconds=59)
    assert await usecases.claim_due(svc.uow, lease_seconds=30, limit=10) == []


async def test_an_attempt_whose_lease_ran_out_and_was_claimed_again_is_not_recorded(svc):
    await queued(svc)
    (late,) = await usecases.claim_due(svc.uow, lease_seconds=30, limit=10)
    # Its lease ran out (the SMTP server was slow) and another replica claimed it again.
    other = NotificationsUnitOfWork(svc.store)
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert await usecases.claim_delivery(other, late.id, later, later + timedelta(seconds=30)) is not None
    late.delivered(datetime.now(UTC))
    assert not await svc.run(usecases.record_attempt, late)
    stored = await svc.store.find("deliveries", late.id)
    assert (stored["status"], stored["version"]) == ("pending", 3)
    assert await svc.store.events() == []
