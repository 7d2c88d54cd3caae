"""Notifications' use cases over the in-memory store (no broker, no MongoDB, no SMTP server): who may
send and follow a notice, the reminder pass run by hand, and the mail outbox's claims and attempts
under a lost version race."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chassis.auth import Principal
from chassis.errors import DomainError, Forbidden, NotFound
from chassis.messaging import Malformed, Retry
from chassis.sealing import Sealer
from chassis.tree import UnitDirectory
from chassis.unit_of_work import run
from moha_contracts import AccountIssued, PasswordReset, SurveyInvitationIssued
from services.notifications import usecases
from services.notifications.domain.model import Delivery
from services.notifications.settings import NotificationsSettings
from services.notifications.store import MAIL_QUEUE, NotificationStore, NotificationsUnitOfWork
from services.notifications.usecases import Calendar, Notifications, SendNotice
from tests.support.memory_store import MemoryStore

UNITS = [
    {"_id": "p", "code": "01", "name": "Tỉnh", "level": "province", "path": []},
    {"_id": "d1", "code": "0101", "name": "Huyện 1", "level": "district", "path": ["p"]},
    {"_id": "d2", "code": "0102", "name": "Huyện 2", "level": "district", "path": ["p"]},
    {"_id": "c1", "code": "010101", "name": "Xã 1", "level": "commune", "path": ["p", "d1"]},
    {"_id": "c2", "code": "010102", "name": "Xã 2", "level": "commune", "path": ["p", "d1"]},
]


def who(account_id: str, unit_id: str, role: str) -> Principal:
    return Principal(account_id=account_id, username=account_id, unit_id=unit_id, role=role)


OPEN_KEY, SEAL_KEY = Sealer.new_keypair()
SEALER = Sealer(private_key=OPEN_KEY)
PROVINCE_ADMIN = who("adm-p", "p", "province_admin")
DISTRICT_ADMIN = who("adm-d1", "d1", "district_admin")
CENTRAL = who("adm-c", "root", "central_admin")


class FixedDay(Calendar):
    def __init__(self, day: date) -> None:
        self.day = day

    def today(self) -> date:
        return self.day


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
        SEALER,
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
    svc.calendar = FixedDay(today)
    with pytest.raises(Forbidden):
        await usecases.run_reminders(svc, PROVINCE_ADMIN, today, None)
    with pytest.raises(DomainError) as future:
        await usecases.run_reminders(svc, CENTRAL, today + timedelta(days=1), None)
    assert future.value.code == "future_day"
    assert await svc.store.commits.find_one({"audit.action": "reminders_run"}) is None
    assert await usecases.run_reminders(svc, CENTRAL, today, "k") == dict.fromkeys(
        ("unit_reminders", "overdue_lists", "survey_reminders"), 0
    )
    assert await svc.store.commits.find_one({"audit.action": "reminders_run"}) is not None


async def test_reading_a_notice_is_its_owners_alone(svc):
    await svc.uow().documents.add_notice("n1", "acc-1", "Tiêu đề", "Nội dung", "notice")
    with pytest.raises(NotFound):
        await usecases.read_notice(svc.uow(), "n1", who("acc-2", "d1", "reporting_unit"))
    await usecases.read_notice(svc.uow(), "n1", who("acc-1", "d1", "reporting_unit"))
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
        assert await usecases.add_delivery(svc.uow(), delivery)
        assert not await usecases.add_delivery(svc.uow(), delivery)  # told twice: one e-mail
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


# Telling people, from the events consumed --------------------------------------------------------
def issued(account_id: str, unit_id: str, role: str, email: str | None = "x@example.vn") -> AccountIssued:
    return AccountIssued(
        account_id=account_id,
        username=account_id,
        unit_id=unit_id,
        role=role,
        email=email and f"{account_id}@example.vn",
        display_name=f"Ông {account_id}",
        issued_by=None,
    )


async def people(svc: Notifications, *accounts: AccountIssued) -> None:
    for n, event in enumerate(accounts):
        await usecases.account_issued(svc.uow(), event, f"ev-issued-{n}", f"2026-01-01T00:00:0{n}|{n}")


async def test_an_issued_account_is_told_once_in_its_inbox_and_by_mail_however_often_it_is_told(svc):
    event = issued("acc-1", "c1", "reporting_unit")
    for _ in range(2):  # the event redelivered
        await usecases.account_issued(svc.uow(), event, "ev-1", "2026-01-01T00:00:00|ev-1")
    items, unread = await svc.notifications.inbox("acc-1")
    assert (unread, [n["kind"] for n in items]) == (1, ["account_issued"])
    assert [d["_id"] async for d in svc.store[MAIL_QUEUE].find({})] == ["ev-1:acc-1:email"]
    assert (await svc.store.find("deliveries", "ev-1:acc-1:email"))["to"] == "acc-1@example.vn"


async def test_a_unit_told_reaches_its_active_accounts_of_the_role_asked(svc):
    await people(
        svc,
        issued("u1", "c1", "reporting_unit"),
        issued("u2", "c1", "reporting_unit", email=None),  # inbox only
        issued("u3", "c1", "district_supervisor"),
        issued("u4", "c1", "reporting_unit"),
    )
    await usecases.recipient_changed(svc.uow(), "2026-02-01T00:00:00|r", "u4", "status", status="revoked")
    assert await usecases.unit_told(svc.uow, "ev-rej", "c1", "form_returned", submission_id="s", revision=1, reason="")
    told = {n["account_id"] async for n in svc.store["notices"].find({"cause_id": "ev-rej"})}
    assert told == {"u1", "u2"}
    assert await svc.store["deliveries"].count_documents({"cause_event_id": "ev-rej"}) == 1
    assert await usecases.unit_told(svc.uow, "ev-x", "d2", "form_returned", submission_id="s", revision=1) == 0


async def test_a_password_reset_of_an_account_not_known_yet_waits_for_it(svc):
    with pytest.raises(Retry):
        await usecases.password_reset(
            svc.uow(),
            PasswordReset(
                account_id="nobody", unit_id="c1", reason="forgot", reset_by="adm", reset_at=datetime.now(UTC)
            ),
            "ev",
        )


async def test_a_survey_invitation_is_mailed_with_its_link_sealed_and_reminded_until_answered(svc):
    deadline = date(2026, 5, 20)
    sealed = Sealer(public_key=SEAL_KEY).seal(
        {"full_name": "Bà Lan", "email": "lan@example.vn", "link": "https://khao-sat/abc"}
    )
    event = SurveyInvitationIssued(
        invitation_id="inv-1",
        survey_id="sv",
        survey_title="Khảo sát PAR",
        owner_unit_id="p",
        group="g",
        answer_deadline=deadline,
        sealed=sealed,
        issued_at=datetime.now(UTC),
    )
    await usecases.survey_invitation_issued(svc.uow(), event, "ev-inv", sealer=svc.sealer)
    mail = await svc.store.find("deliveries", "ev-inv:inv-1:email")
    assert (mail["to"], mail["sealed"]) == ("lan@example.vn", sealed) and "abc" not in mail["body"]
    assert await svc.store["notices"].count_documents({}) == 0  # no account, no inbox
    with pytest.raises(Malformed):
        await usecases.survey_invitation_issued(
            svc.uow(), event.model_copy(update={"sealed": "v1.garbage"}), "ev-bad", sealer=svc.sealer
        )

    two_days_before = deadline - timedelta(days=2)
    assert (await usecases.reminder_pass(svc, two_days_before))["survey_reminders"] == 1
    assert (await usecases.reminder_pass(svc, two_days_before))["survey_reminders"] == 0  # once
    await usecases.survey_answered(svc.uow(), "inv-1", datetime.now(UTC))
    assert (await usecases.reminder_pass(svc, deadline))["survey_reminders"] == 0  # answered: no last call


# The reminder pass -----------------------------------------------------------------------------
CAMPAIGN = {
    "_id": "k",
    "campaign_id": "k",
    "title": "Báo cáo quý",
    "scope_unit_ids": ["p"],
    "opens_on": "2026-04-01",
    "closes_on": "2026-04-30",
    "province_deadline": "2026-04-24",
    "district_deadline": "2026-04-16",  # a Thursday
}


async def test_the_pass_reminds_late_units_once_and_lists_them_to_their_supervisors_after_the_deadline(svc):
    await svc.uow().documents.add_campaign(dict(CAMPAIGN))
    await people(
        svc,
        issued("c1-user", "c1", "reporting_unit"),
        issued("c2-user", "c2", "reporting_unit"),
        issued("d1-sup", "d1", "district_supervisor"),
    )
    await usecases.form_submitted(svc.uow(), "k", "c2")  # c2 is done: nothing for it
    before = date(2026, 4, 14)
    assert await usecases.reminder_pass(svc, before) == {"unit_reminders": 1, "overdue_lists": 0, "survey_reminders": 0}
    assert (await usecases.reminder_pass(svc, before))["unit_reminders"] == 0  # another replica, or a pass again
    reminded = [n["account_id"] async for n in svc.store["notices"].find({"kind": "reminder_before"})]
    assert reminded == ["c1-user"]

    after = date(2026, 4, 17)
    assert (await usecases.reminder_pass(svc, after))["overdue_lists"] == 1
    (listed,) = [n async for n in svc.store["notices"].find({"kind": "reminder_overdue"})]
    assert listed["account_id"] == "d1-sup" and "Xã 1" in listed["body"] and "Xã 2" not in listed["body"]
    assert (await usecases.reminder_pass(svc, date(2026, 6, 30)))["overdue_lists"] == 0  # past its window


async def test_a_pass_by_hand_for_one_campaign_leaves_the_others(svc):
    await svc.uow().documents.add_campaign(dict(CAMPAIGN))
    await people(svc, issued("c1-user", "c1", "reporting_unit"))
    svc.calendar = FixedDay(date(2026, 4, 14))
    assert (await usecases.run_reminders(svc, CENTRAL, date(2026, 4, 14), "other"))["unit_reminders"] == 0
    assert (await usecases.run_reminders(svc, CENTRAL, date(2026, 4, 14), "k"))["unit_reminders"] == 2


# Notices sent to a subtree ---------------------------------------------------------------------
async def test_a_notice_reaches_everyone_under_its_area_and_a_dead_senders_notice_is_resumed(svc):
    await people(svc, issued("c1-user", "c1", "reporting_unit"), issued("c2-user", "c2", "reporting_unit", None))
    await people(svc, issued("d2-user", "d2", "reporting_unit"))
    broadcast = await send(svc, notice(PROVINCE_ADMIN, "d1"))
    # Its sender's process died before sending it: the scheduler finds it once it is a minute old.
    assert await usecases.resume_broadcasts(svc) == 0
    await svc.store["broadcasts"].update_one(
        {"_id": broadcast.id}, {"$set": {"at": datetime.now(UTC) - timedelta(minutes=2)}}
    )
    assert await usecases.resume_broadcasts(svc) == 1
    got = await usecases.sent_notice(svc.uow(), broadcast.id, PROVINCE_ADMIN)
    assert (got.status, got.recipients, got.emailed) == ("sent", 2, 1)
    assert {n["account_id"] async for n in svc.store["notices"].find({"cause_id": broadcast.id})} == {
        "c1-user",
        "c2-user",
    }
    assert await usecases.resume_broadcasts(svc) == 0
