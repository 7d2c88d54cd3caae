from datetime import date

import pytest

from services.notifications.domain.reminders import OVERDUE, area_of, due_reminder, reminder_id
from services.notifications.domain.templates import _TEMPLATES, render

DEADLINE = date(2026, 4, 20)
DAYS = (5, 2, 1)


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2026, 4, 10), None),  # 10 days ahead: nothing yet
        (date(2026, 4, 15), "before-5"),
        (date(2026, 4, 16), "before-5"),  # already sent on the 15th: the same id, not again
        (date(2026, 4, 18), "before-2"),
        (date(2026, 4, 19), "before-1"),
        (date(2026, 4, 20), "last-day"),  # the day itself: the last call
        (date(2026, 4, 21), OVERDUE),
    ],
)
def test_the_reminder_due_each_day(today, due):
    assert due_reminder(DEADLINE, today, DAYS) == due


def test_a_missed_day_sends_only_the_latest_reminder():
    # The scheduler was down from the 15th to the 18th: on the 18th only "2 days" goes out.
    assert due_reminder(DEADLINE, date(2026, 4, 18), DAYS) == "before-2"


def test_a_moved_deadline_reminds_again():
    assert reminder_id("c", "u", "before-5", DEADLINE) != reminder_id("c", "u", "before-5", date(2026, 4, 25))


def test_the_area_told_of_a_late_unit():
    levels = {"root": "central", "p": "province", "d": "district", "c": "commune"}
    assert area_of(["root", "p", "d"], levels) == ("district", "d")
    assert area_of(["root", "p"], levels) == ("province", "p")
    assert area_of(["root", "p", "d", "c"], levels) == ("district", "d")  # an agency under a commune


@pytest.mark.parametrize("template", sorted(_TEMPLATES))
def test_every_template_renders_in_vietnamese(template):
    values = dict(
        display_name="Xã A",
        username="dv.xa",
        reason="Quên mật khẩu",
        submission_id="s",
        revision=1,
        when="còn 2 ngày",
        deadline="20/04/2026",
        campaign_title="Điều tra",
        count=1,
        units="- Xã A",
        title="Lịch tập huấn",
        body="Nội dung",
        links="",
        sender="Sở Nội vụ",
        survey_title="Chỉ số CCHC 2022",
        link="https://khaosat.example.vn/s/t",
    )
    text = render(template, **values)
    assert "$" not in text.subject + text.body
    assert "Kính gửi Xã A" in text.body and "Bộ Nội vụ" in text.body
