"""Journeys 1 and 2 in headless Chromium on the running platform: signing in (a wrong password,
the forced change of the issued password with its rules, signing out), and a reporting unit's
whole form, section by section, done with the keyboard alone; each field checked by forms as soon
as it is left, drafts saved while typing, check your answers, submit, the confirmation; returned,
revised and sent again; a second tab with a stale version; a double submit. axe-core on every
page."""

from __future__ import annotations

import re

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_flow import open_task_for
from tests.e2e.web_fixtures import new_password
from tests.support.answers import valid_hc_tb
from tests.support.platform import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def first_sign_in(web, account) -> str:
    """Sign in with the issued password and replace it, as every new account must."""
    web.sign_in(account["username"], account["initial_password"])
    assert web.path().startswith("/doi-mat-khau")
    password = new_password(account["initial_password"])
    web.change_password(account["initial_password"], password)
    return password


def test_sign_in_wrong_password_forced_change_and_sign_out(web, area, client, admin):
    unit = area["people"]["unit_a"]
    web.open("/")  # not signed in: to sign-in, and back here after
    assert web.path().startswith("/dang-nhap")
    web.shot("1-dang-nhap")

    web.fill({"f-username": unit["username"], "f-password": "sai-mat-khau"})
    web.press("sign-in")
    assert "không đúng" in web.text("error-summary")
    assert "không đúng" in web.text("password-error")

    web.fill({"f-username": unit["username"], "f-password": unit["initial_password"]})
    web.press("sign-in")
    assert web.h1() == "Đổi mật khẩu"
    rules = web.text("password-rules")
    assert "ít nhất 10 ký tự" in rules and "chữ hoa" in rules
    web.shot("1-doi-mat-khau")
    web.fill({"f-current_password": unit["initial_password"], "f-new_password": "ngan", "f-confirm_password": "ngan"})
    web.press("change-password")
    assert "ít nhất 10 ký tự" in web.text("new_password-error")
    web.fill(
        {
            "f-current_password": unit["initial_password"],
            "f-new_password": "Mot-Mat-Khau-Dai-1",
            "f-confirm_password": "Mot-Mat-Khau-Khac-1",
        }
    )
    web.press("change-password")
    assert "không khớp" in web.text("confirm_password-error")
    web.change_password(unit["initial_password"], "Mot-Mat-Khau-Dai-1")
    assert web.path() == "/" and web.h1() == "Các đợt thu thập của đơn vị"
    assert area["a"]["name"] in web.text("who")

    web.sign_out()
    assert "đã đăng xuất" in web.text("notice")
    web.open("/")
    assert web.path().startswith("/dang-nhap")

    # A revoked account is told so (accounts words it).
    assert (
        client.accounts.post(
            f"/accounts/{unit['account_id']}/revoke", headers=admin, json={"reason": "Thử thu hồi"}
        ).status_code
        == 200
    )
    web.sign_in(unit["username"], "Mot-Mat-Khau-Dai-1")
    assert web.by_id("error-summary").is_displayed() and web.path().startswith("/dang-nhap")


