"""The PAR Index survey's respondent list of a province (seed 002), drafted from the records rather
than typed anew: the provincial People's Council delegates, the leaders of the provincial
departments, the leaders of their divisions, the chairs and vice-chairs of the district People's
Committees. The province checks it, adds each person's e-mail address and sends it with forms'
list import (the columns and group names are forms'). Plain Python: no I/O."""

from __future__ import annotations

from typing import Any

from .search import fold

HEADER = ["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"]
DELEGATES = "Đại biểu Hội đồng nhân dân cấp tỉnh"
DEPARTMENT_LEADERS = "Lãnh đạo cấp sở"
DIVISION_LEADERS = "Lãnh đạo phòng chuyên môn thuộc sở"
DISTRICT_LEADERS = "Lãnh đạo Ủy ban nhân dân cấp huyện"
# Posts of the `official` definition's list, by the group they put a person in.
DEPARTMENT_POSTS = {"GD-SO", "PGD-SO", "CVP", "PCVP", "CTTR", "PCTTR", "TRB", "PTRB"}
DIVISION_POSTS = {"TP", "PTP"}
DISTRICT_POSTS = {"CT-UBND", "PCT-UBND"}


def group_of(kind: str, fields: dict[str, Any], unit: dict[str, Any], parent: dict[str, Any] | None) -> str | None:
    """The group a record's holder belongs to, or None. `unit`: the record's unit; `parent`: its
    parent (a province's department hangs under the province, a district's office under the
    district)."""
    if kind == "council_delegate":
        return DELEGATES if fields.get("council_level") == "Tỉnh" else None
    if kind != "official":
        return None
    position = fields.get("position")
    under_province = parent is not None and parent.get("level") == "province" and unit.get("level") == "agency"
    if under_province and position in DEPARTMENT_POSTS:
        return DEPARTMENT_LEADERS
    if under_province and position in DIVISION_POSTS:
        return DIVISION_LEADERS
    in_district = unit.get("level") == "district" or (parent is not None and parent.get("level") == "district")
    if in_district and position in DISTRICT_POSTS:
        return DISTRICT_LEADERS
    return None


def draft(people: list[tuple[str, str | None, str, str, str]]) -> list[list[str]]:
    """Rows from (name, date of birth, group, position, organisation): one person (the same name
    and date of birth) in two records is listed once, as a delegate if one of them says so (the rule
    forms applies to a list too); by group, then name."""
    order = [DELEGATES, DEPARTMENT_LEADERS, DIVISION_LEADERS, DISTRICT_LEADERS]
    kept: dict[tuple[str, str | None], tuple[str, str | None, str, str, str]] = {}
    for person in people:
        key = (fold(person[0]), person[1])
        if key not in kept or (person[2] == DELEGATES and kept[key][2] != DELEGATES):
            kept[key] = person
    rows = sorted(kept.values(), key=lambda p: (order.index(p[2]), fold(p[0])))
    return [[name, "", group, position, organisation] for name, _, group, position, organisation in rows]
