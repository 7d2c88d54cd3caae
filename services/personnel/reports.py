"""What personnel reads across an area: search, the late changes, the units' scores, the autumn
review sheet and the export. Scope is the caller's unit and everything under it: the records'
`lineage` holds every ancestor of their unit, so one indexed equality finds a subtree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from chassis.clock import VIETNAM
from chassis.tree import UnitDirectory

from .domain import par_lists
from .domain.definitions import RecordDefinition
from .domain.model import ACTIVE
from .domain.scores import Figures, is_stale, total
from .domain.search import words
from .store import RecordStore, Sealed

LEVELS_VI = {"central": "Trung ương", "province": "Tỉnh", "district": "Huyện", "commune": "Xã", "agency": "Cơ quan"}
COUNT_CAP = 1_000  # beyond this a search says "more than", rather than count a province's records


def day_start(day: date) -> datetime:
    """Midnight in Vietnam, as a UTC moment (what the store compares)."""
    return datetime.combine(day, time(), VIETNAM).astimezone(UTC)


def search_query(
    area: str,
    kind: str,
    definition: RecordDefinition,
    sealed: Sealed,
    *,
    q: str | None,
    birth_date: date | None,
    position: str | None,
    status: str | None,
) -> dict[str, Any]:
    """Records of the kind in the area matching every criterion given. A name matches when each
    word typed is a word of it, diacritics aside; the last word may be the start of one."""
    query: dict[str, Any] = {"lineage": area, "kind": kind}
    if status != "all":
        query["status"] = status or ACTIVE
    typed = words(q or "")
    if typed:
        query["search.prefixes"] = typed[-1]
        if len(typed) > 1:
            query["search.words"] = {"$all": typed[:-1]}
    if birth_date is not None:
        query["search.birth"] = sealed.hash(definition.search.birth_date or "", birth_date.isoformat())
    if position:
        query["search.position"] = position
    return query


async def members(tree: UnitDirectory, area: str) -> dict[str, dict[str, Any]]:
    """The area's unit and every unit under it."""
    unit = await tree.get(area)
    found = {area: unit} if unit else {}
    found |= {u["_id"]: u async for u in tree.units.find({"path": area})}
    return found


async def scores(
    store: RecordStore, tree: UnitDirectory, *, area: str, kind: str, start: date, end: date, as_of: date
) -> dict[str, Any]:
    """Each unit's figures in the area, the sub-areas' (the area's children with what is under them)
    and the area's total. Records: the active ones each unit holds now, as of `as_of`. Changes: those
    counted by the 5-working-day rule entered from `start` to `end` (both included), each counted
    for the unit that entered it."""
    units = await members(tree, area)
    figures: dict[str, Figures] = {uid: Figures() for uid in units}
    async for doc in store.records.find(
        {"lineage": area, "kind": kind, "status": ACTIVE}, {"unit_id": 1, "completeness": 1, "last_change_at": 1}
    ):
        figures.setdefault(doc["unit_id"], Figures()).add_record(
            doc["completeness"]["filled"], doc["completeness"]["required"], is_stale(doc.get("last_change_at"), as_of)
        )
    period = {"$gte": day_start(start), "$lt": day_start(end + timedelta(days=1))}
    async for change in store.changes(
        {"lineage": area, "record_kind": kind, "entered_at": period}, {"unit_id": 1, "on_time": 1}
    ):
        figures.setdefault(change["unit_id"], Figures()).add_change(change["on_time"])
    rows = [{**_unit(uid, units.get(uid)), **figures[uid].view()} for uid in figures]
    rows.sort(key=lambda r: (r["code"], r["unit_id"]))
    children = [u for u in units.values() if u and u.get("parent_id") == area]
    sub_areas = []
    for child in sorted(children, key=lambda u: u["code"]):
        inside = [figures[uid] for uid, u in units.items() if u and (uid == child["_id"] or child["_id"] in u["path"])]
        sub_areas.append({**_unit(child["_id"], child), **total(inside).view()})
    return {
        "area": {**_unit(area, units.get(area)), **total(figures.values()).view()},
        "period": {"from": start.isoformat(), "to": end.isoformat(), "as_of": as_of.isoformat()},
        "units": rows,
        "sub_areas": sub_areas,
    }


