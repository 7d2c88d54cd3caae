"""The PAR Index survey in headless Chromium (issue 15, group 4), axe-core on every page: the
Ministry opens a survey; a province and a ministry each download their template, upload their
respondents, see the refused rows and why and their counts per group against the seed's rules,
and send their list; the Ministry follows every list, reopens one, dispatches the links, reviews
the tamper flags and voids a response with its reason; the province follows progress per group,
never the answers."""

from __future__ import annotations

import csv
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from selenium.webdriver.common.by import By

from tests.e2e.test_notifications import WAIT
from tests.e2e.test_par_survey import LINK, answers
from tests.e2e.test_web_admin import downloaded, downloads
from tests.e2e.test_web_unit import first_sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
HEADER = ["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"]


def csv_file(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def xlsx_file(path: Path, rows: list[tuple[str, ...]]) -> Path:
    book = Workbook()
    book.active.append(HEADER)
    for row in rows:
        book.active.append(list(row))
    book.save(path)
    return path


def vn(day: date) -> str:
    return f"{day:%d/%m/%Y}"


@pytest.fixture
def owners(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"xP{t}", f"Tỉnh Nghệ An {t}", "province")
    M = client.new_unit(admin, "root", f"xB{t}", f"Bộ Tư pháp {t}", "agency")
    people = {
        "central": client.new_account(admin, "root", f"bnv.xhh.{t}", "central_admin"),
        "province": client.new_account(admin, P["unit_id"], f"snv.{t}", "province_admin"),
        "ministry": client.new_account(admin, M["unit_id"], f"btp.{t}", "reporting_unit"),
    }
    return {"t": t, "P": P, "M": M, "people": people}


def upload(web, path: Path) -> None:
    web.by_id("f-sheet").send_keys(str(path))
    web.press("upload")


def test_the_par_survey_from_lists_to_voided_responses(web, client, owners, smtp_server, tmp_path):
    t, P, M, people = owners["t"], owners["P"], owners["M"], owners["people"]
    sid, today = f"xhh-{t}", date.today()

    # The Ministry opens the survey for a province and a ministry.
    first_sign_in(web, people["central"])
    web.press("to-surveys")
    web.press("open")
    web.fill(
        {
            "f-survey_id": sid,
            "f-title": f"Điều tra xã hội học Chỉ số CCHC {t}",
            "f-list_deadline": vn(today + timedelta(days=5)),
            "f-answer_deadline": vn(today + timedelta(days=20)),
        }
    )
    for unit in (P, M):
        web.d.find_element(By.CSS_SELECTOR, f'input[name="owners"][value="{unit["unit_id"]}"]').click()
    web.press("save")
    assert "Đã mở cuộc khảo sát" in web.text("opened")
    assert web.text("lists").count("Chưa nhập") == 2
    web.sign_out()

    # The province: its template, a sheet with mistakes (refused, nothing kept), then its list.
    first_sign_in(web, people["province"])
    folder = tmp_path / "downloads"
    downloads(web, folder)
    web.press("to-surveys")
    web.press("my-list-1")
    assert "Đang lập" in web.text("state")
    web.by_id("template").click()
    legend = [r[0] for r in load_workbook(downloaded(folder, ".xlsx")).worksheets[1].iter_rows(values_only=True)]
    assert "Đại biểu Hội đồng nhân dân cấp tỉnh" in legend
    upload(
        web,
        csv_file(
            tmp_path / "sai.csv",
            [
                ("Nguyễn Văn A", f"a.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", "Sở Nội vụ"),
                ("Trần Văn B", "khong-phai-thu", "Lãnh đạo cấp sở", "", ""),
                ("Lê Văn C", f"c.{t}@nghean.gov.vn", "Lãnh đạo cấp vụ", "", ""),
            ],
        ),
    )
    refused = web.text("refused")
    assert "Địa chỉ thư điện tử không hợp lệ" in refused and "không dùng cho tỉnh" in refused
    assert "Danh sách có 2 lỗi" in web.text("error-summary")
    web.shot("11-danh-sach-bi-tu-choi", show="refused-title")
    upload(
        web,
        csv_file(
            tmp_path / "danh-sach.csv",
            [
                ("Nguyễn Văn A", f"a.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", "Sở Nội vụ"),
                ("Hồ Thị Đại Biểu", f"hdnd.{t}@nghean.gov.vn", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
                ("Nguyễn Văn A", f"a.{t}@nghean.gov.vn", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
                (
                    "Phan Văn Phòng",
                    f"phong.{t}@nghean.gov.vn",
                    "Lãnh đạo phòng chuyên môn thuộc sở",
                    "Trưởng phòng",
                    "Sở Nội vụ",
                ),
            ],
        ),
    )
    assert "3 người" in web.text("imported") and f"a.{t}@nghean.gov.vn" in web.text("merged")
    counts = web.text("counts")
    assert "Đại biểu Hội đồng nhân dân cấp tỉnh 2" in counts and "Chưa đạt" in counts  # no district leader yet
    web.shot("11-danh-sach-tinh", show="counts-title")
    web.press("f-submit")
    assert "Đã gửi danh sách" in web.text("done") and "Đã gửi Bộ Nội vụ" in web.text("state")
    web.sign_out()

    # The ministry's focal point, from its home page, with an Excel sheet.
    first_sign_in(web, people["ministry"])
    link = web.d.find_element(By.CSS_SELECTOR, "#surveys a")
    old = web.d.find_element(By.TAG_NAME, "html")
    link.click()
    web.wait_new_page(old)
    web.axe()
    upload(
        web,
        xlsx_file(
            tmp_path / "bo.xlsx",
            [
                ("Vũ Văn Vụ", f"vu.{t}@moj.gov.vn", "Lãnh đạo cấp vụ", "Vụ trưởng", "Vụ Pháp chế"),
                (
                    "Cán Bộ Một",
                    f"cb1.{t}@moj.gov.vn",
                    "Công chức phụ trách cải cách hành chính",
                    "Chuyên viên",
                    "Văn phòng Bộ",
                ),
                ("Hội Văn Trưởng", f"hoi.{t}@hoi.vn", "Lãnh đạo Hội/Hiệp hội", "Chủ tịch", "Hội Luật gia"),
            ],
        ),
    )
    assert "1 đơn vị thuộc bộ; 1 đơn vị chưa đủ 2 người" in web.text("counts")
    web.press("f-submit")
    assert "Đã gửi Bộ Nội vụ" in web.text("state")
    web.sign_out()

    # The Ministry: both lists sent; the province's reopened with a reason, sent again; links dispatched.
    web.sign_in(people["central"]["username"], people["central"]["initial_password"] + "-Moi2026")
    web.open(f"/khao-sat/{sid}")
    assert web.text("lists").count("Đã gửi Bộ Nội vụ") == 2
    web.shot("11-cac-danh-sach")
    web.open(f"/khao-sat/{sid}/danh-sach/{P['unit_id']}")
    web.press("reopen")
    assert "Ghi lý do mở lại" in web.text("error-summary")
    web.fill({"f-reason": "Bổ sung lãnh đạo Ủy ban nhân dân cấp huyện"})
    web.press("reopen")
    assert "Đã mở lại danh sách" in web.text("done") and "Đang lập" in web.text("state")
    province_api = client.login(
        people["province"]["username"], people["province"]["initial_password"] + "-Moi2026", activate=False
    )
    assert client.forms.post(f"/surveys/{sid}/lists/{P['unit_id']}/submit", headers=province_api).status_code == 200
    web.open(f"/khao-sat/{sid}")
    web.press("dispatch")
    assert "Đã gửi phiếu khảo sát đến 6 người mới" in web.text("dispatched")

    # Respondents answer through their links; one office sends many at once, an administrator another.
    tokens = {}
    for address in (
        f"a.{t}@nghean.gov.vn",
        f"hdnd.{t}@nghean.gov.vn",
        f"phong.{t}@nghean.gov.vn",
        f"vu.{t}@moj.gov.vn",
    ):
        mail = smtp_server.wait_for(address, template="survey_invitation", timeout=WAIT)
        tokens[address] = LINK.search(mail[0].get_content()).group(1)
    for address in (f"hdnd.{t}@nghean.gov.vn", f"phong.{t}@nghean.gov.vn", f"vu.{t}@moj.gov.vn"):
        assert (
            client.forms.post(
                f"/s/{tokens[address]}", json={"answers": answers(9)}, headers={"User-Agent": f"may-chung-{t}/1.0"}
            ).status_code
            == 201
        )
    by_admin = client.forms.post(
        f"/s/{tokens[f'a.{t}@nghean.gov.vn']}", json={"answers": answers(10)}, headers=province_api
    )
    assert by_admin.status_code == 201
    admin_answer = by_admin.json()["response_id"]

    # The Ministry reviews the flags and voids the answer sent from an administrator's session.
    web.open(f"/khao-sat/{sid}/dau-hieu")
    flags = web.d.find_element(By.TAG_NAME, "main").text
    assert "phiên đăng nhập của tài khoản quản trị" in flags and "dồn dập" in flags
    web.press(f"void-{admin_answer[:12]}")
    assert "Ghi lý do hủy" in web.text("error-summary")
    web.fill({f"f-reason-{admin_answer[:12]}": "Trả lời từ phiên quản trị của Sở Nội vụ"})
    web.press(f"void-{admin_answer[:12]}")
    assert admin_answer[:12] in web.text("voided")
    web.shot("11-dau-hieu-can-thiep")
    stored = client.forms.get(f"/surveys/{sid}/responses", headers=client.admin_auth).json()
    assert next(r for r in stored if r["response_id"] == admin_answer)["status"] == "voided"
    web.open(f"/khao-sat/{sid}/tien-do")
    assert "Bị hủy" in web.text("progress-1")
    web.sign_out()

    # The province follows its own progress per group: counts only, never the answers.
    web.sign_in(people["province"]["username"], people["province"]["initial_password"] + "-Moi2026")
    web.open(f"/khao-sat/{sid}/tien-do")
    main = web.d.find_element(By.TAG_NAME, "main").text
    assert P["name"] in main and M["name"] not in main and "Bị hủy" not in main
    rows = web.text("progress-1")
    assert "Đại biểu Hội đồng nhân dân cấp tỉnh 2 2 2 100,0%" in rows
    assert "Cần đẩy mạnh" not in web.d.page_source  # the answers' text appears nowhere
    web.shot("11-tien-do-tinh")
    assert client.forms.get(f"/surveys/{sid}/responses", headers=province_api).status_code == 403
    web.d.set_window_size(360, 800)
    for path in (f"/khao-sat/{sid}/tien-do", f"/khao-sat/{sid}/danh-sach/{P['unit_id']}", "/khao-sat"):
        web.open(path)
        web.no_horizontal_scroll()
