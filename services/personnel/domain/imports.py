"""A unit's records imported from a sheet (CSV or Excel): every row is checked before anything is
stored, and one bad row rejects the sheet with a report of every bad row. Each row opens one
record with the definition's import process. Plain Python: no I/O.

Columns are named by a field's code (`ho_ten`…) or its label (`Họ và tên`), case aside; the
document and effective date by the names in DOCUMENT_COLUMNS."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.auth import Principal
from chassis.errors import DomainError
from chassis.sheets import row_number

from .definitions import FieldDef, ProcessDef, RecordDefinition, date_from_cell, value_from_cell
from .model import Document, EntryInvalid, Record

MAX_REPORTED = 1000
DOCUMENT_COLUMNS = {
    "document.number": ("so_van_ban", "số văn bản"),
    "document.date": ("ngay_van_ban", "ngày văn bản", "ngày ban hành"),
    "document.issuer": ("co_quan_ban_hanh", "cơ quan ban hành"),
    "effective_on": ("ngay_hieu_luc", "ngày hiệu lực", "ngày có hiệu lực"),
}


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


class ImportRejected(DomainError):
    code = "import_rejected"

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"Tệp có {len(errors)} lỗi; chưa có hồ sơ nào được lưu")
        self.errors = errors
        self.details = {
            "errors": [{"row": e.row, "field": e.field, "message": e.message} for e in errors[:MAX_REPORTED]],
            "total": len(errors),
        }


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name.strip().lower())


def columns(definition: RecordDefinition, process: ProcessDef) -> dict[str, str]:
    """Each accepted column name (lower case) and what it fills: a field's code, or one of
    DOCUMENT_COLUMNS' keys."""
    names: dict[str, str] = {}
    for s in process.sets:
        f = definition.by_code[s.field]
        names[_key(f.code)] = names[_key(f.label)] = f.code
    for target, aliases in DOCUMENT_COLUMNS.items():
        for alias in aliases:
            names[_key(alias)] = target
    return names


def template_header(definition: RecordDefinition, process: ProcessDef) -> list[str]:
    """The header of an empty sheet to fill: each field's label, then the document's columns."""
    return [definition.by_code[s.field].label for s in process.sets] + [
        aliases[1][:1].upper() + aliases[1][1:] for aliases in DOCUMENT_COLUMNS.values()
    ]


def plan_import(
    definition: RecordDefinition,
    process_code: str,
    unit_id: str,
    rows: list[dict[str, str]],
    by: Principal,
    now: datetime,
) -> list[tuple[int, Record]]:
    """The records the sheet opens, each with its row number; or ImportRejected with every problem."""
    errors: list[RowError] = []
    try:
        process = definition.process(process_code)
    except KeyError:
        raise ImportRejected([RowError(0, "process", f"Không có quy trình '{process_code}'")]) from None
    if not process.opens or definition.subject != "person":
        raise ImportRejected([RowError(0, "process", f"'{process.title}' không dùng để nhập hồ sơ theo tệp")])
    if not rows:
        raise ImportRejected([RowError(0, "", "Tệp không có dòng dữ liệu nào")])
    accepted = columns(definition, process)
    header = [k for k in rows[0] if not k.startswith("#")]
    for name in header:
        if name and _key(name) not in accepted:
            errors.append(RowError(1, name, f"Cột '{name}' không có trong {definition.title}"))
    given = {accepted[_key(n)] for n in header if _key(n) in accepted}
    for s in process.sets:
        if s.required and s.field not in given:
            errors.append(RowError(1, s.field, f"Thiếu cột '{definition.by_code[s.field].label}'"))
    if errors:
        raise ImportRejected(errors)

    planned: list[tuple[int, Record]] = []
    seen: dict[tuple[str, Any], int] = {}
    unique = [f for f in definition.fields if f.unique]
    for index, row in enumerate(rows, start=2):
        number = row_number(row, index)
        values: dict[str, Any] = {}
        document: dict[str, str] = {}
        effective_on: str | None = None
        bad = False
        for name, text in row.items():
            target = accepted.get(_key(name))
            if target is None or not text.strip():
                continue
            if target == "effective_on" or target == "document.date":
                day = date_from_cell(text)
                if day is None:
                    errors.append(RowError(number, target, f"'{text}' không phải ngày (ngày/tháng/năm)"))
                    bad = True
                elif target == "effective_on":
                    effective_on = day
                else:
                    document["date"] = day
            elif target.startswith("document."):
                document[target.removeprefix("document.")] = text.strip()
            else:
                value, problem = value_from_cell(definition, definition.by_code[target], text)
                if problem:
                    errors.append(RowError(number, target, problem))
                    bad = True
                values[target] = value
        if bad:
            continue
        doc = _document(document, number, errors)
        if doc is False:
            continue
        try:
            record = Record.open(
                definition,
                unit_id=unit_id,
                process=process.code,
                document=doc if isinstance(doc, Document) else None,
                effective_on=effective_on or now.date().isoformat(),
                values=values,
                by=by,
                now=now,
                imported=True,
            )
        except EntryInvalid as invalid:
            errors += [RowError(number, p.field, p.message) for p in invalid.problems]
            continue
        if _duplicate(unique, values, number, seen, errors):
            continue
        planned.append((number, record))
    if errors:
        raise ImportRejected(errors)
    return planned


def _document(parts: dict[str, str], row: int, errors: list[RowError]) -> Document | None | bool:
    if not parts:
        return None
    missing = [k for k in ("number", "date", "issuer") if not parts.get(k)]
    for k in missing:
        errors.append(RowError(row, f"document.{k}", "Văn bản phải có đủ số, ngày ban hành và cơ quan ban hành"))
    return False if missing else Document(parts["number"], parts["date"], parts["issuer"])


def _duplicate(
    unique: list[FieldDef], values: dict[str, Any], row: int, seen: dict[tuple[str, Any], int], errors: list[RowError]
) -> bool:
    found = False
    for f in unique:
        value = values.get(f.code)
        if value is None:
            continue
        if (f.code, value) in seen:
            errors.append(RowError(row, f.code, f"{f.label} trùng với dòng {seen[(f.code, value)]}"))
            found = True
        else:
            seen[(f.code, value)] = row
    return found
