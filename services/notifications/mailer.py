"""Sends the pending e-mails through SMTP, retrying with backoff while the server is away.

Each e-mail is claimed with a lease before it is sent, so several replicas never send the same one
at the same time. A crash after the server accepted a message and before it is marked sent sends
it again: e-mail is at least once, and the Message-ID lets mail clients fold the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib

from chassis import metrics
from chassis.logging import bind_contextvars, get_logger
from chassis.sealing import Sealer, SealError
from chassis.unit_of_work import run

from . import usecases
from .domain.message import Unbuildable, compose
from .domain.model import FAILED, LINK_MARK, Delivery
from .settings import NotificationsSettings
from .store import NotificationStore, NotificationsUnitOfWork

log = get_logger("notifications.mailer")
QUIT_SECONDS = 2.0


class Connections:
    """The SMTP connections of one pass of the mailer. Each e-mail borrows one and gives it back
    once the server took its message, so that a bulk issuance of accounts sends its hundreds of
    e-mails over a few connections instead of one each (a TCP handshake, with STARTTLS a TLS one,
    and a login). A connection that failed in any way is closed and never lent again; the rest
    are closed when the pass ends, so none sits idle until the server drops it."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.idle: list[aiosmtplib.SMTP] = []

    async def _open(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )
        await smtp.connect()
        return smtp

    async def send(self, message: EmailMessage) -> None:
        reused = bool(self.idle)
        smtp = self.idle.pop() if reused else await self._open()
        try:
            try:
                await smtp.send_message(message)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException) as exc:
                # A connection lent again that the server has closed meanwhile, or closes now (421:
                # many servers take only so many messages per connection): the message was not
                # taken, and a new connection is tried at once rather than counted as a failure.
                closed = isinstance(exc, aiosmtplib.SMTPServerDisconnected) or exc.code == 421
                if not (reused and closed):
                    raise
                smtp.close()
                smtp = await self._open()
                await smtp.send_message(message)
        except BaseException:
            smtp.close()  # never lent again, whatever went wrong
            raise
        self.idle.append(smtp)

    async def close(self) -> None:
        """A polite QUIT on each, all at once and briefly: a pass ending as the service stops
        must not wait on a server that has stopped answering."""
        idle, self.idle = self.idle, []

        async def bye(smtp: aiosmtplib.SMTP) -> None:
            try:
                await smtp.quit(timeout=QUIT_SECONDS)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

        await asyncio.gather(*(bye(smtp) for smtp in idle))


