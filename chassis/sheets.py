"""Reading and writing the sheets administrators exchange: CSV (UTF-8, with or without BOM) and
Excel (.xlsx). Rows come out as dicts keyed by the header's column names, lower-cased, in Unicode's
composed form (a sheet typed with decomposed Vietnamese diacritics reads the same)."""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

from chassis.errors import DomainError
from openpyxl import Workbook, load_workbook

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 50_000
ROW = "#row"


class UnreadableSheet(DomainError):
    code = "unreadable_sheet"


def read_rows(data: bytes) -> list[dict[str, str]]:
    """Rows of the first sheet of an .xlsx, or of a CSV; numbered from 2 as a spreadsheet shows them."""
    if not data.strip():
        raise UnreadableSheet("Tệp rỗng")
    rows = _xlsx_rows(data) if data[:2] == b"PK" else _csv_rows(data)
    if not rows:
        raise UnreadableSheet("Tệp không có dòng tiêu đề")
    header = [unicodedata.normalize("NFC", str(h or "").strip().lower()) for h in rows[0]]
    # Blank rows are skipped, but every row keeps its number in the sheet (ROW) for error reports.
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(str(c or "").strip() for c in r)]
    if len(body) > MAX_ROWS:
        raise UnreadableSheet(f"Tệp có hơn {MAX_ROWS} dòng")
    return [{ROW: str(n)} | {h: unicodedata.normalize("NFC", str(r[i] if i < len(r) and r[i] is not None else "")
                                                  .strip()) for i, h in enumerate(header) if h}
            for n, r in body]


def row_number(row: dict[str, str], fallback: int) -> int:
    return int(row.get(ROW, fallback))


def _csv_rows(data: bytes) -> list[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableSheet("Tệp CSV phải mã hóa UTF-8") from exc
    return list(csv.reader(io.StringIO(text)))


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise UnreadableSheet("Không đọc được tệp Excel (.xlsx)") from exc
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def write_xlsx(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
