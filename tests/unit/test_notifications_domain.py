from datetime import UTC, datetime, timedelta

from moha_contracts import NotificationDelivered, NotificationFailed
from services.notifications.domain.model import FAILED, PENDING, SENT, Delivery, backoff
from services.notifications.domain.templates import render

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def delivery() -> Delivery:
    return Delivery(id="e1:a1:email", account_id="a1", to="a@example.vn", subject="s", body="b",
                    template="form_approved", cause_event_id="e1")


def test_backoff_doubles_up_to_a_cap():
    assert [backoff(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_transient_failure_waits_then_delivers():
    d = delivery()
    d.attempt_failed("SMTPConnectError", permanent=False, now=NOW, base=1.0, cap=60.0, max_attempts=5)
    d.attempt_failed("SMTPConnectError", permanent=False, now=NOW, base=1.0, cap=60.0, max_attempts=5)
    assert (d.status, d.attempts, d.next_attempt_at) == (PENDING, 2, NOW + timedelta(seconds=2))
    assert d.events == []
    d.delivered(NOW)
    assert d.status == SENT
    assert isinstance(d.events[0], NotificationDelivered)


def test_permanent_failure_or_too_many_attempts_fail_with_an_event():
    d = delivery()
    d.attempt_failed("550 no such user", permanent=True, now=NOW, base=1.0, cap=60.0, max_attempts=5)
    assert d.status == FAILED and isinstance(d.events[0], NotificationFailed)
    d = delivery()
    for _ in range(3):
        d.attempt_failed("timeout", permanent=False, now=NOW, base=1.0, cap=60.0, max_attempts=3)
    assert d.status == FAILED and d.events[0].attempts == 3


def test_templates_are_vietnamese_and_carry_the_reason():
    text = render("form_returned", display_name="UBND xã A", submission_id="c1:u1", revision=2,
                  reason="Mục A3.3 không thuộc đơn vị")
    assert text.subject == "Phiếu của đơn vị bị trả lại"
    assert "Lý do: Mục A3.3 không thuộc đơn vị" in text.body
    assert "lần gửi 2" in text.body
