"""An SMTP server that accepts every e-mail and keeps nothing, for benchmarks: tens of thousands of
e-mails must cost the machine as little as possible, and the bench counts deliveries from the
platform's own NotificationDelivered events.

    python -m aiosmtpd -n -c bench.smtp_sink.Discard -l 127.0.0.1:PORT
"""

from __future__ import annotations

from typing import Any


class Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        return "250 OK"
