"""Notices in an account's inbox and the e-mails that carry them. Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from moha_contracts import Event, NotificationDelivered, NotificationFailed

PENDING, SENT, FAILED = "pending", "sent", "failed"
NO_RECIPIENTS = "no_recipients"  # a notice whose area has no account to tell
# Stands for a survey link in a stored e-mail body; the mailer puts the link in at sending.
LINK_MARK = "⟨đường dẫn riêng⟩"


def notice_state(status: str, recipients: int) -> str:
    """A notice sent to nobody (no active account under its area) says so: it is not "sent"."""
    return NO_RECIPIENTS if status == "sent" and recipients == 0 else status


def notice_id(cause_event_id: str, account_id: str) -> str:
    # Deterministic: the same event delivered twice makes the same notice, not a second one.
    return f"{cause_event_id}:{account_id}"


@dataclass
class Delivery:
    """One e-mail to one account, caused by one event."""

    id: str
    account_id: str
    to: str
    subject: str
    body: str
    template: str
    cause_event_id: str
    status: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_error: str | None = None
    # A survey e-mail's sealed address and link (forms sealed them): opened only to send.
    sealed: str | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def delivered(self, now: datetime) -> None:
        self.status = SENT
        self.attempts += 1
        self.last_error = None
        self.events.append(
            NotificationDelivered(
                delivery_id=self.id,
                account_id=self.account_id,
                channel="email",
                template=self.template,
                cause_event_id=self.cause_event_id,
                delivered_at=now,
            )
        )

    def attempt_failed(
        self, error: str, *, permanent: bool, now: datetime, base: float, cap: float, max_attempts: int
    ) -> None:
        self.attempts += 1
        self.last_error = error
        if permanent or self.attempts >= max_attempts:
            self.status = FAILED
            self.events.append(
                NotificationFailed(
                    delivery_id=self.id,
                    account_id=self.account_id,
                    channel="email",
                    template=self.template,
                    cause_event_id=self.cause_event_id,
                    error=error,
                    attempts=self.attempts,
                )
            )
            return
        self.next_attempt_at = now + timedelta(seconds=backoff(self.attempts, base, cap))


def backoff(attempts: int, base: float, cap: float) -> float:
    return min(cap, base * 2 ** (attempts - 1))


@dataclass
class Broadcast:
    """A notice an administrator sends to every account under an area: sent in the background,
    then finished with how many it reached (and how many of them by e-mail too)."""

    id: str
    area_unit_id: str
    title: str
    body: str
    links: list[dict[str, str]]
    sender_id: str
    sender_name: str
    at: datetime
    status: str = "sending"
    recipients: int = 0
    emailed: int = 0
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def visible_to(self, account_id: str, role: str) -> bool:
        """Its sender follows it; the Ministry's central administrators follow every one."""
        return self.sender_id == account_id or role == "central_admin"

    def finish(self, recipients: int, emailed: int) -> None:
        self.status, self.recipients, self.emailed = notice_state("sent", recipients), recipients, emailed
