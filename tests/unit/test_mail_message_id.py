"""An e-mail sent again after a crash (accepted by the server, not yet marked sent) is the same
message to mail clients: its Message-ID is the delivery's, not drawn anew at each attempt."""

from email.headerregistry import Address  # noqa: F401 - the stdlib parses what we build

from services.notifications.mailer import message_id


def test_every_attempt_at_one_email_has_the_same_message_id():
    delivery = "notice:3f2a9c:acc-42:email"
    assert message_id(delivery) == message_id(delivery) == "<notice.3f2a9c.acc-42.email@moha.gov.vn>"
    assert message_id(delivery) != message_id("notice:3f2a9c:acc-43:email")