class Mailer:
    def __init__(
        self,
        store: NotificationStore,
        settings: NotificationsSettings,
        sealer: Sealer,
        make_uow: Callable[[], NotificationsUnitOfWork],
    ) -> None:
        self.store = store
        self.make_uow = make_uow
        self.settings = settings
        self.sealer = sealer
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent_any = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store away: keep going
                log.warning("mailer pass failed", error=str(exc))
                sent_any = False
            with contextlib.suppress(Exception):  # a gauge is not worth a failed pass
                metrics.mail_queue.labels(metrics.service()).set(await self.store.mail_queue_depth())
            if sent_any:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.mail_poll_seconds)
            except TimeoutError:
                pass

    async def send_due(self) -> bool:
        worked = False
        lease = self.settings.smtp_timeout_seconds * 3
        # Several e-mails at once: a bulk issuance of accounts queues hundreds, and each waits mostly
        # on the SMTP server and the store, not on this process.
        limit = asyncio.Semaphore(self.settings.mail_concurrency)

        connections = Connections(self.settings)

        async def send(delivery: Delivery) -> None:
            async with limit:
                try:
                    await self._send(delivery, connections)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the store away: the lease ends, it is claimed again
                    # One delivery's trouble stops neither the others of the batch nor the pass.
                    log.warning("e-mail pass failed for one delivery", error=exc.__class__.__name__)

        # No more claimed than are sent at once: a claim waiting its turn could outlive its lease.
        try:
            while due := await usecases.claim_due(self.make_uow, lease, limit=self.settings.mail_concurrency):
                worked = True
                await asyncio.gather(*(send(d) for d in due))
        finally:
            await connections.close()
        return worked

    async def _send(self, delivery: Delivery, connections: Connections) -> None:
        bind_contextvars(delivery_id=delivery.id)
        s = self.settings
        now = datetime.now(UTC)
        try:
            # Inside the try: a delivery that cannot become an e-mail (a stored title on two lines)
            # fails for good with its reason, instead of being claimed again for ever.
            message = compose(
                sender=s.mail_sender,
                to=delivery.to,
                subject=delivery.subject,
                body=self._body(delivery),
                template=delivery.template,
                message_id=message_id(delivery.id),
            )
        except Exception as exc:  # noqa: BLE001 - building does no I/O: what fails once always fails
            if not isinstance(exc, (SealError, Unbuildable)):
                exc = Unbuildable(f"cannot build the e-mail: {exc.__class__.__name__}")
            self._failed(delivery, exc, permanent=True, now=now)
            await self._record(delivery)
            return
        if bad := await self.store.bad_address(delivery.to):
            # The server refused this address for good before: retrying would only be refused again.
            self._failed(delivery, RuntimeError(f"address refused earlier: {bad['error']}"), permanent=True, now=now)
            await self._record(delivery)
            return
        try:
            await connections.send(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # 5xx: no such mailbox, for good; 4xx (greylisting, a full mailbox): try again later.
            permanent = all(r.code >= 500 for r in exc.recipients)
            self._failed(delivery, exc, permanent=permanent, now=now)
            if permanent:
                await self.store.mark_bad_address(delivery.to, delivery.last_error or "refused")
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is the server's final word on this message; 4xx and anything else may pass later.
            self._failed(delivery, exc, permanent=500 <= exc.code < 600, now=now)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._failed(delivery, exc, permanent=False, now=now)
        except ValueError as exc:  # aiosmtplib refuses an address for the SMTP command line: for good
            self._failed(
                delivery, Unbuildable(f"cannot send to this address: {exc.__class__.__name__}"), permanent=True, now=now
            )
        else:
            delivery.delivered(now)
            log.info("e-mail delivered", attempts=delivery.attempts)
            metrics.mails.labels(metrics.service(), "sent").inc()
        await self._record(delivery)

    async def _record(self, delivery: Delivery) -> None:
        if not await run(self.make_uow, lambda uow: usecases.record_attempt(uow, delivery)):
            log.warning("e-mail attempt not recorded: its lease ran out and it was claimed again")

    def _body(self, delivery: Delivery) -> str:
        """The text, with a survey link opened from its seal only now, for the message itself: the
        link is in no stored record and no log."""
        if delivery.sealed is None:
            return delivery.body
        return delivery.body.replace(LINK_MARK, self.sealer.open(delivery.sealed)["link"])

    def _failed(self, delivery: Delivery, exc: Exception, *, permanent: bool, now: datetime) -> None:
        s = self.settings
        delivery.attempt_failed(
            describe(exc),
            permanent=permanent,
            now=now,
            base=s.mail_retry_base_seconds,
            cap=s.mail_retry_max_seconds,
            max_attempts=s.mail_max_attempts,
        )
        log.warning(
            "e-mail not delivered",
            permanent=permanent,
            status=delivery.status,
            attempts=delivery.attempts,
            error=delivery.last_error,
        )
        metrics.mails.labels(metrics.service(), "failed" if delivery.status == FAILED else "retried").inc()


def message_id(delivery_id: str) -> str:
    """The same for every attempt at one e-mail: a copy sent again after a crash (between the server
    accepting it and its being marked sent) is the same message to mail clients, which fold it."""
    return f"<{re.sub(r'[^A-Za-z0-9.-]', '.', delivery_id)}@moha.gov.vn>"


def describe(exc: Exception) -> str:
    """What went wrong, for the delivery record and NotificationFailed (a public event): the kind
    and the server's codes, never the recipient's address the server echoes back."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return f"SMTPRecipientsRefused {','.join(str(r.code) for r in exc.recipients)}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.__class__.__name__} {exc.code}"
    if isinstance(exc, Unbuildable):
        return f"unbuildable: {exc}"
    return f"{exc.__class__.__name__}: {exc}"[:300]
