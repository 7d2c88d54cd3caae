"""Journeys 3 and 4 in headless Chromium: the district supervisor's queue (filtered by state,
unit and lateness), a submission with its answers and every rule's result, coding with the
code-list picker, returning with a common reason and a note, approving the revised form; the
province supervisor confirms it and a provincial unit's form; the review trail. axe-core on
every page."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_flow import open_task_for
from tests.e2e.test_web_unit import first_sign_in
from tests.support.answers import valid_hc_tb
from tests.support.platform import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def submit(client, account, unit_id, campaign, answers):
    auth = client.login(account["username"], account["initial_password"])
    body = {"campaign_id": campaign, "form_code": "1/HC-TB", "unit_id": unit_id, "answers": answers}
    response = client.forms.post("/submissions", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return auth, response.json()


def test_district_returns_then_approves_and_the_province_confirms(web, area, client):
    campaign, t = area["campaign"], area["t"]
    answers = valid_hc_tb(area["a"]["name"])
    unit_auth, sub = submit(client, area["people"]["unit_a"], area["a"]["unit_id"], campaign, answers)
    _, other = submit(client, area["people"]["unit_b"], area["b"]["unit_id"], campaign, valid_hc_tb())
    district = area["people"]["district"]
    password = first_sign_in(web, district)
    sup_api = client.login(district["username"], password, activate=False)
    for s in (sub, other):
        open_task_for(client, sup_api, s["submission_id"], 1)
    web.open("/")
    assert web.text("queue-total") == "2"
    web.shot("3-trang-chu-giam-sat")
    web.press("to-queue")
    assert "2 phiếu" in web.text("total")
    web.shot("3-danh-sach-cho-duyet")
    web.fill({"f-unit": f"wa{t}"})
    web.press("filter")
    rows = web.text("tasks")
    assert area["a"]["name"] in rows and area["b"]["name"] not in rows
    web.open("/duyet?late=true")
    assert web.by_id("empty")  # nobody is late: the deadline is a month away

    web.open("/duyet?unit=" + f"wa{t}")
    link = web.d.find_element(By.CSS_SELECTOR, "#tasks a")
    old = web.d.find_element(By.TAG_NAME, "html")
    link.click()
    web.wait_new_page(old)
    web.axe()
    assert web.h1() == area["a"]["name"]
    rules = web.text("rules")
    assert "Không đạt" not in rules and rules.count("Đạt") >= 7
    web.shot("3-phieu-va-kiem-tra")

    web.press("claim")  # taken up: the unit and those above see it under review
    assert "Bạn đang xem xét" in web.text("claimed")

    # Coding (ghi mã) A4.1.ma with the picker: search by name, pick, save.
    web.fill({"f-code-A4-1-ma-search": "quản lý nhà nước"})
    WebDriverWait(web.d, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#f-code-A4-1-ma-found button"))
    web.d.find_element(By.CSS_SELECTOR, '#f-code-A4-1-ma-found button[data-code="84"]').click()
    assert web.by_id("f-code-A4-1-ma").get_attribute("value") == "84"
    web.press("save-f-code-A4-1-ma")
    assert "Mã ghi: 84" in web.d.page_source

    # Return it with a common reason and a note.
    web.by_id("decision-return").click()
    web.by_id("f-reason").click()
    web.fill({"reason-text": "Đề nghị ghi rõ số máy vi tính"})
    web.shot("3-tra-lai")
    web.press("decide")
    assert "Đã trả lại phiếu" in web.text("decided")
    trail = web.text("trail")
    assert "Trả lại: Số liệu lao động không khớp" in trail and "Đề nghị ghi rõ số máy vi tính" in trail
    stored = eventually(
        lambda: (
            (s := client.forms.get(f"/submissions/{sub['submission_id']}", headers=unit_auth).json())["status"]
            == "returned"
            and s
        )
    )
    assert "Đề nghị ghi rõ số máy vi tính" in stored["return_reason"]

    # The unit sends it again; the district approves revision 2 from its queue.
    revised = client.forms.post(
        "/submissions",
        headers=unit_auth,
        json={
            "campaign_id": campaign,
            "form_code": "1/HC-TB",
            "unit_id": area["a"]["unit_id"],
            "answers": {**answers, "A3.2": 16},
        },
    )
    assert revised.status_code == 201, revised.text
    task = open_task_for(client, sup_api, sub["submission_id"], 2)
    web.open(f"/duyet/{task['task_id']}")
    web.by_id("f-decision").click()
    web.press("decide")
    assert "chuyển lên cấp trên" in web.text("decided")

    # The province confirms it, and its own department's form, which no district reviews.
    _, dept = submit(client, area["people"]["unit_s"], area["s"]["unit_id"], campaign, valid_hc_tb())
    web.sign_out()
    province = area["people"]["province"]
    prov_api = client.login(province["username"], first_sign_in(web, province), activate=False)
    final = open_task_for(client, prov_api, sub["submission_id"], 2)
    own = open_task_for(client, prov_api, dept["submission_id"], 1)
    assert final["final"] and own["final"]
    web.open("/duyet")
    queue = web.text("tasks")
    assert area["a"]["name"] in queue and area["s"]["name"] in queue and "Xác nhận" in queue
    web.shot("4-danh-sach-cap-tinh")
    for t_id in (final["task_id"], own["task_id"]):
        web.open(f"/duyet/{t_id}")
        web.by_id("f-decision").click()
        web.press("decide")
        assert "Đã xác nhận phiếu" in web.text("decided")
    web.shot("4-da-xac-nhan")
    trail = web.text("trail")
    assert "Đã duyệt" in trail
    eventually(
        lambda: (
            client.forms.get(f"/submissions/{sub['submission_id']}", headers=unit_auth).json()["status"] == "approved"
        )
    )
