"""The Ministry in headless Chromium (issue 15, group 2), axe-core on every page: form definitions'
versions side by side with what changed; a campaign opened with its scope, window, review levels
and the deadline of each level of unit, and the half-yearly periodic reports; the code lists."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.test_web_unit import first_sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def vn(day: date) -> str:
    return f"{day:%d/%m/%Y}"


@pytest.fixture
def ministry(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"mP{t}", f"Tỉnh Bộ {t}", "province")
    person = client.new_account(admin, "root", f"bnv.{t}", "central_admin", f"bnv.{t}@moha.gov.vn")
    padmin = client.new_account(admin, P["unit_id"], f"qtt.{t}", "province_admin")
    return {"t": t, "P": P, "central": person, "province_admin": padmin}


def test_the_ministry_compares_versions_opens_campaigns_and_reads_code_lists(web, client, ministry):
    t, P = ministry["t"], ministry["P"]
    first_sign_in(web, ministry["central"])
    web.press("to-definitions")
    forms = web.text("forms")
    assert "1/HC-TB" in forms and "Phiên bản 2" in forms and "XHH-CCHC-TINH" in forms
    web.shot("9-mau-phieu")
    web.press("compare-1")
    assert web.h1() == "So sánh phiên bản 1 và 2"
    assert "2 câu mới, 0 câu bỏ, 3 câu thay đổi" in web.text("summary")
    assert "Mới" in web.text("field-A1-6")
    changed = web.text("field-A4-2-1-ma")
    assert "Thay đổi" in changed and "Kiểu" in changed and "bảng mã vcpa2018" in changed
    web.shot("9-so-sanh-phien-ban", show="s-6")
    web.open("/bo/mau-phieu/xem?ma=1/HC-TB&phien_ban=1")
    assert "phiên bản 1" in web.d.find_element(By.CLASS_NAME, "govuk-caption-l").text
    assert web.text("rules")  # the logic rules of version 1

    web.open("/bo/danh-muc")
    assert "Hệ thống ngành kinh tế Việt Nam 2018" in web.text("lists")
    web.open("/bo/danh-muc/vsic2018")
    web.fill({"f-q": "nông nghiệp"})
    web.press("search")
    assert "Nông nghiệp" in web.text("entries") or "nông nghiệp" in web.text("entries").lower()
    web.shot("9-danh-muc")

    # A campaign of the province: refused while dates are missing, then opened.
    today = date.today()
    web.open("/bo/dot-thu-thap")
    web.press("open")
    web.fill({"f-campaign_id": f"dt-{t}", "f-title": f"Điều tra cơ sở hành chính {t}"})
    Select(web.by_id("f-form_code")).select_by_value("1/HC-TB")
    web.d.find_element(By.CSS_SELECTOR, f'input[name="scope"][value="{P["unit_id"]}"]').click()
    web.press("save")
    summary = web.text("error-summary")
    assert "Nhập ngày bắt đầu" in summary and "Nhập ngày kết thúc" in summary
    web.fill(
        {
            "f-opens_on": vn(today),
            "f-closes_on": vn(today + timedelta(days=60)),
            "f-deadline_province": vn(today + timedelta(days=30)),
            "f-deadline_district": "99/99/2026",
        }
    )
    web.press("save")
    assert "Ngày phải viết dạng" in web.text("error-summary")
    web.fill({"f-deadline_district": vn(today + timedelta(days=40))})
    web.by_id("level-central").click()  # the Ministry confirms last, after the district and the province
    web.shot("9-mo-dot-thu-thap")
    web.press("save")
    assert "Đã mở đợt thu thập" in web.text("opened")
    levels = web.text("levels")
    assert levels.index("huyện") < levels.index("tỉnh") < levels.index("Bộ Nội vụ")
    web.shot("9-dot-thu-thap")
    stored = client.forms.get(f"/campaigns/dt-{t}", headers=client.admin_auth).json()
    assert stored["scope_unit_ids"] == [P["unit_id"]] and stored["review_levels"] == ["district", "province", "central"]
    assert stored["deadlines"] == {
        "province": str(today + timedelta(days=30)),
        "district": str(today + timedelta(days=40)),
    }

    # The half-yearly reports of a year, both at once.
    web.open("/bo/dot-thu-thap/dinh-ky")
    web.fill({"f-base_id": f"bc-{t}", "f-title": "Báo cáo tổ chức bộ máy", "f-year": "2027"})
    Select(web.by_id("f-form_code")).select_by_value("1/HC-TB")
    web.d.find_element(By.CSS_SELECTOR, f'input[name="scope"][value="{P["unit_id"]}"]').click()
    web.press("save")
    assert f"bc-{t}-2027-h1" in web.text("opened") and f"bc-{t}-2027-h2" in web.text("opened")
    second = client.forms.get(f"/campaigns/bc-{t}-2027-h2", headers=client.admin_auth).json()
    assert second["closes_on"] == "2027-12-15" and "6 tháng cuối năm 2027" in second["title"]
    assert f"dt-{t}" in web.text("campaigns")


def test_a_province_administrator_opens_campaigns_only_in_its_province(web, client, ministry):
    first_sign_in(web, ministry["province_admin"])
    web.open("/bo/dot-thu-thap/mo")
    scope = web.d.find_element(By.CLASS_NAME, "moha-scope").text
    assert f"Toàn bộ {ministry['P']['name']}" in scope
    web.open("/bo/mau-phieu")  # read-only for every administrator
    assert "1/HC-TB" in web.text("forms")
    web.d.set_window_size(360, 800)
    for path in ("/bo/dot-thu-thap", "/bo/dot-thu-thap/mo", "/bo/mau-phieu/so-sanh?ma=1/HC-TB", "/bo/danh-muc"):
        web.open(path)
        web.no_horizontal_scroll()
