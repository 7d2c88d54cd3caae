"""The sheets administrators exchange, read and written in one place: CSV (UTF-8, with or without
BOM) and Excel (.xlsx).

Reading: rows come out as dicts keyed by the header's column names, lower-cased, in Unicode's
composed form (a sheet typed with decomposed Vietnamese diacritics reads the same). A sheet is
hostile input: only the cells present are read (an .xlsx's declared dimension is never trusted),
reading stops at the row and column caps, an .xlsx's parts are bounded before they are inflated
(a zip bomb is refused unread), its XML may not declare entities, and every failure is an
`UnreadableSheet` (422), never a crash. Parsing is CPU work: `chassis.sheet_http` runs it off the
event loop.

Writing: `write_csv` / `csv_stream` and `write_xlsx` / `xlsx_stream` for every export of every
service. Each cell is made safe for spreadsheet programs: text that a spreadsheet would take for
a formula (=, +, -, @, tab, carriage return first) is neutralised (OWASP's advice: a leading
single quote in CSV; a text cell that Excel keeps as text in .xlsx), and characters an .xlsx
cannot hold are replaced, so one odd answer stored long ago cannot break a national export.
See docs/decisions/0009-uploads-and-exports.md."""

from __future__ import annotations

import csv
import io
import math
import posixpath
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from datetime import date, datetime, time
from typing import IO, Any

from defusedxml.ElementTree import iterparse

from chassis.errors import DomainError
from chassis.text import forbidden_character

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
ROW = "#row"

MAX_ROWS = 50_000  # data rows, the header not counted
MAX_COLUMNS = 64
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
# An .xlsx is a zip: what its parts would inflate to is bounded before anything is inflated.
MAX_XLSX_PARTS = 2_000
MAX_XLSX_INFLATED = 24 * 1024 * 1024  # the parts read (workbook, relations, shared strings, sheet)
# Elements of the sheet, blank or not: what parsing costs is bounded by what is there to parse.
MAX_ROW_ELEMENTS = MAX_ROWS + 1_000
MAX_CELL_ELEMENTS = 1_000_000


class UnreadableSheet(DomainError):
    code = "unreadable_sheet"


# reading --------------------------------------------------------------------------------------
def read_rows(data: bytes) -> list[dict[str, str]]:
    """Rows of the first sheet of an .xlsx, or of a CSV, each with its number in the sheet (ROW).
    The header is the first row that is not blank; blank rows are skipped."""
    if not data.strip():
        raise UnreadableSheet("Tệp rỗng")
    rows = _xlsx_rows(data) if data[:2] == b"PK" else _csv_rows(data)
    header: list[str] | None = None
    body: list[dict[str, str]] = []
    problems: list[dict[str, Any]] = []
    for number, cells in rows:
        values = [_clean_input(c) for c in cells]
        if not any(values):
            continue
        if header is None:
            header = [unicodedata.normalize("NFC", v.lower()) for v in values]
            _check_cells(number, header, header, problems)
            continue
        if len(body) >= MAX_ROWS:
            raise UnreadableSheet(f"Tệp có hơn {MAX_ROWS} dòng dữ liệu; hãy chia thành nhiều tệp", code="too_many_rows")
        _check_cells(number, values, header, problems)
        body.append(
            {ROW: str(number)}
            | {h: unicodedata.normalize("NFC", values[i] if i < len(values) else "") for i, h in enumerate(header) if h}
        )
    if problems:
        error = UnreadableSheet(f"Tệp có {len(problems)} ô không đọc được; chưa có dòng nào được lưu")
        error.details = {"errors": problems[:100]}
        raise error
    if header is None:
        raise UnreadableSheet("Tệp không có dòng tiêu đề")
    return body


def row_number(row: dict[str, str], fallback: int) -> int:
    return int(row.get(ROW, fallback))


