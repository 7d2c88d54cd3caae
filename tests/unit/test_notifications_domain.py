from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import given
from hypothesis import strategies as st

from moha_contracts import NotificationDelivered, NotificationFailed
from services.notifications.domain.message import Unbuildable, compose
from services.notifications.domain.model import FAILED, NO_RECIPIENTS, PENDING, SENT, Delivery, backoff, notice_state
from services.notifications.domain.templates import notice_outcome, render

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def delivery() -> Delivery:
    return Delivery(
        id="e1:a1:email",
        account_id="a1",
        to="a@example.vn",
        subject="s",
        body="b",
        template="form_approved",
        cause_event_id="e1",
    )


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
    text = render(
        "form_returned",
        display_name="UBND xã A",
        submission_id="c1:u1",
        revision=2,
        reason="Mục A3.3 không thuộc đơn vị",
    )
    assert text.subject == "Phiếu của đơn vị bị trả lại"
    assert "Lý do: Mục A3.3 không thuộc đơn vị" in text.body
    assert "lần gửi 2" in text.body


# The message as the SMTP server receives it: aiosmtplib writes it with email.policy.SMTP, in 8 bits
# or 7, or with SMTPUTF8 when an address needs it; a reader parses it with the default policy.
LONG_SUBJECT = (
    "Thông báo: Hội nghị tập huấn nghiệp vụ đã được tổ chức tại hội trường của Hội học sinh, sinh "
    "viên tỉnh Lạng Sơn về khảo sát sự hài lòng đối với sự phục vụ của cơ quan hành chính nhà nước"
)


def received(subject: str, *, utf8: bool = False, cte_type: str = "8bit", to: str = "a@example.vn"):
    message = compose(
        sender="Bộ Nội vụ <khong-tra-loi@moha.gov.vn>",
        to=to,
        subject=subject,
        body="Kính gửi ông/bà,\n\nNội dung.\n",
        template="notice",
        message_id="<m1@moha.gov.vn>",
    )
    raw = flatten_message(message, utf8=utf8, cte_type=cte_type)
    return raw, message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize("utf8,cte_type", [(False, "8bit"), (False, "7bit"), (True, "8bit")])
def test_a_long_vietnamese_subject_keeps_every_blank_when_folded(utf8, cte_type):
    raw, message = received(LONG_SUBJECT, utf8=utf8, cte_type=cte_type)
    assert message["Subject"] == LONG_SUBJECT  # not "đãđược", "Hộihọc"
    assert raw.isascii() or utf8 or cte_type == "8bit"
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))  # folded, RFC 5322 §2.1.1
    assert message.get_content().replace("\r\n", "\n") == "Kính gửi ông/bà,\n\nNội dung.\n"


VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵĐƯ"


@given(
    st.text(alphabet=VIETNAMESE + "  ,.:;()-/\"'=?_0123456789", min_size=1, max_size=320).map(str.strip).filter(bool)
)
def test_any_vietnamese_subject_decodes_to_itself(subject):  # titles are trimmed where they are typed
    _, message = received(subject)
    assert message["Subject"] == subject


@pytest.mark.parametrize("subject", ["Thông báo: Họp\nBcc: ai@example.vn", "Nhắc hạn\r\n", "Khảo sát\u2028đợt 2"])
def test_a_subject_on_two_lines_cannot_be_built_and_the_reason_names_no_one(subject):
    with pytest.raises(Unbuildable) as refused:
        received(subject)
    assert str(refused.value).startswith("subject: line break") and "@" not in str(refused.value)


def test_a_notice_nobody_received_says_so_and_otherwise_says_how_many():
    assert notice_state("sent", 0) == NO_RECIPIENTS and notice_state("sending", 0) == "sending"
    assert notice_state("sent", 3) == "sent"
    assert notice_outcome(NO_RECIPIENTS, 0, 0).startswith("Không ai nhận được thông báo này")
    assert notice_outcome("sent", 3, 2).startswith("Đã gửi thông báo tới 3 tài khoản")
    assert "2 tài khoản trong số đó nhận thêm qua thư điện tử" in notice_outcome("sent", 3, 2)