def test_a_unit_fills_and_submits_its_form_with_the_keyboard_alone(web, area, client):
    unit = area["people"]["unit_a"]
    campaign = area["campaign"]
    answers = valid_hc_tb(area["a"]["name"])

    # Sign in and change the issued password: keys only.
    web.open("/dang-nhap")
    web.tab_to("f-username")
    web.keys(unit["username"], Keys.TAB, unit["initial_password"])
    web.key_press_loads(Keys.ENTER)
    password = new_password(unit["initial_password"])
    web.tab_to("f-current_password")
    web.keys(unit["initial_password"], Keys.TAB, password, Keys.TAB, password)
    web.key_press_loads(Keys.ENTER)
    assert web.path() == "/"
    web.shot("2-trang-chu-don-vi")
    assert "còn" in web.text("campaigns") and "Chưa bắt đầu" in web.text("campaigns")

    # The campaign, then each section in turn, by the keyboard.
    web.tab_to(f"campaign-{campaign}")
    web.key_press_loads(Keys.ENTER)
    web.shot("2-phieu-cac-phan")
    definition = client.forms.get("/definitions", params={"form_code": "1/HC-TB"}, headers=client.admin_auth).json()
    web.tab_to("f-section-A1")
    web.key_press_loads(Keys.ENTER)
    for number, section in enumerate(definition["sections"]):
        assert section["code"] in web.h1()
        if number == 0:
            web.shot("2-phieu-muc-A1")
        for field in section["fields"]:
            if field["code"] in answers:
                type_answer(web, field, answers[field["code"]])
        web.tab_to("save-continue")
        web.key_press_loads(Keys.ENTER)

    # Check your answers: no error, the answers as given; submit.
    assert web.h1() == "Kiểm tra câu trả lời trước khi gửi"
    assert not web.d.find_elements(By.ID, "error-summary")
    assert "1.200,5" in web.d.page_source  # A3.3.1, written the Vietnamese way
    web.shot("2-kiem-tra")
    web.tab_to("submit")
    web.key_press_loads(Keys.ENTER)
    assert web.text("confirmation").startswith("Đã gửi phiếu")
    assert f"{campaign}:{area['a']['unit_id']}" in web.text("reference")
    web.shot("2-da-gui")
    sid = f"{campaign}:{area['a']['unit_id']}"
    auth = client.login(unit["username"], password, activate=False)
    stored = client.forms.get(f"/submissions/{sid}", headers=auth).json()
    assert (stored["status"], stored["revision"]) == ("submitted", 1)
    assert stored["answers"] == answers

    # The district returns it; the unit sees who and why, revises and sends it again.
    supervisor = area["people"]["district"]
    sup_auth = client.login(supervisor["username"], supervisor["initial_password"])
    task = open_task_for(client, sup_auth, sid, 1)
    reason = "Số máy vi tính chưa khớp với sổ tài sản"
    assert (
        client.approvals.post(
            f"/tasks/{task['task_id']}/return", headers=sup_auth, json={"revision": 1, "reason": reason}
        ).status_code
        == 200
    )
    eventually(lambda: client.forms.get(f"/submissions/{sid}", headers=auth).json()["status"] == "returned")
    web.open(f"/dot/{campaign}")
    assert reason in web.text("return-reason")
    assert supervisor["username"].upper() in web.text("returned")  # the supervisor's name
    web.shot("2-bi-tra-lai")
    web.open(f"/dot/{campaign}/muc/A3")
    web.fill({"f-A3-2": "16"})
    web.press("save-continue")
    web.open(f"/dot/{campaign}/kiem-tra")
    web.press("submit")
    assert "lần gửi 2" in web.text("reference")
    web.open(f"/dot/{campaign}/lich-su")
    history = web.text("history")
    assert history.count("Đơn vị gửi phiếu") == 2 and reason in history
    web.shot("2-lich-su")


def type_answer(web, field, value) -> None:
    fid = "f-" + field["code"].replace(".", "-")
    if field["type"] == "boolean":
        web.tab_to(fid if value else fid + "-2")
        web.keys(Keys.SPACE)
    elif field["type"] == "choice":
        web.tab_to(fid)
        for _ in range(field["choices"].index(value)):
            web.keys(Keys.ARROW_DOWN)
    else:
        web.tab_to(fid)
        web.keys(_typed(value))


def _typed(value) -> str:
    if isinstance(value, float):
        return str(value).replace(".", ",")
    return str(value)


def test_a_field_is_checked_when_left_and_drafts_save_while_typing(web, area):
    unit = area["people"]["unit_b"]
    campaign = area["campaign"]
    first_sign_in(web, unit)
    web.open(f"/dot/{campaign}/muc/A2")
    web.fill({"f-A2-1": "hai mươi"})
    web.keys(Keys.TAB)  # left: forms' rule engine says what is wrong, beside the field
    WebDriverWait(web.d, 10).until(lambda d: d.find_elements(By.ID, "f-A2-1-error"))
    assert "phải là số nguyên" in web.text("f-A2-1-error")
    web.shot("2-kiem-tra-tung-o", show="group-f-A2-1")
    web.fill({"f-A2-1": "25"})
    web.keys(Keys.TAB)
    WebDriverWait(web.d, 10).until(lambda d: not d.find_elements(By.ID, "f-A2-1-error"))
    web.fill({"f-A2-2-1": "20"})
    WebDriverWait(web.d, 15).until(lambda d: d.find_elements(By.ID, "autosaved"))
    web.axe()
    web.open(f"/dot/{campaign}/muc/A2")  # closed and opened again: the draft was saved
    assert web.by_id("f-A2-1").get_attribute("value") == "25"
    assert web.by_id("f-A2-2-1").get_attribute("value") == "20"

    # Saved with a wrong answer: the error summary on top, the answer kept as typed, the rest saved.
    web.d.execute_script("document.getElementById('section-form').removeAttribute('hx-trigger')")
    web.fill({"f-A2-1-1": "mười", "f-A2-2-3": "5"})
    # Leaving the first field had it checked: its error comes in above the button and moves it.
    # Pressed before, the click may land where the button was (seen once in a full run).
    WebDriverWait(web.d, 10).until(lambda d: d.find_elements(By.ID, "f-A2-1-1-error"))
    web.press("save-continue")
    assert "phải là số nguyên" in web.text("error-summary") and web.h1() == "A2. Lao động"
    assert web.by_id("f-A2-1-1").get_attribute("value") == "mười"
    web.shot("2-loi-tong-hop")

    # Check your answers lists what is missing, each linked to its question; no submit yet.
    web.open(f"/dot/{campaign}/kiem-tra")
    summary = web.text("error-summary")
    assert "Chưa trả lời: Tên cơ quan, đơn vị" in summary
    assert not web.d.find_elements(By.ID, "submit")
    link = web.d.find_element(By.CSS_SELECTOR, "#error-summary a")
    assert link.get_attribute("href").endswith(f"/dot/{campaign}/muc/A1#f-A1-1")
    old = web.d.find_element(By.TAG_NAME, "html")
    link.click()
    web.wait_new_page(old)
    assert web.h1() == "A1. Thông tin định danh"
    web.open(f"/dot/{campaign}/muc/A2")  # what could be saved was: all but the wrong answer
    assert web.by_id("f-A2-2-3").get_attribute("value") == "5"
    assert web.by_id("f-A2-1-1").get_attribute("value") == ""


