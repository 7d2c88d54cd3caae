import io
import unicodedata

from chassis.sheets import read_rows, row_number
from openpyxl import Workbook
from services.forms.domain.surveys import check_list, normalise_headers


def test_blank_rows_are_skipped_but_rows_keep_their_number_in_the_sheet():
    book = Workbook()
    for row in (["code", "name"], ["A", "Một"], [None, None], ["", " "], ["B", "Hai"]):
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    rows = read_rows(out.getvalue())
    assert [(row_number(r, 0), r["code"]) for r in rows] == [(2, "A"), (5, "B")]


def test_decomposed_vietnamese_reads_as_composed():
    decomposed = unicodedata.normalize("NFD", "Họ và tên,Thư điện tử,Nhóm đối tượng\n"
                                              "Nguyễn Văn A,a@x.vn,Lãnh đạo cấp sở\n\nB,bad,Lãnh đạo cấp sở\n")
    rows = [normalise_headers(r) for r in read_rows(decomposed.encode())]
    checked = check_list("province", rows)
    assert [p.full_name for p in checked.respondents] == ["Nguyễn Văn A"]
    assert [(e.row, e.field) for e in checked.errors] == [(4, "email")]  # row 4 of the sheet: row 3 is blank
