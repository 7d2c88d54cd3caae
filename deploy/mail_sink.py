"""The demo's mail server: every e-mail the platform sends is written, decoded and readable, to
standard output (the launcher sends it to .stack/logs/mail.log). Not for production: a ministry
points SMTP_HOST at its relay."""

from __future__ import annotations

import sys
from email import message_from_bytes, policy


class Readable:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(
            "=" * 78,
            f"To: {message['To']}",
            f"Subject: {message['Subject']}",
            f"Kind: {message['X-MOHA-Template']}",
            "",
            body.get_content() if body else "",
            sep="\n",
            flush=True,
        )
        sys.stdout.flush()
        return "250 OK"