def _unit(unit_id: str, unit: dict[str, Any] | None) -> dict[str, Any]:
    unit = unit or {}
    return {
        "unit_id": unit_id,
        "code": unit.get("code", ""),
        "name": unit.get("name", unit_id),
        "level": unit.get("level", ""),
    }


async def late_changes(
    store: RecordStore,
    tree: UnitDirectory,
    *,
    viewer_unit: str,
    area: str,
    start: date,
    end: date,
    skip: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """The changes entered after the 5 working days, newest first, each with its unit and document;
    the record's name where the record is still in the viewer's scope."""
    query = {
        "lineage": area,
        "on_time": False,
        "entered_at": {"$gte": day_start(start), "$lt": day_start(end + timedelta(days=1))},
    }
    count = await store.store["changes"].count_documents(query)
    found = [c async for c in store.changes(query).sort([("entered_at", -1), ("_id", 1)]).skip(skip).limit(limit)]
    units = {u["_id"]: u async for u in tree.units.find({"_id": {"$in": list({c["unit_id"] for c in found})}})}
    names: dict[str, str | None] = {}
    for doc in [
        d
        async for d in store.records.find(
            {"_id": {"$in": list({c["record_id"] for c in found})}, "lineage": viewer_unit}, {"fields": 1, "kind": 1}
        )
    ]:
        names[doc["_id"]] = _name(await store.sealed(doc["kind"]), doc)
    rows = [
        {
            "entry_id": c["_id"],
            "record_id": c["record_id"],
            "record_kind": c["record_kind"],
            "full_name": names.get(c["record_id"]),
            **_unit(c["unit_id"], units.get(c["unit_id"])),
            "process": c["process"],
            "document": c.get("document"),
            "effective_on": c.get("effective_on"),
            "entered_at": c["entered_at"],
            "working_days": c["working_days"],
        }
        for c in found
    ]
    return rows, count


def _name(sealed: Sealed, doc: dict[str, Any]) -> str | None:
    key = sealed.search.name
    return (doc.get("fields") or {}).get(key) if key else None


async def export_rows(
    store: RecordStore,
    tree: UnitDirectory,
    definition: RecordDefinition,
    sealed: Sealed,
    *,
    area: str,
    kind: str,
    personal_data: bool,
) -> AsyncIterator[list[Any]]:
    """Each record of the kind in the area as one row: its unit, status, when it last changed and
    its current fields (the protected ones only when asked for, and then logged)."""
    units = await members(tree, area)
    columns = [f for f in definition.fields if personal_data or not f.protected]
    cursor = store.records.find({"lineage": area, "kind": kind}, {"entries": 0, "moves": 0, "lists": 0}).sort(
        [("search.name", 1), ("_id", 1)]
    )
    async for doc in cursor:
        unit = units.get(doc["unit_id"]) or {}
        values = sealed.open(doc["_id"], doc.get("fields") or {}) if personal_data else doc.get("fields") or {}
        yield [
            doc["_id"],
            unit.get("code", ""),
            unit.get("name", ""),
            definition.statuses.get(doc.get("status") or "", doc.get("status") or ""),
            doc.get("last_change_at"),
            *(_cell(definition, f.code, values.get(f.code)) for f in columns),
        ]


def export_header(definition: RecordDefinition, personal_data: bool) -> list[str]:
    return [
        "Mã hồ sơ",
        "Mã đơn vị",
        "Tên đơn vị",
        "Trạng thái",
        "Cập nhật lần cuối",
        *(f.label for f in definition.fields if personal_data or not f.protected),
    ]


def _cell(definition: RecordDefinition, code: str, value: Any) -> Any:
    field = definition.by_code.get(code)
    if field is not None and field.type == "code" and value is not None:
        names = {e.code: e.name for e in definition.code_lists[field.code_list or ""].entries}
        return f"{value} - {names.get(value, '')}"
    if isinstance(value, bool):
        return "Có" if value else "Không"
    return value


AUTUMN_HEADER = [
    "Mã đơn vị",
    "Tên đơn vị",
    "Cấp",
    "Hồ sơ đang quản lý",
    "Biên chế được giao",
    "Biến động phải cập nhật",
    "Cập nhật đúng hạn",
    "Cập nhật trễ hạn",
    "Tỷ lệ đúng hạn (%)",
    "Mức độ đầy đủ thông tin (%)",
    "Hồ sơ đầy đủ",
    "Hồ sơ quá 1 năm chưa cập nhật",
    "Tỷ lệ chưa cập nhật (%)",
    "Điểm",
]


async def staffing_quotas(store: RecordStore, area: str) -> dict[str, int]:
    """Each unit's staffing quota, from its organisation and staffing record, where it has one."""
    return {
        doc["unit_id"]: doc["fields"]["staffing_quota"]
        async for doc in store.records.find(
            {"lineage": area, "kind": "unit_staffing", "status": ACTIVE}, {"unit_id": 1, "fields": 1}
        )
        if isinstance((doc.get("fields") or {}).get("staffing_quota"), int)
    }


def autumn_rows(view: dict[str, Any], quotas: dict[str, int], rows: list[dict[str, Any]]) -> list[list[Any]]:
    def line(r: dict[str, Any]) -> list[Any]:
        return [
            r["code"],
            r["name"],
            LEVELS_VI.get(r["level"], r["level"]),
            r["records"],
            quotas.get(r["unit_id"], ""),
            r["changes"],
            r["on_time"],
            r["late"],
            _blank(r["on_time_rate"]),
            _blank(r["completeness"]),
            r["complete_records"],
            r["stale_records"],
            _blank(r["stale_rate"]),
            _blank(r["score"]),
        ]

    total_row = line({**view["area"], "code": view["area"]["code"], "name": f"Tổng cộng: {view['area']['name']}"})
    total_row[4] = sum(quotas.values()) if quotas else ""
    return [line(r) for r in rows] + [total_row]


def _blank(value: Any) -> Any:
    return "" if value is None else value


async def par_respondents(store: RecordStore, tree: UnitDirectory, area: str) -> list[list[str]]:
    """The PAR Index list's rows drafted from the area's active officials and council delegates."""
    units = await members(tree, area)
    positions: dict[str, str] = {}
    people: list[tuple[str, str | None, str, str, str]] = []
    query = {"lineage": area, "kind": {"$in": ["official", "council_delegate"]}, "status": ACTIVE}
    async for doc in store.records.find(query, {"entries": 0, "moves": 0, "lists": 0}):
        unit = units.get(doc["unit_id"]) or {}
        group = par_lists.group_of(doc["kind"], doc.get("fields") or {}, unit, units.get(unit.get("parent_id") or ""))
        if group is None:
            continue
        sealed = await store.sealed(doc["kind"])
        fields = sealed.open(doc["_id"], doc.get("fields") or {})
        if not positions:
            definition = await store.definitions.latest("official")
            if definition is not None:
                positions = {e.code: e.name for e in definition.code_lists["positions"].entries}
        post = fields.get("position") or fields.get("council_post") or ""
        people.append(
            (
                fields.get("full_name", ""),
                fields.get("birth_date"),
                group,
                positions.get(post, "Đại biểu" if doc["kind"] == "council_delegate" else post),
                unit.get("name", "") if group != par_lists.DELEGATES else "",
            )
        )
    return par_lists.draft(people)