def _clean_input(value: Any) -> str:
    # A line break or tab typed inside a cell (Alt+Enter) reads as a space: every column of an
    # imported sheet is one line (a name, a code, an address). Other control characters stay, to
    # be refused with the cell's place.
    return _BREAKS.sub(" ", str(value)).strip() if value is not None else ""


_BREAKS = re.compile(r"[ ]*[\t\r\n]+[ ]*")


def _check_cells(number: int, values: list[str], header: list[str], problems: list[dict[str, Any]]) -> None:
    for i, value in enumerate(values):
        column = (header[i] if i < len(header) and header[i] else None) or _column_letter(i)
        if len(value) > MAX_CELL_CHARS:
            problems.append({"row": number, "field": column, "message": f"Ô dài quá {MAX_CELL_CHARS} ký tự"})
        elif (char := forbidden_character(value, multiline=False)) is not None:
            problems.append(
                {"row": number, "field": column, "message": f"Có ký tự điều khiển không được phép (U+{ord(char):04X})"}
            )


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _too_wide(number: int, column: int) -> UnreadableSheet:
    return UnreadableSheet(
        f"Dòng {number} có dữ liệu ở cột thứ {column}; tệp chỉ được có tối đa {MAX_COLUMNS} cột",
        code="too_many_columns",
    )


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableSheet("Tệp CSV phải mã hóa UTF-8") from exc
    # newline="": the csv module then reads \r\n, \n and \r alike, also inside quoted fields.
    reader = csv.reader(io.StringIO(text, newline=""))
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UnreadableSheet(
                f"Tệp CSV sai định dạng ở dòng {number + 1}: kiểm tra dấu ngoặc kép và dấu phân cách",
                code="malformed_csv",
            ) from exc
        number += 1
        if number > MAX_ROWS + 100 and any(c.strip() for c in cells):
            raise UnreadableSheet(f"Tệp có hơn {MAX_ROWS} dòng dữ liệu; hãy chia thành nhiều tệp", code="too_many_rows")
        if len(cells) > MAX_COLUMNS:
            if any(c.strip() for c in cells[MAX_COLUMNS:]):
                raise _too_wide(number, len(cells))
            cells = cells[:MAX_COLUMNS]
        yield number, cells


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")  # how OOXML writes a character XML cannot hold


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """Rows present in the first worksheet, as (row number, cells). Only the cells present are
    read: gaps are not filled, and the <dimension> the file declares is ignored."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception as exc:  # noqa: BLE001 - a corrupted directory fails in many ways
        raise UnreadableSheet("Không đọc được tệp Excel (.xlsx)") from exc
    if len(infos) > MAX_XLSX_PARTS:
        raise UnreadableSheet("Tệp Excel có quá nhiều thành phần", code="sheet_too_large")
    sizes = {i.filename: i.file_size for i in infos}
    budget = [MAX_XLSX_INFLATED]

    def part(name: str) -> IO[bytes]:
        if name not in sizes:
            raise UnreadableSheet("Không đọc được tệp Excel (.xlsx): thiếu thành phần " + name)
        # zipfile inflates no more than the size the entry declares (and checks its CRC), so
        # bounding the declared size bounds the work.
        budget[0] -= sizes[name]
        if budget[0] < 0:
            raise UnreadableSheet("Tệp Excel giải nén ra quá lớn", code="sheet_too_large")
        return archive.open(name)

    try:
        sheet_path = _first_sheet(part)
        strings = _shared_strings(part, sizes)
        yield from _sheet_rows(part(sheet_path), strings)
    except UnreadableSheet:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file can fail in many ways; all are the file's fault
        raise UnreadableSheet("Không đọc được tệp Excel (.xlsx)") from exc
    finally:
        archive.close()


def _elements(source: IO[bytes], *tags: str) -> Iterator[Any]:
    """The elements of `tags` as each ends, each dropped from the tree once the caller is done
    with it, so a sheet is never held whole (entities and DTDs are refused by defusedxml)."""
    open_elements: list[Any] = []
    with source:
        for event, element in iterparse(source, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                open_elements.append(element)
                continue
            open_elements.pop()
            if element.tag in tags:
                yield element
                if open_elements:
                    open_elements[-1].remove(element)


def _relations(part: Any, name: str) -> dict[str, str]:
    return {r.get("Id"): r.get("Target", "") for r in _elements(part(name), _REL + "Relationship")}


def _first_sheet(part: Any) -> str:
    root = _relations(part, "_rels/.rels")
    workbook = next((t for t in root.values() if t.lstrip("/").endswith("workbook.xml")), "xl/workbook.xml")
    workbook = workbook.lstrip("/")
    folder = posixpath.dirname(workbook)
    targets = _relations(part, posixpath.join(folder, "_rels", posixpath.basename(workbook) + ".rels"))
    for sheet in _elements(part(workbook), _MAIN + "sheet"):
        target = targets.get(sheet.get(_DOC_REL + "id"), "")
        return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
    raise UnreadableSheet("Tệp Excel không có trang tính nào")


def _text(element: Any) -> str:
    """An <si> or <is>: its plain text, or the runs of its rich text (phonetic runs left out)."""
    plain = element.find(_MAIN + "t")
    if plain is not None:
        return _unescape(plain.text or "")
    return "".join(_unescape(t.text or "") for r in element.findall(_MAIN + "r") for t in r.findall(_MAIN + "t"))


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _shared_strings(part: Any, sizes: dict[str, int]) -> list[str]:
    name = next((n for n in sizes if n.lower() == "xl/sharedstrings.xml"), None)
    if name is None:
        return []
    strings = []
    for si in _elements(part(name), _MAIN + "si"):
        strings.append(_text(si))
    return strings


def _sheet_rows(source: IO[bytes], strings: list[str]) -> Iterator[tuple[int, list[Any]]]:
    number = rows = cells_seen = 0
    for row in _elements(source, _MAIN + "row"):
        number = int(row.get("r") or number + 1)
        if number < 1:
            raise UnreadableSheet("Không đọc được tệp Excel (.xlsx): số dòng sai")
        rows += 1
        cells_seen += len(row)
        if rows > MAX_ROW_ELEMENTS or cells_seen > MAX_CELL_ELEMENTS:
            raise UnreadableSheet(
                f"Tệp có quá nhiều dòng hoặc ô (tối đa {MAX_ROWS} dòng dữ liệu)", code="too_many_rows"
            )
        cells: dict[int, Any] = {}
        column = 0
        for cell in row.iter(_MAIN + "c"):
            ref = _CELL_REF.match(cell.get("r") or "")
            column = _column_index(ref.group(1)) if ref else column + 1
            value = _cell_value(cell, strings)
            if value is None or value == "":
                continue
            if column > MAX_COLUMNS:
                raise _too_wide(number, column)
            cells[column] = value
        if not cells:
            continue
        if number > MAX_ROWS + 100:
            raise UnreadableSheet(f"Tệp có hơn {MAX_ROWS} dòng dữ liệu; hãy chia thành nhiều tệp", code="too_many_rows")
        yield number, [cells.get(c) for c in range(1, max(cells) + 1)]


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index


def _cell_value(cell: Any, strings: list[str]) -> Any:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(_MAIN + "is")
        return _text(inline) if inline is not None else None
    raw = cell.find(_MAIN + "v")
    if raw is None or raw.text is None:
        return None
    text = raw.text
    if kind == "s":
        return strings[int(text)]
    if kind == "b":
        return "TRUE" if text.strip() == "1" else "FALSE"
    if kind == "n":
        return _number(text)
    return _unescape(text)  # str (a formula's text), e (an error such as #N/A), d (an ISO date)


def _number(text: str) -> str:
    """A number as a person typed it: 1 rather than 1.0, so a code typed as a number reads the same."""
    try:
        value = float(text)
    except ValueError:
        return text
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# writing --------------------------------------------------------------------------------------
# What a spreadsheet program may take for the start of a formula (OWASP "CSV injection"), with the
# full-width forms some locales' Excel also accepts.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# What the XML of an .xlsx cannot hold (openpyxl raises IllegalCharacterError on these).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"


def safe_text(value: str) -> str:
    """Text with the characters no sheet can hold replaced by U+FFFD."""
    return _ILLEGAL.sub(REPLACEMENT, value)


def is_formula_like(value: str) -> bool:
    return value.startswith(_FORMULA_START)


def _plain(value: Any) -> Any:
    """A value a sheet can hold: text, a finite number, a date; anything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return value if math.isfinite(value) and abs(value) < 1e300 else str(value)
    if isinstance(value, datetime):
        return value.isoformat()  # Excel has no time zones: written as text, with its offset
    if isinstance(value, date | time):
        return value.isoformat()
    return safe_text(str(value))


