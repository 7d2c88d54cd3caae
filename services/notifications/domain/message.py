"""An e-mail as the SMTP server receives it, built from a delivery's parts. Plain Python: no I/O.

Vietnamese subjects are not ASCII, so they travel as RFC 2047 encoded words (aiosmtplib writes
the message with `email.policy.SMTP` unless an address itself needs SMTPUTF8). Python 3.11's
policies fold a long subject by leaving the blank between two words *between* two encoded words,
where every reader drops it (RFC 2047 §6.2): "đã được" arrives as "đãđược" (CPython gh-144156,
fixed only in later releases). So a non-ASCII subject is encoded here by `email.header.Header`,
which keeps every blank inside an encoded word and folds only between them, and is set as the raw
header, which the generator writes as it is. Raw UTF-8 headers (SMTPUTF8) are not used: a relay
further on that lacks SMTPUTF8 would have to bounce the message (RFC 6531 §3.2), while encoded
words pass everywhere (docs/decisions/0005)."""

from __future__ import annotations

from email.header import Header
from email.message import EmailMessage

from chassis.text import single_line_problem


class Unbuildable(ValueError):
    """This delivery cannot become an e-mail, and trying again will not change that. The message
    says why without quoting the delivery (it goes into NotificationFailed, a public event)."""


def compose(*, sender: str, to: str, subject: str, body: str, template: str, message_id: str) -> EmailMessage:
    if problem := single_line_problem(subject):
        raise Unbuildable(f"subject: {problem}")
    if problem := single_line_problem(to):
        raise Unbuildable(f"address: {problem}")
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = to
    except (ValueError, IndexError, TypeError) as exc:  # the header parser's refusals
        raise Unbuildable(f"address: {exc.__class__.__name__}") from None
    set_text_header(message, "Subject", subject)
    message["X-MOHA-Template"] = template  # lets mail rules and tests sort messages by kind
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


def set_text_header(message: EmailMessage, name: str, value: str) -> None:
    """A free-text header (RFC 5322 unstructured), folded so that it decodes to `value` exactly."""
    if value.isascii():
        message[name] = value  # ASCII folds at its blanks, which stay
        return
    message.set_raw(name, Header(value, "utf-8", header_name=name).encode(linesep="\r\n"))
