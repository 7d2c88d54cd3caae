"""Notices in headless Chromium (issue 15, group 3), axe-core on every page: a district's
administrator writes a notice to its district with a link to a document; a commune reads it in
its inbox, the link a link; the administrator sees to whom it was delivered and who read it."""

from __future__ import annotations

import uuid

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.test_web_unit import first_sign_in
from tests.support.platform import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def district_area(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"tP{t}", f"Tỉnh Tin {t}", "province")
    D = client.new_unit(admin, P["unit_id"], f"tD{t}", f"Huyện Tin {t}", "district")
    a = client.new_unit(admin, D["unit_id"], f"ta{t}", f"Xã Đọc {t}", "commune")
    b = client.new_unit(admin, D["unit_id"], f"tb{t}", f"Xã Chưa Đọc {t}", "commune")
    people = {
        "admin": client.new_account(admin, D["unit_id"], f"qth.{t}", "district_admin"),
        "a": client.new_account(admin, a["unit_id"], f"dvd.{t}", "reporting_unit", f"dvd.{t}@example.vn"),
        "b": client.new_account(admin, b["unit_id"], f"dvc.{t}", "reporting_unit"),
    }
    return {"t": t, "D": D, "a": a, "b": b, "people": people}


def test_a_notice_written_delivered_read_and_followed(web, client, district_area, smtp_server):
    x, t = district_area, district_area["t"]
    first_sign_in(web, x["people"]["admin"])
    web.press("to-notices")
    web.press("send")
    assert "Nhập tiêu đề" in web.text("error-summary")
    web.fill(
        {
            "f-title": "Lịch tập huấn phần mềm",
            "f-body": "Đề nghị các đơn vị cử cán bộ dự tập huấn.",
            "f-link-1": "Công văn 12/PNV",
            "url-1": "sonoivu.example.vn/cv-12.pdf",
        }
    )
    web.press("send")
    assert "https://" in web.text("error-summary")
    web.fill({"url-1": "https://sonoivu.example.vn/cv-12.pdf"})
    web.shot("10-viet-thong-bao")
    web.press("send")
    assert "đang được gửi" in web.text("sending")
    here = web.path().split("?")[0]
    eventually(lambda: web.open(here) or "Đã gửi" in web.text("status"), timeout=30)
    assert "2 tài khoản" in web.text("recipients")
    listed = web.text("recipients-list")
    assert x["people"]["a"]["username"].upper() in listed and "Chưa đọc" in listed
    assert "Không có địa chỉ thư" in listed

    # The commune reads it; the document's address is a link.
    web.sign_out()
    first_sign_in(web, x["people"]["a"])
    web.open("/thong-bao")
    link = web.d.find_element(By.LINK_TEXT, "https://sonoivu.example.vn/cv-12.pdf")
    assert link.get_attribute("href") == "https://sonoivu.example.vn/cv-12.pdf"
    notice = link.find_element(By.XPATH, "ancestor::li")
    old = web.d.find_element(By.TAG_NAME, "html")
    notice.find_element(By.TAG_NAME, "button").click()
    web.wait_new_page(old)
    web.axe()
    smtp_server.wait_for(f"dvd.{t}@example.vn", template="notice", timeout=30)

    # The administrator sees who read it.
    web.sign_out()
    web.sign_in(x["people"]["admin"]["username"], x["people"]["admin"]["initial_password"] + "-Moi2026")
    web.open(here)
    assert "1 tài khoản" in web.text("read")
    web.press("filter-1")
    assert x["people"]["a"]["username"].upper() in web.text("recipients-list")
    assert x["people"]["b"]["username"].upper() not in web.text("recipients-list")
    eventually(lambda: web.open(here) or "Đã gửi thư" in web.text("recipients-list"), timeout=30)
    web.shot("10-da-nhan-da-doc")
    web.open("/thong-bao/da-gui")
    assert "1/2" in web.text("sent")
    web.shot("10-thong-bao-da-gui")
    web.d.set_window_size(360, 800)
    for path in ("/thong-bao/viet", here, "/thong-bao/da-gui"):
        web.open(path)
        web.no_horizontal_scroll()
