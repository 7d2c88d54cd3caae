"""Control characters are refused in text input, with a Vietnamese message (issue 11, item 7)."""

import pytest
from pydantic import ValidationError

from chassis.text import Input, MultiLine, SingleLine, text_problem
from services.forms.domain.definitions import FieldDef, FormDefinition, Section


class Body(Input):
    name: SingleLine
    reason: MultiLine = ""
    answers: dict[str, str | int | None] = {}


@pytest.mark.parametrize("bad", ["A\u000bB", "\x00", "x\x1b[31m", "\x7f", "x\x85y"])
def test_control_characters_are_refused_everywhere_in_a_body(bad):
    # A one-line field says "one line" (its message names control characters too); others say which.
    for body, kind in (
        ({"name": bad}, "single_line"),
        ({"name": "A", "reason": bad}, "control_character"),
        ({"name": "A", "answers": {"Q1": bad}}, "control_character"),
    ):
        with pytest.raises(ValidationError) as refused:
            Body.model_validate(body)
        error = refused.value.errors()[0]
        assert error["type"] == kind and "ký tự điều khiển" in error["msg"]


def test_line_breaks_belong_to_multi_line_text_only():
    assert Body.model_validate({"name": "A", "reason": "dòng 1\r\ndòng 2\tx", "answers": {"Q": "a\nb"}})
    with pytest.raises(ValidationError) as refused:
        Body.model_validate({"name": "Sở Nội vụ\nTỉnh X"})
    assert refused.value.errors()[0]["type"] == "single_line"


def test_vietnamese_text_is_untouched():
    text = "Nguyễn Thị Ánh — Phòng Tổ chức cán bộ, “Sở Nội vụ” ₫ 😀"
    assert text_problem(text, multiline=False) is None
    assert Body.model_validate({"name": text}).name == text


def test_answers_that_bypass_pydantic_are_checked_by_the_form():
    form = FormDefinition(
        form_code="T",
        version=1,
        title="T",
        sections=[
            Section(
                code="A",
                title="A",
                fields=[
                    FieldDef(code="Q1", label="Ý kiến", type="text"),
                    FieldDef(code="Q2", label="Mã", type="code", code_list="vsic2018", code_level=1),
                ],
            )
        ],
    )
    errors = form.check({"Q1": "tốt\u000b"}, complete=False)
    assert [(e.field, e.message.split(":")[0]) for e in errors] == [("Q1", "Ý kiến")]
    assert "U+000B" in errors[0].message
    assert form.check({"Q1": "dòng 1\ndòng 2"}, complete=False) == []
