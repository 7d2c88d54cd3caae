"""Sheets: the whole Lạng Sơn scope imported and issued in one sheet each, and a bad sheet
rejected row by row with nothing stored."""

import io
import uuid

import pytest
from openpyxl import Workbook, load_workbook

from deploy.lang_son import account_rows, to_csv, unit_rows
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows):
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_whole_lang_son_scope_in_one_sheet_each(client, admin, mongo_url):
    tag = uuid.uuid4().hex[:6]
    client.new_unit(admin, "root", f"ls{tag}", "Tỉnh Lạng Sơn (thử)", "province")
    units = unit_rows(province_code=f"ls{tag}")
    imported = client.accounts.post(
        "/units/import", content=xlsx(units), headers={**admin, "Content-Type": XLSX}, timeout=300
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 556  # 11 districts, 60 provincial units, 485 district units

    sheet = account_rows(units)
    assert len(sheet) == 545
    issued = client.accounts.post(
        "/accounts/import", content=to_csv(sheet), headers={**admin, "Content-Type": "text/csv"}, timeout=300
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["issued"] == 545

    download = client.accounts.get(issued.json()["credentials"], headers=admin)
    assert download.status_code == 200
    assert download.headers["content-type"] == XLSX
    rows = list(load_workbook(io.BytesIO(download.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("Tên đăng nhập", "Mật khẩu ban đầu", "Vai trò", "Mã đơn vị", "Tên đơn vị")
    assert len(rows) == 546
    again = client.accounts.get(issued.json()["credentials"], headers=admin)
    assert again.status_code == 409  # once only

    # A unit from the sheet signs in with its issued password, must change it, and is known to the
    # other services (its unit arrived there by event).
    username, password = rows[100][0], rows[100][1]
    auth = client.login(username, password)
    me = client.accounts.get("/me", headers=auth).json()
    from tests.e2e.test_flow import submit

    response = submit(client, auth, me["unit_id"], campaign=f"ls-{tag}")
    assert response.status_code == 201
    sid = response.json()["submission_id"]
    assert eventually(lambda: client.forms.get(f"/submissions/{sid}", headers=admin).status_code == 200)


def test_bad_sheet_is_rejected_row_by_row_and_nothing_is_stored(client, admin, district):
    tag = uuid.uuid4().hex[:6]
    d = district["district"]["code"]
    other = client.new_unit(admin, "root", f"X{tag}", "Tỉnh khác", "province")
    district_admin = client.new_account(admin, district["district"]["unit_id"], f"qt.{tag}", "district_admin")
    auth = client.login(district_admin["username"], district_admin["initial_password"])
    rows = [
        {"code": f"ok-{tag}", "name": "Xã hợp lệ", "level": "commune", "parent_code": d},  # row 2: fine
        {"code": f"ok-{tag}", "name": "Trùng mã", "level": "commune", "parent_code": d},  # 3: duplicate
        {"code": f"np-{tag}", "name": "Không có cấp trên", "level": "commune", "parent_code": "nope"},  # 4
        {"code": f"c1-{tag}", "name": "Vòng 1", "level": "agency", "parent_code": f"c2-{tag}"},  # 5: cycle
        {"code": f"c2-{tag}", "name": "Vòng 2", "level": "agency", "parent_code": f"c1-{tag}"},  # 6: cycle
        {"code": f"lv-{tag}", "name": "Sai cấp", "level": "province", "parent_code": d},  # 7: level
        {"code": f"os-{tag}", "name": "Ngoài phạm vi", "level": "district", "parent_code": other["code"]},  # 8
        {"code": "", "name": "Thiếu mã", "level": "commune", "parent_code": d},  # 9
    ]
    response = client.accounts.post("/units/import", content=to_csv(rows), headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "import_rejected"
    assert error["message"] == f"Tệp có {len(error['errors'])} lỗi; chưa có dòng nào được lưu"
    by_row = {}
    for e in error["errors"]:
        by_row.setdefault(e["row"], []).append((e["field"], e["message"]))
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8, 9]  # both rows of the cycle
    assert "lặp lại ở dòng 2" in by_row[3][0][1]
    assert by_row[4][0] == ("parent_code", "Không có đơn vị cấp trên mã 'nope'")
    assert "vòng" in by_row[5][0][1]
    assert by_row[8][0] == ("parent_code", "Đơn vị cấp trên nằm ngoài phạm vi quản trị của bạn")
    assert by_row[9][0] == ("code", "Thiếu thông tin bắt buộc")

    # Nothing was stored: the one good row imports on its own now, under the same code.
    fixed = client.accounts.post(
        "/units/import", content=to_csv(rows[:1]), headers={**auth, "Content-Type": "text/csv"}
    )
    assert fixed.status_code == 201 and fixed.json()["created"] == 1

    # Accounts: an unknown unit, a bad e-mail, a role the issuer may not give, a taken name.
    accounts = [
        {
            "username": f"a.{tag}",
            "unit_code": f"ok-{tag}",
            "role": "reporting_unit",
            "display_name": "A",
            "email": "a@example.vn",
        },
        {"username": f"b.{tag}", "unit_code": "nope", "role": "reporting_unit", "display_name": "B", "email": ""},
        {
            "username": f"c.{tag}",
            "unit_code": f"ok-{tag}",
            "role": "reporting_unit",
            "display_name": "C",
            "email": "not-an-address",
        },
        {"username": f"d.{tag}", "unit_code": d, "role": "district_admin", "display_name": "D", "email": ""},
        {
            "username": district["account_a"]["username"],
            "unit_code": f"ok-{tag}",
            "role": "reporting_unit",
            "display_name": "E",
            "email": "",
        },
    ]
    response = client.accounts.post("/accounts/import", content=xlsx(accounts), headers={**auth, "Content-Type": XLSX})
    assert response.status_code == 422
    fields = {e["row"]: e["field"] for e in response.json()["error"]["errors"]}
    assert fields == {3: "unit_code", 4: "email", 5: "role", 6: "username"}
    assert client.accounts.post("/auth/token", json={"username": f"a.{tag}", "password": "x"}).status_code == 401


def test_unreadable_sheets(client, admin):
    for body, content_type in (
        (b"", "text/csv"),
        (b"PK\x03\x04garbage", XLSX),
        ("mã,tên\n".encode("utf-16"), "text/csv"),
    ):
        response = client.accounts.post("/units/import", content=body, headers={**admin, "Content-Type": content_type})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "unreadable_sheet"
