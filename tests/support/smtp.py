"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, and can be stopped and
started again on the same port to play a mail server that goes away."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


class _Collect:
    def __init__(
        self, sink: list[tuple[str, str | None, EmailMessage]], lock: threading.Lock, per_connection: int | None
    ) -> None:
        self.sink, self.lock, self.per_connection = sink, lock, per_connection
        self.taken: dict[tuple[str, int], int] = {}  # messages taken per connection (its client's port)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        # As servers that take only so many messages per connection say it.
        if self.per_connection is not None and self.taken.get(session.peer, 0) >= self.per_connection:
            return "421 4.7.0 Too many messages on this connection, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        # A mailbox that does not exist: the server's final word, as a real one would give it.
        if address.startswith("refuse."):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=policy.default)
        # Headers read once here: the tests' polls look up a recipient thousands of times.
        with self.lock:
            self.sink.append((str(message["To"]), message["X-MOHA-Template"], message))
            self.taken[session.peer] = self.taken.get(session.peer, 0) + 1
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int, per_connection: int | None = None) -> None:
        self.port = port
        self.per_connection = per_connection
        self._handler: _Collect | None = None
        self._received: list[tuple[str, str | None, EmailMessage]] = []  # (To, template, message)
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._handler = _Collect(self._received, self._lock, self.per_connection)
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    @property
    def connections(self) -> int:
        """How many connections brought at least one message (since the last start)."""
        with self._lock:
            return len(self._handler.taken) if self._handler else 0

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [m for _, _, m in self._received]

    def to(self, address: str, template: str | None = None) -> list[EmailMessage]:
        """What `address` received (of one kind of message, if `template` is given)."""
        with self._lock:
            return [m for to, kind, m in self._received if to == address and (template is None or kind == template)]

    def wait_for(
        self, address: str, count: int = 1, timeout: float = 20.0, template: str | None = None
    ) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.to(address, template)) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} {template or ''} e-mail(s) to {address}, got {len(self.to(address, template))}"
        )