def test_a_stale_second_tab_is_told_and_keeps_what_was_typed(web, area, client):
    unit = area["people"]["unit_s"]
    campaign = area["campaign"]
    first_sign_in(web, unit)
    web.open(f"/dot/{campaign}/muc/A3")
    first = web.d.current_window_handle
    web.d.switch_to.new_window("tab")
    web.open(f"/dot/{campaign}/muc/A3")
    web.fill({"f-A3-1": "2"})
    web.press("save")
    web.d.switch_to.window(first)  # this tab still holds the version before that save
    web.d.execute_script(
        "htmx.config.defaultSwapStyle = 'none'; document.getElementById('section-form').removeAttribute('hx-trigger')"
    )  # no draft save between: the stale case itself
    web.fill({"f-A3-1": "3", "f-A3-2": "40"})
    web.press("save")
    assert "cửa sổ hoặc máy khác" in web.text("notice")
    assert web.by_id("f-A3-1").get_attribute("value") == "3"
    assert web.by_id("f-A3-2").get_attribute("value") == "40"
    web.shot("2-tab-cu")
    web.press("overwrite")  # the person chooses to keep this one
    web.open(f"/dot/{campaign}/muc/A3")
    assert web.by_id("f-A3-1").get_attribute("value") == "3"


def test_a_double_submit_stores_one_submission(web, area, client):
    unit = area["people"]["unit_b"]
    campaign = area["campaign"]
    password = first_sign_in(web, unit)
    auth = client.login(unit["username"], password, activate=False)
    body = {"campaign_id": campaign, "form_code": "1/HC-TB", "unit_id": area["b"]["unit_id"], "answers": valid_hc_tb()}
    assert client.forms.put("/submissions/draft", json=body, headers=auth).status_code == 200
    web.open(f"/dot/{campaign}/kiem-tra")
    # Two posts of the same form at once, as a double click whose second click got through.
    statuses = web.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const form = document.querySelector('form[action$="/gui"]');
        const send = () => fetch(form.action, {method: 'POST', body: new FormData(form), redirect: 'follow'})
            .then(r => [r.status, r.url]);
        Promise.all([send(), send()]).then(done);
    """)
    assert all(status == 200 and url.endswith("/da-gui") for status, url in statuses), statuses
    sid = f"{campaign}:{area['b']['unit_id']}"
    stored = client.forms.get(f"/submissions/{sid}", headers=auth).json()
    assert stored["revision"] == 1
    assert [h["action"] for h in stored["history"]] == ["submitted"]


def test_pages_refuse_forms_without_their_csrf_token_and_carry_strict_headers(platform):
    web_url = platform["web"].url
    with httpx.Client(base_url=web_url) as http:
        page = http.get("/dang-nhap")
        headers = page.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
        refused = http.post("/dang-nhap", data={"username": "admin", "password": "x"})
        assert refused.status_code == 403 and "Biểu mẫu" in refused.text
        forged = http.post("/dang-nhap", data={"username": "admin", "password": "x", "csrf_token": "0" * 64})
        assert forged.status_code == 403
        accepted = http.post("/dang-nhap", data={"username": "admin", "password": "x", "csrf_token": token})
        assert accepted.status_code == 422  # past the CSRF check: a wrong password
        session_cookie = [c for c in page.headers.get_list("set-cookie") if c.startswith("moha_csrf=")][0]
        assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie.replace("Strict", "strict")
