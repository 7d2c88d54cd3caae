"""Sheets an attacker would upload, made byte by byte (no spreadsheet library writes them)."""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def _sheet(dimension: str, rows: str, prolog: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        + prolog
        + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'
    )


def _row(n: int, *cells: tuple[str, str]) -> str:
    inner = "".join(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells)
    return f'<row r="{n}">{inner}</row>'


def xlsx(sheet_xml: str, *, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def huge_dimension(header: tuple[str, ...] = ("code", "name", "level", "parent_code")) -> bytes:
    """A few KB that claim A1:XFD1048576, with a cell in the last column and one in the last row:
    a reader that trusts the dimension (or fills the gaps) pads 17 billion cells."""
    letters = [chr(65 + i) for i in range(len(header))]
    rows = _row(1, *((f"{c}1", h) for c, h in zip(letters, header, strict=True)))
    rows += _row(2, ("A2", "x"), ("XFD2", "y"))
    rows += _row(1048576, ("A1048576", "z"))
    return xlsx(_sheet("A1:XFD1048576", rows))


def far_rows() -> bytes:
    """Valid columns, but one cell a million rows down: gaps must not be filled."""
    return xlsx(_sheet("A1:XFD1048576", _row(1, ("A1", "code")) + _row(1048576, ("A1048576", "z"))))


def zip_bomb(inflated_mb: int = 100) -> bytes:
    """A sheet whose XML inflates to `inflated_mb` MB of blank rows from a few hundred KB."""
    filler = "<row/>" * (inflated_mb * 1024 * 1024 // 6)
    return xlsx(_sheet("A1:A1", _row(1, ("A1", "code")) + filler))


def entity_bomb() -> bytes:
    """Billion laughs in the sheet's XML."""
    prolog = (
        '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]>"
    )
    return xlsx(_sheet("A1:A1", _row(1, ("A1", "&i;")), prolog))


def blank_rows(inflated_mb: int = 40) -> bytes:
    """Under the inflated-size cap, but millions of empty rows: costly to parse, nothing to read."""
    return zip_bomb(inflated_mb)


def dense(rows: int = 21_000, columns: int = 20) -> bytes:
    """Nothing wrong but its bulk: under 1 MB zipped, some 12 MB of XML and 400,000 cells, every
    one to be read (seconds of CPU)."""
    letters = [chr(65 + i) for i in range(columns)]
    body = "".join(
        f'<row r="{n}">' + "".join(f'<c r="{c}{n}"><v>{n}</v></c>' for c in letters) + "</row>"
        for n in range(1, rows + 1)
    )
    return xlsx(_sheet(f"A1:{letters[-1]}{rows}", body))
