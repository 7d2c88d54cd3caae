"""Text that must stay on one line: titles that become e-mail subjects, names of links. A line
break in an e-mail header cannot be sent (the `email` package refuses it, and it would let one
header forge another), so such text is refused where it is typed, with a message a person can act
on, rather than found later by the mailer.

`title: SingleLine = Field(min_length=1, max_length=300)` in a pydantic model: a line break of any
kind (those `str.splitlines()` knows: CR, LF, VT, FF, FS, GS, RS, NEL, U+2028, U+2029), any
other control character (tab included) and lone surrogates are refused. Only where text comes in:
a model read back from the store is validated with `context=STORED`, so that what was kept before
the rule existed still reads (the mailer refuses such a title on its own, for that delivery only)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

ERROR_TYPE = "single_line"
MESSAGE = "Chỉ được viết trên một dòng: không xuống dòng, không dùng ký tự điều khiển (như Tab)"
STORED = {"stored": True}  # validation context for what is read back, not typed in


def single_line_problem(value: str) -> str | None:
    """Why `value` cannot be a one-line text (in English, for logs and delivery records), or None."""
    for char in value:
        category = unicodedata.category(char)
        if len(f"a{char}b".splitlines()) > 1 or category in ("Zl", "Zp"):
            return f"line break U+{ord(char):04X}"
        if category in ("Cc", "Cs"):
            return f"control character U+{ord(char):04X}"
    return None


def _check(value: str, info: ValidationInfo) -> str:
    if single_line_problem(value) and not (info.context or {}).get("stored"):
        raise PydanticCustomError(ERROR_TYPE, MESSAGE)
    return value


SingleLine = Annotated[str, AfterValidator(_check)]
