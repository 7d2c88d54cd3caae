"""Notifications' mailer against the real store, broker and a real SMTP server (aiosmtpd): a
delivery that cannot become an e-mail fails for good, with its reason and a NotificationFailed,
and the others of its batch still go out, with their Vietnamese subjects whole; a pass sends over
a few connections, and a server that closes a connection after a message costs no attempt."""

import asyncio
import uuid

import pytest

from chassis.messaging import broker_user, make_broker
from chassis.outbox import OutboxRelay
from chassis.sealing import Sealer
from deploy.launch import free_port
from services.notifications import usecases
from services.notifications.domain.model import FAILED, SENT, Delivery
from services.notifications.mailer import Mailer
from services.notifications.settings import NotificationsSettings
from services.notifications.store import MAIL_QUEUE, NotificationStore, NotificationsUnitOfWork
from tests.support.events import EventTap
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

SUBJECT = (
    "Thông báo: Hội nghị tập huấn nghiệp vụ đã được tổ chức tại hội trường của Hội học sinh, sinh viên tỉnh Lạng Sơn"
)


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def delivery(tag: str, n: int, subject: str) -> Delivery:
    return Delivery(
        id=f"ev-{tag}:acc{n}:email",
        account_id=f"acc{n}-{tag}",
        to=f"n{n}.{tag}@example.vn",
        subject=subject,
        body="Kính gửi ông/bà,\n\nNội dung thông báo.\n",
        template="notice",
        cause_event_id=f"ev-{tag}",
    )


async def test_a_mail_that_cannot_be_built_fails_for_good_and_the_others_go_on(amqp_url, store, smtp):
    tag = uuid.uuid4().hex[:6]
    notifications = NotificationStore(store)
    settings = NotificationsSettings(smtp_port=smtp.port, smtp_timeout_seconds=5, mail_concurrency=4)
    mailer = Mailer(notifications, settings, Sealer(), lambda: NotificationsUnitOfWork(store))
    # A title stored before titles were checked: a line break, with a header after it.
    broken = delivery(tag, 0, "Thông báo: Họp giao ban\nBcc: ai-do@example.vn")
    fine = [delivery(tag, n, SUBJECT) for n in (1, 2, 3)]
    for d in (broken, *fine):  # one batch: the broken one is among those claimed together
        await usecases.add_delivery(NotificationsUnitOfWork(store), d)

    async with EventTap(amqp_url, "notifications.delivery.failed.v1") as tap:
        assert await asyncio.wait_for(mailer.send_due(), 30)
        stored = await store.find("deliveries", broken.id)
        assert (stored["status"], stored["attempts"]) == (FAILED, 1)
        assert stored["last_error"] == "unbuildable: subject: line break U+000A"
        # Published as every other failure is: from the delivery's commit, by the relay.
        broker = make_broker(amqp_url, prefetch=10, service=f"mailer-test-{tag}")
        await broker.connect()
        await OutboxRelay(store, broker, user_id=broker_user(amqp_url)).drain()
        await broker.stop()
        failed, _ = await tap.wait_for("delivery.failed.v1", subject=broken.id)
        assert failed.data["error"] == stored["last_error"] and "ai-do" not in str(failed.data)

    for d in fine:
        assert (await store.find("deliveries", d.id))["status"] == SENT
        received = smtp.wait_for(d.to, template="notice")
        assert received[0]["Subject"] == SUBJECT  # every blank kept ("đã được", "Hội học sinh")
    assert smtp.to(broken.to) == []
    assert await store[MAIL_QUEUE].count_documents({}) == 0  # nothing left to claim again
    assert not await mailer.send_due()


async def send_all(store, settings: NotificationsSettings, deliveries: list[Delivery]) -> None:
    for d in deliveries:
        await usecases.add_delivery(NotificationsUnitOfWork(store), d)
    mailer = Mailer(NotificationStore(store), settings, Sealer(), lambda: NotificationsUnitOfWork(store))
    assert await asyncio.wait_for(mailer.send_due(), 30)


async def test_a_pass_sends_its_mails_over_as_many_connections_as_it_sends_at_once(store, smtp):
    tag = uuid.uuid4().hex[:6]
    many = [delivery(tag, n, SUBJECT) for n in range(12)]
    await send_all(store, NotificationsSettings(smtp_port=smtp.port, smtp_timeout_seconds=5, mail_concurrency=3), many)
    for d in many:
        stored = await store.find("deliveries", d.id)
        assert (stored["status"], stored["attempts"]) == (SENT, 1)
        assert len(smtp.to(d.to, template="notice")) == 1
    assert 1 <= smtp.connections <= 3  # not twelve: one per e-mail sent at the same time


async def test_a_server_that_takes_one_message_per_connection_gets_every_mail_at_the_first_attempt(store):
    server = SmtpServer(free_port(), per_connection=1)
    server.start()
    try:
        tag = uuid.uuid4().hex[:6]
        several = [delivery(tag, n, SUBJECT) for n in range(5)]
        settings = NotificationsSettings(smtp_port=server.port, smtp_timeout_seconds=5, mail_concurrency=2)
        await send_all(store, settings, several)
        for d in several:
            stored = await store.find("deliveries", d.id)
            # Its 421 on a connection lent again is not a failed attempt: a new connection at once.
            assert (stored["status"], stored["attempts"], stored.get("last_error")) == (SENT, 1, None)
            assert len(server.to(d.to)) == 1
        assert server.connections == 5
    finally:
        server.stop()
