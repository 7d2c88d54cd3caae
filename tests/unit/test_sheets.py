import io
import unicodedata

from openpyxl import Workbook

from chassis.sheets import read_rows, row_number
from services.forms.survey.domain import check_list, normalise_headers


def test_blank_rows_are_skipped_but_rows_keep_their_number_in_the_sheet():
    book = Workbook()
    for row in (["code", "name"], ["A", "Một"], [None, None], ["", " "], ["B", "Hai"]):
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    rows = read_rows(out.getvalue())
    assert [(row_number(r, 0), r["code"]) for r in rows] == [(2, "A"), (5, "B")]


def test_decomposed_vietnamese_reads_as_composed():
    decomposed = unicodedata.normalize(
        "NFD", "Họ và tên,Thư điện tử,Nhóm đối tượng\nNguyễn Văn A,a@x.vn,Lãnh đạo cấp sở\n\nB,bad,Lãnh đạo cấp sở\n"
    )
    rows = [normalise_headers(r) for r in read_rows(decomposed.encode())]
    checked = check_list("province", rows)
    assert [p.full_name for p in checked.respondents] == ["Nguyễn Văn A"]
    assert [(e.row, e.field) for e in checked.errors] == [(4, "email")]  # row 4 of the sheet: row 3 is blank


# Hostile sheets (issue 11, item 1): refused quickly, in bounded memory, as a 422 -----------------
import csv as _csv  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from openpyxl import load_workbook  # noqa: E402

from chassis.sheets import (  # noqa: E402
    MAX_COLUMNS,
    UnreadableSheet,
    write_csv,
    write_xlsx,
)
from tests.support import hostile_sheets  # noqa: E402


def _refused(data: bytes) -> UnreadableSheet:
    started, peak_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnreadableSheet) as refused:
        read_rows(data)
    assert time.perf_counter() - started < 5.0  # milliseconds when the machine is idle
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000  # KB: no blow-up
    return refused.value


def test_a_declared_dimension_of_a_million_rows_and_16384_columns_is_not_trusted():
    assert _refused(hostile_sheets.huge_dimension()).code == "too_many_columns"


def test_a_cell_a_million_rows_down_does_not_fill_the_gap():
    assert _refused(hostile_sheets.far_rows()).code == "too_many_rows"


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    assert _refused(hostile_sheets.zip_bomb()).code == "sheet_too_large"


def test_xml_entities_are_refused():
    assert _refused(hostile_sheets.entity_bomb()).code == "unreadable_sheet"


def test_only_the_cells_present_are_read_and_columns_up_to_the_cap_are_fine():
    book = Workbook()
    book.active.append([f"c{i}" for i in range(MAX_COLUMNS)])
    book.active["A5"] = "far"
    book.active.cell(row=5, column=MAX_COLUMNS, value=7)
    out = io.BytesIO()
    book.save(out)
    rows = read_rows(out.getvalue())
    assert len(rows) == 1 and rows[0]["#row"] == "5" and rows[0]["c0"] == "far"
    assert rows[0][f"c{MAX_COLUMNS - 1}"] == "7"
    book.active.cell(row=6, column=MAX_COLUMNS + 1, value="too far")
    out = io.BytesIO()
    book.save(out)
    assert _refused(out.getvalue()).code == "too_many_columns"


def test_numbers_read_as_typed_and_excel_escapes_are_undone():
    book = Workbook()
    book.active.append(["code", "n"])
    book.active.append([1, 2.5])
    out = io.BytesIO()
    book.save(out)
    assert read_rows(out.getvalue()) == [{"#row": "2", "code": "1", "n": "2.5"}]


# CSV (item 11): a bare carriage return is a line end or part of a quoted field, never a 500 --------
def test_bare_carriage_returns_read_as_line_ends_and_inside_quotes():
    rows = read_rows(b'name,unit\r"Nguy\xe1\xbb\x85n\rV\xc4\x83n A",X\r')
    assert rows == [{"#row": "2", "name": "Nguyễn Văn A", "unit": "X"}]


