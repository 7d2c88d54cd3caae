"""Journeys 5 and 6 in headless Chromium: a province supervisor's progress (counts and
percentages per state, each district as a bar of the server-drawn chart, drill-down to its units,
the late units with their working days late, the Excel sheet), and the inbox with the unread
count in the header of every page. Pages 360 px wide scroll no sideways. axe-core on every page."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from openpyxl import load_workbook
from selenium.webdriver.common.by import By

from tests.e2e.test_flow import open_task_for
from tests.e2e.test_web_review import submit
from tests.e2e.test_web_unit import first_sign_in
from tests.e2e.web_fixtures import open_campaign
from tests.support.answers import valid_hc_tb
from tests.support.platform import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def late_area(client, admin):
    """A province whose deadline passed ten days ago: one commune sent in time... none did, so
    every unit is late; one sends now (late), the others have not."""
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"lP{t}", f"Tỉnh Trễ {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"lD1{t}", f"Huyện Một {t}", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"lD2{t}", f"Huyện Hai {t}", "district")
    units = [client.new_unit(admin, D1["unit_id"], f"la{i}{t}", f"Xã Một-{i} {t}", "commune") for i in range(3)]
    units += [client.new_unit(admin, D2["unit_id"], f"lb{i}{t}", f"Xã Hai-{i} {t}", "commune") for i in range(2)]
    sender = client.new_account(admin, units[0]["unit_id"], f"ldv.{t}", "reporting_unit", f"ldv.{t}@example.vn")
    supervisor = client.new_account(admin, P["unit_id"], f"lgs.{t}", "province_supervisor", f"lgs.{t}@example.vn")
    district = client.new_account(admin, D1["unit_id"], f"lgh.{t}", "district_supervisor", f"lgh.{t}@example.vn")
    campaign = open_campaign(client, P["unit_id"], t, deadline_days=-10, opened_days_ago=40)
    return {
        "t": t,
        "P": P,
        "D1": D1,
        "D2": D2,
        "units": units,
        "sender": sender,
        "supervisor": supervisor,
        "district": district,
        "campaign": campaign,
    }


def test_progress_per_area_with_drill_down_late_units_chart_and_sheet(web, late_area, client):
    a = late_area
    _, sub = submit(client, a["sender"], a["units"][0]["unit_id"], a["campaign"], valid_hc_tb())
    district_api = client.login(a["district"]["username"], a["district"]["initial_password"])
    open_task_for(client, district_api, sub["submission_id"], 1)
    password = first_sign_in(web, a["supervisor"])
    prov_api = client.login(a["supervisor"]["username"], password, activate=False)
    eventually(
        lambda: (
            client.approvals.get(f"/progress/{a['campaign']}", headers=prov_api).json()["summary"]["counts"][
                "submitted"
            ]
            == 1
        )
    )

    web.open(f"/tien-do/{a['campaign']}")
    assert web.h1() == f"Tiến độ: {a['P']['name']}"
    states = web.text("states")
    assert "Đã gửi, chờ duyệt 1 20,0%" in states and "Chưa thực hiện 4 80,0%" in states
    assert len(web.d.find_elements(By.CSS_SELECTOR, "#chart g rect")) >= 2  # the bars, drawn by the server
    areas = web.text("areas")
    assert a["D1"]["name"] in areas and a["D2"]["name"] in areas
    late = web.text("late")
    assert "Đơn vị trễ hạn (5)" in web.d.page_source and a["units"][4]["name"] in late
    web.shot("5-tien-do-tinh")
    web.shot("5-bieu-do", show="areas-title")

    # Down to the first district: its units, with their state.
    link = web.d.find_element(By.LINK_TEXT, a["D1"]["name"])
    old = web.d.find_element(By.TAG_NAME, "html")
    link.click()
    web.wait_new_page(old)
    web.axe()
    assert web.h1() == f"Tiến độ: {a['D1']['name']}"
    units = web.text("units")
    assert a["units"][0]["name"] in units and "Đã gửi, chờ duyệt" in units and a["units"][3]["name"] not in units
    web.shot("5-tien-do-huyen")

    # The sheet approvals serves, through the web front with the person's session.
    cookies = {c["name"]: c["value"] for c in web.d.get_cookies()}
    sheet = httpx.get(f"{web.base}/tien-do/{a['campaign']}/tai-xuong", cookies=cookies, timeout=30)
    assert sheet.status_code == 200 and "spreadsheetml" in sheet.headers["content-type"]
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "Mã đơn vị" and len(rows) == 6


def test_the_inbox_and_its_unread_count_in_every_header(web, late_area, client, smtp_server):
    a = late_area
    submit(client, a["sender"], a["units"][0]["unit_id"], a["campaign"], valid_hc_tb())
    password = first_sign_in(web, a["district"])
    api = client.login(a["district"]["username"], password, activate=False)
    unread = eventually(lambda: client.notifications.get("/inbox/unread", headers=api).json()["unread"])
    web.open("/")
    assert web.text("unread-count").startswith(str(unread))
    web.open("/duyet")
    assert web.text("unread-count").startswith(str(unread))  # every page's header
    web.press("inbox-link")
    assert "chưa đọc" in web.text("unread-summary")
    web.shot("6-thong-bao")
    form = web.d.find_element(By.CSS_SELECTOR, "#notices form")
    notice_id = form.get_attribute("action").rstrip("/").split("/")[-2]  # /thong-bao/<id>/da-doc
    old = web.d.find_element(By.TAG_NAME, "html")
    form.find_element(By.TAG_NAME, "button").click()
    web.wait_new_page(old)
    web.axe()
    # That notice, and only it, is read now (others may still be arriving: the count alone could
    # not tell a read from a new notice).
    items = {n["notice_id"]: n for n in client.notifications.get("/inbox", headers=api).json()["items"]}
    assert items[notice_id]["read"] is True
    assert sum(1 for n in items.values() if n["read"]) == 1


def test_pages_fit_a_phone_360_px_wide(web, late_area, client):
    a = late_area
    web.d.set_window_size(360, 800)
    password = first_sign_in(web, a["sender"])
    for path in (
        "/",
        f"/dot/{a['campaign']}",
        f"/dot/{a['campaign']}/muc/A2",
        f"/dot/{a['campaign']}/muc/A4",
        f"/dot/{a['campaign']}/kiem-tra",
        "/thong-bao",
    ):
        web.open(path)
        web.no_horizontal_scroll()
        if path.endswith("/muc/A4"):
            web.shot("2-dien-thoai-360")
    web.sign_out()
    first_sign_in(web, a["supervisor"])
    for path in ("/", "/duyet", f"/tien-do/{a['campaign']}", f"/tien-do/{a['campaign']}?area={a['D1']['unit_id']}"):
        web.open(path)
        web.no_horizontal_scroll()
    del password
