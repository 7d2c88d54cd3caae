"""The one-line text type every title that can become an e-mail subject uses."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chassis.text import SINGLE_LINE_MESSAGE as MESSAGE
from chassis.text import SingleLine, single_line_problem


class Titled(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    title: SingleLine = Field(min_length=1, max_length=300)


@pytest.mark.parametrize(
    "breaker",
    ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\t", "\x00", "\x7f"],
)
def test_line_breaks_and_control_characters_are_refused_with_a_vietnamese_message(breaker):
    with pytest.raises(ValidationError) as refused:
        Titled(title=f"Hội nghị tập huấn{breaker}Bcc: ai@example.vn")
    error = refused.value.errors()[0]
    assert (error["type"], error["msg"]) == ("single_line", MESSAGE)
    assert single_line_problem(f"a{breaker}b") is not None


def test_vietnamese_titles_pass_and_are_trimmed():
    title = "Điều tra xã hội học xác định Chỉ số cải cách hành chính năm 2025 — đợt 1 (Bộ Nội vụ)"
    assert Titled(title=f"  {title} \n").title == title  # blanks at the ends are only trimmed
    assert single_line_problem(title) is None


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200))
def test_whatever_is_accepted_splits_into_one_line(text):
    # The mailer's header check (str.splitlines, as the email package does) never meets what passed.
    assert single_line_problem(text) is None
    assert len(f"x{text}x".splitlines()) == 1


def test_what_was_stored_before_the_rule_still_reads():
    # A campaign kept with a title on two lines: its submissions must not all become 500s.
    from chassis.text import STORED
    from services.forms.domain.campaigns import Campaign

    kept = (
        '{"campaign_id": "c1", "form_code": "1/HC-TB", "title": "Điều tra\\ncơ sở", "scope_unit_ids": ["20"],'
        ' "opens_on": "2021-03-01", "closes_on": "2021-04-30"}'
    )
    assert Campaign.model_validate_json(kept, context=STORED).title == "Điều tra\ncơ sở"
    with pytest.raises(ValidationError):
        Campaign.model_validate_json(kept)
