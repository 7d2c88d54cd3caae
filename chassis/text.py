"""Text that people type: which characters it may hold. Control characters have no place in a
name, an answer or a reason; stored, they break every spreadsheet export that meets them (Excel's
XML cannot hold them) and mislead whoever reads them. Checked once here, for every service's
input (`Input`, the base of request models, and the `SingleLine` / `MultiLine` field types).

`SingleLine` is for text that must stay on one line: names, titles that become e-mail subjects,
names of links. A line break in an e-mail header cannot be sent (and would let one header forge
another), so it is refused where it is typed, not found later by the mailer. Only where text comes
in: a model read back from the store is validated with `context=STORED`, so that what was kept
before the rule existed still reads (the mailer refuses such a title on its own, for that delivery).

Plain Python and pydantic: no I/O."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

SINGLE_LINE_ERROR = "single_line"
SINGLE_LINE_MESSAGE = "Chỉ được viết trên một dòng: không xuống dòng, không dùng ký tự điều khiển (như Tab)"
STORED = {"stored": True}  # validation context for what is read back, not typed in

# C0 controls, DEL, C1 controls, lone surrogates (JSON can carry them; the store cannot) and the two
# non-characters. Tab, line feed and carriage return are a multi-line text's own; see `MultiLine`.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")


def forbidden_character(value: str, *, multiline: bool) -> str | None:
    """The first character `value` may not hold, if any."""
    if found := _FORBIDDEN.search(value):
        return found.group()
    if not multiline and (found := _LINE_BREAKS.search(value)):
        return found.group()
    return None


def text_problem(value: str, *, multiline: bool) -> str | None:
    """Why `value` is refused, in Vietnamese, or None."""
    char = forbidden_character(value, multiline=multiline)
    if char is None:
        return None
    if char in "\t\n\r\u2028\u2029":
        return "Không được xuống dòng hay chứa dấu tab ở đây"
    return f"Có ký tự điều khiển không được phép (U+{ord(char):04X}); hãy gõ lại hoặc xóa ký tự đó"


def _check(value: str, *, multiline: bool) -> str:
    if problem := text_problem(value, multiline=multiline):
        raise PydanticCustomError("control_character", problem)
    return value


def single_line_problem(value: str) -> str | None:
    """Why `value` cannot be one line of text (in English, for logs and delivery records), or None:
    a line break of any kind `str.splitlines()` knows (CR, LF, VT, FF, FS, GS, RS, NEL, U+2028,
    U+2029), any other control character (tab included), a lone surrogate."""
    for char in value:
        category = unicodedata.category(char)
        if len(f"a{char}b".splitlines()) > 1 or category in ("Zl", "Zp"):
            return f"line break U+{ord(char):04X}"
        if category in ("Cc", "Cs"):
            return f"control character U+{ord(char):04X}"
    return None


def _single_line(value: str, info: ValidationInfo) -> str:
    if single_line_problem(value) and not (info.context or {}).get("stored"):
        raise PydanticCustomError(SINGLE_LINE_ERROR, SINGLE_LINE_MESSAGE)
    return _check(value, multiline=True)  # what no text may hold (non-characters) besides


def _multi_line(value: str) -> str:
    return _check(value, multiline=True)


# A name, a title, a code: one line. A reason, a notice's body, an answer: line breaks allowed.
SingleLine = Annotated[str, AfterValidator(_single_line)]
MultiLine = Annotated[str, AfterValidator(_multi_line)]


def check_nested(value: Any) -> Any:
    """Every string inside `value` (dicts and lists too) checked as multi-line text."""
    if isinstance(value, str):
        _multi_line(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_nested(key)
            check_nested(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_nested(item)
    return value


class Input(BaseModel):
    """The base of every request body: unknown fields refused, text stripped, and no control
    character in any string, however deep (answers are a dict of strings). Fields that must stay
    on one line say so with `SingleLine`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return check_nested(value)