def test_malformed_csv_is_a_clear_error():
    with pytest.raises(UnreadableSheet) as refused:
        read_rows(b'a\n"' + b"x" * 200_000 + b'"\n')
    assert refused.value.code == "malformed_csv" and "dòng 2" in refused.value.message


def test_control_characters_in_cells_are_refused_with_their_place():
    with pytest.raises(UnreadableSheet) as refused:
        read_rows(b"name,unit\nA,B\nC\x0bD,E\n")
    assert refused.value.details == {
        "errors": [{"row": 3, "field": "name", "message": "Có ký tự điều khiển không được phép (U+000B)"}]
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_no_bytes_crash_the_reader(data):
    try:
        read_rows(data)
    except UnreadableSheet:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
def test_no_text_crashes_the_csv_reader(text):
    try:
        read_rows(text.encode())
    except UnreadableSheet:
        pass


_SAMPLE = io.BytesIO()
_book = Workbook()
for _r in (["code", "name"], ["A", "Một"], ["B", "Hai"]):
    _book.active.append(_r)
_book.save(_SAMPLE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_SAMPLE.getvalue()) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_no_corrupted_xlsx_crashes_the_reader(flips):
    data = bytearray(_SAMPLE.getvalue())
    for at, byte in flips:
        data[at] = byte
    try:
        read_rows(bytes(data))
    except UnreadableSheet:
        pass


# Writers (items 6, 7, 10) ------------------------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", "＝1"]


def test_csv_cells_that_look_like_formulas_are_neutralised():
    text = write_csv(["Tên"], [[f] for f in FORMULAS]).decode("utf-8-sig")
    rows = list(_csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in rows[1:]] == ["'" + f for f in FORMULAS]


def test_xlsx_cells_that_look_like_formulas_stay_text():
    book = load_workbook(io.BytesIO(write_xlsx("Phiếu", ["Tên", "Số"], [[f, -5] for f in FORMULAS])))
    cells = [c for row in book.active.iter_rows(min_row=2) for c in row]
    assert all(c.data_type != "f" for c in cells)
    # (XML reads a carriage return back as a line feed)
    assert [c.value for c in cells[::2]] == [f.replace("\r", "\n") for f in FORMULAS]
    assert all(c.quotePrefix for c in cells[::2])
    assert [c.value for c in cells[1::2]] == [-5] * len(FORMULAS)  # numbers stay numbers


def test_characters_an_xlsx_cannot_hold_are_replaced_not_fatal():
    book = load_workbook(io.BytesIO(write_xlsx("T", ["a"], [["x\x0by\x00z"], ["\ud800"]])))
    assert [r[0] for r in book.active.iter_rows(min_row=2, values_only=True)] == ["x\ufffdy\ufffdz", "\ufffd"]


def test_a_header_with_a_comma_round_trips_through_csv():
    header = ["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"]
    data = write_csv(header, [["A", "a@x.vn", "g", "p", "Sở Nội vụ, tỉnh X"]])
    assert read_rows(data) == [
        {
            "#row": "2",
            "họ và tên": "A",
            "thư điện tử": "a@x.vn",
            "nhóm đối tượng": "g",
            "chức vụ": "p",
            "cơ quan, đơn vị": "Sở Nội vụ, tỉnh X",
        }
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none()), min_size=1, max_size=6
    )
)
def test_no_cell_written_is_ever_a_formula_or_breaks_a_sheet(cells):
    book = load_workbook(io.BytesIO(write_xlsx("T", ["h"] * len(cells), [cells])))
    assert all(c.data_type != "f" for row in book.active.iter_rows() for c in row)
    for row in list(_csv.reader(io.StringIO(write_csv(["h"], [cells]).decode("utf-8-sig"), newline="")))[1:]:
        texts = [v for v, c in zip(row, cells, strict=True) if isinstance(c, str)]
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in texts)
