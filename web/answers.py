"""A form's answers between the page and forms: typed from what was posted (a value that does
not parse is passed on as typed, for forms' rule engine to name), and written back into inputs.
No rule lives here: forms checks every answer (one rule engine, docs/decisions/0011-web-front.md)."""

from __future__ import annotations

import re
from typing import Any

THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")


def typed(field: dict[str, Any], text: str) -> Any:
    text = text.strip()
    kind = field["type"]
    if kind in ("integer", "number"):
        plain = text.replace(" ", "").replace("\u00a0", "")
        if "," in plain:  # Vietnamese: dots between thousands, a comma before the decimals
            plain = plain.replace(".", "").replace(",", ".")
        elif THOUSANDS.match(plain):
            plain = plain.replace(".", "")
        try:
            return int(plain) if kind == "integer" else _number(float(plain))
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _number(x: float) -> int | float:
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def shown(field: dict[str, Any], value: Any) -> str:
    """What an input shows for a stored answer: 1234.5 as "1234,5"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)).replace(".", ",")
    return str(value)


def from_form(section: dict[str, Any], form: dict[str, str]) -> tuple[dict[str, Any], set[str]]:
    """The section's answers as posted: (answers given, fields left blank)."""
    answers, blank = {}, set()
    for f in section["fields"]:
        text = form.get(f["code"], "")
        if text.strip():
            answers[f["code"]] = typed(f, text)
        else:
            blank.add(f["code"])
    return answers, blank


def section_applies(section: dict[str, Any], answers: dict[str, Any]) -> bool:
    when = section.get("only_when")
    return when is None or answers.get(when["field"]) == when["equals"]


def section_state(section: dict[str, Any], answers: dict[str, Any]) -> tuple[str, str, int, int]:
    """(label, tag class, answered, total) for the task list."""
    if not section_applies(section, answers):
        return "Không phải kê khai", "govuk-tag--grey", 0, 0
    codes = [f["code"] for f in section["fields"]]
    answered = sum(1 for c in codes if answers.get(c) not in (None, ""))
    required = [f["code"] for f in section["fields"] if f.get("required")]
    if answered == 0:
        return "Chưa điền", "govuk-tag--grey", answered, len(codes)
    if all(answers.get(c) not in (None, "") for c in required):
        return "Đã điền", "govuk-tag--green", answered, len(codes)
    return "Đang điền", "govuk-tag--light-blue", answered, len(codes)