def csv_cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def _csv_line(writer: Any, out: io.StringIO, row: Iterable[Any]) -> bytes:
    out.seek(0)
    out.truncate()
    writer.writerow([csv_cell(v) for v in row])
    return out.getvalue().encode()


def write_csv(header: list[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """A whole CSV: UTF-8 with a BOM (so that Excel reads Vietnamese right), every field quoted
    where it must be, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    parts = [b"\xef\xbb\xbf", _csv_line(writer, out, header)]
    parts += [_csv_line(writer, out, row) for row in rows]
    return b"".join(parts)


async def csv_stream(header: list[str], rows: AsyncIterable[Iterable[Any]]) -> AsyncIterator[bytes]:
    """The same, written as the rows are read."""
    out = io.StringIO()
    writer = csv.writer(out)
    yield b"\xef\xbb\xbf" + _csv_line(writer, out, header)
    async for row in rows:
        yield _csv_line(writer, out, row)


class _Book:
    """A write-only workbook whose every text cell is a text cell (never a formula)."""

    def __init__(self) -> None:
        # Imported here: openpyxl is a quarter of a second of every service's start, and most
        # processes (replicas, tests' platforms) never write a workbook.
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)

    def sheet(self, title: str) -> Any:
        return self.book.create_sheet(safe_text(title)[:31] or "Sheet")

    def append(self, sheet: Any, row: Iterable[Any]) -> None:
        sheet.append([self._cell(sheet, v) for v in row])

    @staticmethod
    def _cell(sheet: Any, value: Any) -> Any:
        value = _plain(value)
        if not isinstance(value, str) or not is_formula_like(value):
            return value  # openpyxl writes any other text as a string cell
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value)
        # openpyxl takes a leading "=" for a formula: stored as a string, it stays text, and the
        # quote prefix keeps it text when someone edits the cell in Excel.
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell

    def save(self, file: IO[bytes]) -> None:
        self.book.save(file)


def write_xlsx(
    title: str, header: list[str], rows: Iterable[Iterable[Any]], extra_sheets: dict[str, list[list[Any]]] | None = None
) -> bytes:
    """A whole .xlsx: the first sheet with its header and rows, then any extra sheets (a legend)."""
    book = _Book()
    sheet = book.sheet(title)
    book.append(sheet, header)
    for row in rows:
        book.append(sheet, row)
    for name, extra_rows in (extra_sheets or {}).items():
        other = book.sheet(name)
        for row in extra_rows:
            book.append(other, row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def xlsx_stream(title: str, header: list[str], rows: AsyncIterable[Iterable[Any]]) -> AsyncIterator[bytes]:
    """The same from rows read as they come: built in a temporary file, not in memory, then sent.
    The file is complete before its first byte goes out, so a failure is never a truncated file."""
    book = _Book()
    sheet = book.sheet(title)
    book.append(sheet, header)
    async for row in rows:
        book.append(sheet, row)
    with tempfile.TemporaryFile() as file:
        book.save(file)
        file.seek(0)
        while chunk := file.read(1 << 16):
            yield chunk
