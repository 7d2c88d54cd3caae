"""Two versions of a form definition side by side: each section's fields in both, and what changed
(added, removed, changed: which of their properties), and the rules added or removed. Only how
the definitions read; forms keeps and checks them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"
LABELS = {
    ADDED: ("Mới", "govuk-tag--green"),
    REMOVED: ("Bỏ", "govuk-tag--red"),
    CHANGED: ("Thay đổi", "govuk-tag--yellow"),
    SAME: ("Giữ nguyên", "govuk-tag--grey"),
}
# The properties of a field people read, in the order they read them.
PROPERTIES = {
    "label": "Nội dung",
    "type": "Kiểu",
    "unit": "Đơn vị tính",
    "required": "Bắt buộc",
    "required_when": "Bắt buộc khi",
    "min": "Nhỏ nhất",
    "max": "Lớn nhất",
    "max_length": "Dài tối đa",
    "choices": "Lựa chọn",
    "code_list": "Bảng mã",
    "code_level": "Cấp mã",
}
TYPES = {
    "integer": "số nguyên",
    "number": "số",
    "text": "chữ",
    "boolean": "có/không",
    "choice": "chọn một",
    "code": "mã",
}
DEFAULTS = {"required": False, "max_length": 2000}


@dataclass
class FieldRow:
    code: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    change: str
    changed: list[str] = field(default_factory=list)  # the properties' names (PROPERTIES' words)


@dataclass
class SectionRows:
    code: str
    title: str
    change: str
    fields: list[FieldRow]


@dataclass
class Comparison:
    sections: list[SectionRows]
    rules_added: list[dict[str, Any]]
    rules_removed: list[dict[str, Any]]
    counts: dict[str, int]
    title_changed: bool


def _plain(f: dict[str, Any]) -> dict[str, Any]:
    """A field's properties as stored, defaults dropped, so that an omitted default is no change."""
    return {k: v for k, v in f.items() if k != "code" and v is not None and DEFAULTS.get(k, object()) != v}


def describe(f: dict[str, Any]) -> str:
    """A field's properties in a line a person reads (its label apart)."""
    parts = [TYPES.get(f.get("type", ""), f.get("type", ""))]
    if f.get("unit"):
        parts.append(f"đơn vị tính {f['unit']}")
    if f.get("required"):
        parts.append("bắt buộc")
    if f.get("required_when"):
        parts.append(f"bắt buộc khi {f['required_when']['field']} = {f['required_when']['equals']}")
    if f.get("min") is not None:
        parts.append(f"≥ {f['min']:g}")
    if f.get("max") is not None:
        parts.append(f"≤ {f['max']:g}")
    if f.get("type") == "text" and f.get("max_length", 2000) != 2000:
        parts.append(f"tối đa {f['max_length']} ký tự")
    if f.get("choices"):
        parts.append("lựa chọn: " + ", ".join(str(c) for c in f["choices"]))
    if f.get("code_list"):
        parts.append(f"bảng mã {f['code_list']}" + (f" cấp {f['code_level']}" if f.get("code_level") else ""))
    return "; ".join(parts)


def _rule_key(rule: dict[str, Any]) -> str:
    return repr(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in rule.items()))


def compare(before: dict[str, Any], after: dict[str, Any]) -> Comparison:
    old = {f["code"]: f for s in before["sections"] for f in s["fields"]}
    new = {f["code"]: f for s in after["sections"] for f in s["fields"]}
    counts = {ADDED: 0, REMOVED: 0, CHANGED: 0, SAME: 0}
    sections: list[SectionRows] = []
    old_sections = {s["code"]: s for s in before["sections"]}
    seen: set[str] = set()

    def row(code: str) -> FieldRow:
        a, b = old.get(code), new.get(code)
        if a is None:
            change, changed = ADDED, list[str]()
        elif b is None:
            change, changed = REMOVED, []
        else:
            pa, pb = _plain(a), _plain(b)
            changed = [PROPERTIES.get(k, k) for k in dict.fromkeys([*PROPERTIES, *pa, *pb]) if pa.get(k) != pb.get(k)]
            change = CHANGED if changed else SAME
        counts[change] += 1
        return FieldRow(code, a, b, change, changed)

    for s in after["sections"]:
        codes = [f["code"] for f in s["fields"]]
        earlier = old_sections.get(s["code"])
        # Fields the section had before and lost, right after the fields it keeps.
        codes += [f["code"] for f in (earlier or {}).get("fields", []) if f["code"] not in new]
        seen.update(codes)
        rows = [row(c) for c in codes]
        status = (
            ADDED
            if earlier is None
            else (CHANGED if any(r.change != SAME for r in rows) or earlier["title"] != s["title"] else SAME)
        )
        sections.append(SectionRows(s["code"], s["title"], status, rows))
    for s in before["sections"]:
        if s["code"] not in {x["code"] for x in after["sections"]}:
            rows = [row(f["code"]) for f in s["fields"] if f["code"] not in seen]
            sections.append(SectionRows(s["code"], s["title"], REMOVED, rows))
    old_rules = {_rule_key(r): r for r in before.get("rules", [])}
    new_rules = {_rule_key(r): r for r in after.get("rules", [])}
    return Comparison(
        sections=sections,
        rules_added=[r for k, r in new_rules.items() if k not in old_rules],
        rules_removed=[r for k, r in old_rules.items() if k not in new_rules],
        counts=counts,
        title_changed=before["title"] != after["title"],
    )
