"""Administrators in headless Chromium (issue 15, group 1), axe-core on every page: a province's
administrator brings a district in from sheets (every bad row shown before anything is stored),
downloads the initial passwords once, resets one account and finds that in the audit trail; and
keeps the tree and the accounts: a unit registered, renamed, moved and retired with reasons; an
account issued, its role changed, units assigned from the tree, unlocked and revoked."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.test_web_unit import first_sign_in
from tests.support.platform import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    if path.suffix == ".csv":
        path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    else:
        book = Workbook()
        book.active.append(header)
        for row in rows:
            book.active.append(row)
        book.save(path)
    return path


def downloads(web, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    web.d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def downloaded(folder: Path, suffix: str, before: set[str] = frozenset()) -> Path:
    """The file the browser finished downloading into `folder` (not one of `before`)."""

    def done():
        found = [p for p in folder.iterdir() if p.name.endswith(suffix) and p.name not in before]
        return found[0] if found and found[0].stat().st_size > 0 else None

    return eventually(done, timeout=20)


def upload(web, input_id: str, path: Path, button: str) -> None:
    web.by_id(input_id).send_keys(str(path))
    web.press(button)


@pytest.fixture
def province_admin(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"LS{t}", f"Tỉnh Lạng Sơn {t}", "province")
    person = client.new_account(
        admin, P["unit_id"], f"ls.tinh.quantri.{t}", "province_admin", f"quantri.{t}@langson.gov.vn"
    )
    return {"t": t, "P": P, "admin": person}


def test_a_province_administrator_brings_in_a_district_from_sheets_and_resets_an_account(
    web, client, province_admin, tmp_path
):
    t, P = province_admin["t"], province_admin["P"]
    first_sign_in(web, province_admin["admin"])
    api = client.login(
        province_admin["admin"]["username"], province_admin["admin"]["initial_password"] + "-Moi2026", activate=False
    )
    folder = tmp_path / "downloads"
    downloads(web, folder)
    web.press("to-sheets")
    assert web.h1() == "Nhập đơn vị và tài khoản từ tệp"

    # The template, then a units sheet with a bad row: every bad row shown, nothing stored.
    web.by_id("template-don-vi").click()
    template = load_workbook(downloaded(folder, ".xlsx"))
    assert [c.value for c in template.worksheets[0][1]] == ["code", "name", "level", "parent_code"]
    header = ["code", "name", "level", "parent_code"]
    district = [f"CL{t}", "Huyện Cao Lộc", "district", P["code"]]
    communes = [[f"CL{t}-{i}", f"Xã Cao Lộc {i}", "commune", f"CL{t}"] for i in (1, 2, 3)]
    bad = sheet(
        tmp_path / "don-vi-sai.csv",
        header,
        [district, *communes, [f"CL{t}-1", "Trùng mã", "commune", f"CL{t}"], [f"X{t}", "Sai cấp", "tinh", f"CL{t}"]],
    )
    upload(web, "f-sheet-don-vi", bad, "check-don-vi")
    assert "Tệp có 2 lỗi; chưa có dòng nào được lưu" in web.text("error-summary")
    errors = web.text("row-errors")
    assert "lặp lại ở dòng 3" in errors and "Cấp đơn vị phải là một trong" in errors
    web.shot("8-nhap-tep-loi")
    assert client.accounts.get("/units", params={"q": f"CL{t}"}, headers=api).json()["total"] == 0

    good = sheet(tmp_path / "don-vi.xlsx", header, [district, *communes])
    upload(web, "f-sheet-don-vi", good, "check-don-vi")
    assert "không có dòng nào sai" in web.text("summary")
    assert "Xã Cao Lộc 3" in web.text("preview")
    assert client.accounts.get("/units", params={"q": f"CL{t}"}, headers=api).json()["total"] == 0
    web.shot("8-nhap-tep-kiem-tra")
    web.press("store")
    assert "Đã lưu 4 đơn vị" in web.text("done")

    # The district's accounts: a bad role first, then the sheet that issues them.
    header = ["username", "unit_code", "role", "display_name", "email"]
    people = [
        [f"gs.cl.{t}", f"CL{t}", "district_supervisor", "Giám sát viên Cao Lộc", f"gs.cl.{t}@langson.gov.vn"],
        *[[f"dv.cl{i}.{t}", f"CL{t}-{i}", "reporting_unit", f"Xã Cao Lộc {i}", ""] for i in (1, 2, 3)],
    ]
    upload(
        web,
        "f-sheet-tai-khoan",
        sheet(tmp_path / "tk-sai.csv", header, [*people, [f"qt.cl.{t}", f"CL{t}", "quan_tri", "Sai vai trò", ""]]),
        "check-tai-khoan",
    )
    assert "Tệp có 1 lỗi" in web.text("error-summary") and "Vai trò không hợp lệ" in web.text("row-errors")
    upload(web, "f-sheet-tai-khoan", sheet(tmp_path / "tai-khoan.xlsx", header, people), "check-tai-khoan")
    assert web.text("store") == "Cấp 4 tài khoản"
    web.press("store")
    assert "Đã cấp 4 tài khoản" in web.h1()
    assert "chỉ tải về được một lần" in web.text("once")
    web.shot("8-mat-khau-mot-lan")
    before = {p.name for p in folder.iterdir()}
    web.by_id("download-passwords").click()
    passwords = list(load_workbook(downloaded(folder, ".xlsx", before)).active.iter_rows(values_only=True))
    assert passwords[0][:2] == ("Tên đăng nhập", "Mật khẩu ban đầu") and len(passwords) == 5
    initial = {row[0]: row[1] for row in passwords[1:]}
    time.sleep(1.1)  # GOV.UK's double-click guard lets the same button through after a second
    web.press("download-passwords")
    assert "chỉ tải được một lần và đã được tải" in web.text("gone")
    assert "chỉ tải về được một lần" in web.text("once")

    # One commune's holder lost its password: find the account, reset it with a reason.
    web.open("/quan-tri/tai-khoan")
    web.fill({"f-q": f"dv.cl2.{t}"})
    web.press("filter")
    assert "1 tài khoản" in web.text("total")
    web.shot("8-tai-khoan")
    link = web.d.find_element(By.LINK_TEXT, f"dv.cl2.{t}")
    old = web.d.find_element(By.TAG_NAME, "html")
    link.click()
    web.wait_new_page(old)
    web.axe()
    web.press("reset")
    web.press("save")  # without a reason: refused, nothing done
    assert "Ghi lý do" in web.text("error-summary")
    web.fill({"f-reason": "Đơn vị báo mất mật khẩu (công văn 12/UBND)"})
    web.press("save")
    fresh = web.text("password")
    assert fresh and fresh != initial[f"dv.cl2.{t}"]
    assert "chỉ hiện một lần" in web.text("once")
    assert client.accounts.post("/auth/token", json={"username": f"dv.cl2.{t}", "password": fresh}).status_code == 200
    assert (
        client.accounts.post(
            "/auth/token", json={"username": f"dv.cl2.{t}", "password": initial[f"dv.cl2.{t}"]}
        ).status_code
        == 401
    )

    # The audit trail: the reset, by whom, on whom (ids and kinds only, decision 0016: the reason
    # stays in the account's own history).
    web.open("/quan-tri/nhat-ky")
    Select(web.by_id("f-viec")).select_by_value("password_reset")
    web.press("filter")
    entries = web.text("entries")
    assert f"dv.cl2.{t}" in entries and "Cấp lại mật khẩu" in entries
    assert "Đơn vị báo mất mật khẩu" not in entries
    assert province_admin["admin"]["username"] in entries and "1 mục" in web.text("total")
    web.shot("8-nhat-ky")
    web.open("/quan-tri/nhat-ky?viec=accounts_imported")
    assert "Cấp tài khoản từ tệp" in web.text("entries")


@pytest.fixture
def kept_area(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"kP{t}", f"Tỉnh Giữ Cây {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"kD1{t}", f"Huyện Một {t}", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"kD2{t}", f"Huyện Hai {t}", "district")
    a = client.new_unit(admin, D1["unit_id"], f"ka{t}", f"Xã An {t}", "commune")
    b = client.new_unit(admin, D1["unit_id"], f"kb{t}", f"Xã Bình {t}", "commune")
    people = {
        "admin": client.new_account(admin, P["unit_id"], f"qt.{t}", "province_admin"),
        "sup": client.new_account(admin, D1["unit_id"], f"gs.{t}", "district_supervisor"),
        "b": client.new_account(admin, b["unit_id"], f"dvb.{t}", "reporting_unit"),
    }
    return {"t": t, "P": P, "D1": D1, "D2": D2, "a": a, "b": b, "people": people}


def click_link(web, text: str) -> None:
    link = web.d.find_element(By.LINK_TEXT, text)
    old = web.d.find_element(By.TAG_NAME, "html")
    link.click()
    web.wait_new_page(old)
    web.axe()


def test_an_administrator_keeps_the_tree_and_the_accounts(web, client, kept_area):
    from selenium.webdriver.common.keys import Keys

    x, t = kept_area, kept_area["t"]
    first_sign_in(web, x["people"]["admin"])
    web.open("/quan-tri/don-vi")
    assert web.h1() == x["P"]["name"]
    units = web.text("units")
    assert x["D1"]["name"] in units and x["D2"]["name"] in units and x["a"]["name"] not in units
    web.shot("8-cay-don-vi")
    web.open("/quan-tri/don-vi?q=xã")
    assert x["a"]["name"] in web.text("units") and "Kết quả tìm" in web.text("list-title")

    # Register a commune under the first district, rename it, move it, retire it: each with a reason.
    web.open(f"/quan-tri/don-vi/{x['D1']['unit_id']}/them")
    web.press("save")
    assert "Nhập mã đơn vị" in web.text("error-summary")
    web.fill({"f-code": f"kn{t}", "f-name": "Xã Mới Lập"})
    Select(web.by_id("f-level")).select_by_value("commune")
    web.press("save")
    assert "Đã thêm đơn vị" in web.text("done") and web.h1() == "Xã Mới Lập"
    new_unit = web.path().split("/")[3].split("?")[0]
    web.press("rename")
    web.fill({"f-name": "Xã Tân Lập", "f-reason": "Nghị quyết 15/NQ-HĐND"})
    web.press("save")
    assert web.h1() == "Xã Tân Lập" and "Nghị quyết 15/NQ-HĐND" in web.text("history")
    web.press("move")
    web.fill({"f-q": x["D2"]["code"]})
    web.press("find")
    web.by_id("f-parent_id").click()
    web.fill({"f-reason": "Điều chỉnh địa giới"})
    web.press("save")
    assert "Đã chuyển đơn vị" in web.text("done")
    moved = eventually(
        lambda: (
            (u := client.accounts.get(f"/units/{new_unit}", headers=client.admin_auth).json())["parent_id"]
            == x["D2"]["unit_id"]
            and u
        )
    )
    assert moved["name"] == "Xã Tân Lập"
    web.press("retire")
    web.press("save")
    assert "Ghi lý do" in web.text("error-summary")
    web.fill({"f-reason": "Sáp nhập theo Nghị quyết 1656/NQ-UBTVQH15"})
    web.press("save")
    assert "Đã giải thể, sáp nhập" in web.text("facts")
    web.shot("8-don-vi")

    # Issue an account for a commune; its initial password is shown once.
    web.open(f"/quan-tri/don-vi/{x['a']['unit_id']}")
    web.press("issue")
    web.fill({"f-username": f"dva.{t}", "f-display_name": "Xã An", "f-email": f"dva.{t}@example.vn"})
    Select(web.by_id("f-role")).select_by_value("reporting_unit")
    web.press("save")
    issued = web.text("password")
    assert web.text("username") == f"dva.{t}" and client.login(f"dva.{t}", issued)

    # The district supervisor: units assigned from the tree, then a new role.
    sup = x["people"]["sup"]
    web.open(f"/quan-tri/tai-khoan/{sup['account_id']}")
    web.press("assign")
    assert x["a"]["name"] in web.text("browse") and f"Trực thuộc {x['D1']['name']}" in web.text("browse")
    web.d.find_element(By.CSS_SELECTOR, f'#browse input[name="unit"][value="{x["b"]["unit_id"]}"]').click()
    web.shot("8-giao-don-vi")
    web.press("save")
    assert "Đã giao đơn vị" in web.text("done") and "1 đơn vị" in web.text("assigned")
    assert client.accounts.get(f"/accounts/{sup['account_id']}", headers=client.admin_auth).json()[
        "assigned_units"
    ] == [x["b"]["unit_id"]]
    web.press("change-role")
    Select(web.by_id("f-role")).select_by_value("district_admin")
    web.fill({"f-reason": "Phân công lại nhiệm vụ"})
    web.press("save")
    assert "Quản trị hệ thống cấp huyện" in web.text("role")

    # A unit locked by guesses from several addresses: found by the filter, unlocked with a new password.
    guessers = [client.accounts_from(f"127.0.0.{i}") for i in range(41, 51)]
    locked = x["people"]["b"]

    def guessed() -> bool:
        guessers[guessed.n % 10].post("/auth/token", json={"username": locked["username"], "password": "sai"})
        guessed.n += 1
        found = client.accounts.get(f"/accounts/{locked['account_id']}", headers=client.admin_auth).json()
        return found["failed_sign_ins"] >= 14  # refused for 16 s from any new address

    guessed.n = 0
    eventually(guessed, timeout=40)
    web.open("/quan-tri/tai-khoan?dang_nhap=khoa")
    assert locked["username"] in web.text("accounts") and "Bị khóa tạm" in web.text("accounts")
    # The unlock, by the keyboard alone.
    web.open(f"/quan-tri/tai-khoan/{locked['account_id']}")
    web.tab_to("unlock")
    web.key_press_loads(Keys.ENTER)
    web.tab_to("f-reason")
    web.keys("Đơn vị đề nghị mở khóa")
    web.tab_to("save")
    web.key_press_loads(Keys.ENTER)
    unlocked = web.text("password")
    assert (
        client.accounts_from("127.0.0.60")
        .post("/auth/token", json={"username": locked["username"], "password": unlocked})
        .status_code
        == 200
    )

    # Revoked: it signs in no more.
    web.open(f"/quan-tri/tai-khoan/{locked['account_id']}")
    web.press("revoke")
    web.fill({"f-reason": "Đơn vị đã sáp nhập"})
    web.press("save")
    assert "Đã thu hồi" in web.text("status")
    assert (
        client.accounts.post("/auth/token", json={"username": locked["username"], "password": unlocked}).status_code
        == 401
    )
    web.open(f"/quan-tri/nhat-ky?doi_tuong={locked['account_id']}")
    entries = web.text("entries")
    # Ids and kinds only in the trail (decision 0016): the reason is in the account's own history.
    assert "Thu hồi tài khoản" in entries and "Mở khóa tài khoản" in entries, entries
    assert "Tài khoản đã thu hồi" in entries  # its sign-in refused after

    # 360 px: no page scrolls sideways.
    web.d.set_window_size(360, 800)
    for path in (
        "/quan-tri/don-vi",
        "/quan-tri/tai-khoan",
        "/quan-tri/nhat-ky",
        "/quan-tri/nhap-tep",
        f"/quan-tri/tai-khoan/{sup['account_id']}",
    ):
        web.open(path)
        web.no_horizontal_scroll()
    web.shot("8-dien-thoai-360")


def test_every_new_form_refuses_a_post_without_its_token_and_pages_are_not_stored(platform, client, province_admin):
    import re

    import httpx

    person, P = province_admin["admin"], province_admin["P"]
    with httpx.Client(base_url=platform["web"].url) as http:
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', http.get("/dang-nhap").text).group(1)
        signed = http.post(
            "/dang-nhap",
            data={"username": person["username"], "csrf_token": token, "password": person["initial_password"]},
        )
        assert signed.status_code == 303
        changed = http.post(
            "/doi-mat-khau",
            data={
                "current_password": person["initial_password"],
                "new_password": person["initial_password"] + "-Moi2026",
                "confirm_password": person["initial_password"] + "-Moi2026",
                "csrf_token": token,
            },
        )
        assert changed.status_code == 303
        page = http.get("/quan-tri/tai-khoan")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        posts = {
            f"/quan-tri/don-vi/{P['unit_id']}/them": {"code": "x1", "name": "X", "level": "district"},
            f"/quan-tri/don-vi/{P['unit_id']}/doi-ten": {"name": "Y", "reason": "Z"},
            "/quan-tri/tai-khoan/cap-moi": {
                "username": "khong.duoc",
                "display_name": "X",
                "role": "reporting_unit",
                "unit_id": P["unit_id"],
            },
            f"/quan-tri/tai-khoan/{person['account_id']}/cap-lai-mat-khau": {"reason": "Z"},
            "/quan-tri/nhap-tep/don-vi/luu": {"staged_id": "x"},
            "/bo/dot-thu-thap/mo": {"campaign_id": "khong-duoc"},
            "/thong-bao/viet": {"title": "X", "body": "Y"},
            "/khao-sat/mo": {"survey_id": "khong-duoc"},
        }
        for path, data in posts.items():
            assert http.post(path, data=data).status_code == 403, path
            assert http.post(path, data={**data, "csrf_token": "0" * 64}).status_code == 403, path
        upload = http.post("/quan-tri/nhap-tep/don-vi", files={"sheet": ("a.csv", b"code,name,level,parent_code\n")})
        assert upload.status_code == 403
    assert client.accounts.post("/auth/token", json={"username": "khong.duoc", "password": "x"}).status_code == 401
    assert client.accounts.get(f"/units/{P['unit_id']}", headers=client.admin_auth).json()["name"] == P["name"]
