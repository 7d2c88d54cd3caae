"""Two versions of a form side by side: what the Ministry's page says changed (web/compare.py)."""

import json
from pathlib import Path

from web.compare import ADDED, CHANGED, REMOVED, SAME, compare, describe

DEFINITIONS = Path(__file__).resolve().parents[2] / "services" / "forms" / "definitions"


def load(name: str) -> dict:
    return json.loads((DEFINITIONS / name).read_text(encoding="utf-8"))


def test_version_2_of_form_1_hc_tb_against_version_1():
    result = compare(load("1-HC-TB.v1.json"), load("1-HC-TB.v2.json"))
    rows = {r.code: r for s in result.sections for r in s.fields}
    assert result.counts == {ADDED: 2, REMOVED: 0, CHANGED: 3, SAME: 32}
    assert rows["A1.6"].change == ADDED and rows["A4.1.ma"].change == ADDED
    assert rows["A4.2.1.ma"].change == CHANGED
    assert rows["A4.2.1.ma"].changed == ["Kiểu", "Dài tối đa", "Bảng mã"]
    assert "bảng mã vcpa2018" in describe(rows["A4.2.1.ma"].after)
    assert not result.rules_added and not result.rules_removed and not result.title_changed


def test_a_field_and_a_section_dropped_and_a_rule_replaced():
    before = {
        "title": "A",
        "sections": [
            {
                "code": "S1",
                "title": "Một",
                "fields": [
                    {"code": "x", "label": "X", "type": "integer", "required": True},
                    {"code": "y", "label": "Y", "type": "integer"},
                ],
            },
            {"code": "S2", "title": "Hai", "fields": [{"code": "z", "label": "Z", "type": "text"}]},
        ],
        "rules": [{"kind": "not_greater", "field": "y", "than": "x", "message": "y ≤ x"}],
    }
    after = {
        "title": "B",
        "sections": [
            {
                "code": "S1",
                "title": "Một",
                "fields": [{"code": "x", "label": "X", "type": "integer", "required": True, "max_length": 2000}],
            }
        ],
        "rules": [{"kind": "sum", "total": "x", "parts": ["x"], "message": "x = x"}],
    }
    result = compare(before, after)
    rows = {r.code: (r.change, section.code, section.change) for section in result.sections for r in section.fields}
    # A default written out is no change; a field the section lost shows beside those it keeps.
    assert rows == {"x": (SAME, "S1", CHANGED), "y": (REMOVED, "S1", CHANGED), "z": (REMOVED, "S2", REMOVED)}
    assert [r["message"] for r in result.rules_added] == ["x = x"]
    assert [r["message"] for r in result.rules_removed] == ["y ≤ x"]
    assert result.title_changed
