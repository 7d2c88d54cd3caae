"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, and can be stopped and
started again on the same port to play a mail server that goes away."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


class _Collect:
    def __init__(self, sink: list[EmailMessage], lock: threading.Lock) -> None:
        self.sink, self.lock = sink, lock

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        # A mailbox that does not exist: the server's final word, as a real one would give it.
        if address.startswith("refuse."):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.sink.append(message)
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Collect(self.messages, self._lock), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    def to(self, address: str, template: str | None = None) -> list[EmailMessage]:
        """What `address` received (of one kind of message, if `template` is given)."""
        with self._lock:
            return [
                m
                for m in self.messages
                if m["To"] == address and (template is None or m["X-MOHA-Template"] == template)
            ]

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
