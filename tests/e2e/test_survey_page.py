"""A respondent answers in a real browser (headless Chromium): the e-mailed link opens the
questionnaire in Vietnamese; a wrong answer comes back named beside its question; a partial save
survives closing the page; the sent form thanks, and the link answers no more."""

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_notifications import WAIT
from tests.e2e.test_par_survey import sheet_csv, survey  # noqa: F401 - the fixture
from tests.support.browser import chrome
from tests.support.web import Page

pytestmark = pytest.mark.e2e
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]+)")


@pytest.fixture
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def press(browser, button_id):
    """Click a submit button and wait for the next page: its elements, not the old page's."""
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, button_id).click()
    WebDriverWait(browser, 20).until(expected_conditions.staleness_of(old))


def fill(browser, answers):
    for code, value in answers.items():
        box = browser.find_element(By.ID, code)
        box.clear()
        box.send_keys(str(value))


def test_a_respondent_answers_in_the_browser(client, admin, survey, smtp_server, browser):  # noqa: F811
    s, t = survey, survey["t"]
    P = s["province"]["unit_id"]
    address = f"dai.bieu.{t}@nghean.gov.vn"
    imported = client.forms.post(
        f"/surveys/{s['id']}/lists/{P}/import",
        headers={**s["auth"]["province"], "Content-Type": "text/csv"},
        content=sheet_csv([("Đinh Thị Đại Biểu", address, "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", "")]),
    )
    assert imported.status_code == 200, imported.text
    assert client.forms.post(f"/surveys/{s['id']}/lists/{P}/submit", headers=s["auth"]["province"]).status_code == 200
    assert client.forms.post(f"/surveys/{s['id']}/dispatch", headers=admin).json()["issued"] == 1
    link = LINK.search(
        smtp_server.wait_for(address, template="survey_invitation", timeout=WAIT)[0].get_content()
    ).group(1)

    browser.get(link)
    page = Page(browser, link.split("/s/")[0])
    page.axe()
    assert browser.find_element(By.TAG_NAME, "h1").text == s_title(s)
    assert "Hạn trả lời" in browser.page_source and browser.find_element(By.ID, "Q1")
    fill(browser, {"Q1": 9, "Q2": 11, "Q3": 8})
    press(browser, "send")
    assert "không được lớn hơn 10" in browser.find_element(By.ID, "error-Q2").text
    assert browser.find_element(By.ID, "error-Q4").text.startswith("Chưa trả lời")
    assert browser.find_element(By.ID, "Q1").get_attribute("value") == "9"  # what was typed stays
    page.axe()
    page.shot("7-khao-sat-loi")

    fill(browser, {"Q2": 7})
    press(browser, "draft")
    assert "Đã lưu tạm" in browser.find_element(By.ID, "notice").text
    browser.get(link)  # the page closed and opened again: the saved answers are there
    assert [browser.find_element(By.ID, q).get_attribute("value") for q in ("Q1", "Q2", "Q3")] == ["9", "7", "8"]

    fill(browser, {"Q4": 6, "Q5": 7, "Q6": 8, "Q7": 9, "Q8": "Cần công khai kết quả giải quyết hồ sơ"})
    press(browser, "send")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Đã nhận phiếu khảo sát"
    page.axe()
    browser.get(link)
    assert "đã được trả lời" in browser.find_element(By.ID, "message").text

    progress = client.forms.get(f"/surveys/{s['id']}/progress", headers=s["auth"]["province"]).json()
    hdnd = next(g for g in progress["owners"][0]["groups"] if g["group"] == "dai_bieu_hdnd")
    assert (hdnd["sent"], hdnd["opened"], hdnd["answered"]) == (1, 1, 1)
    answers = client.forms.get(f"/surveys/{s['id']}/responses", headers=admin).json()
    assert answers[0]["answers"]["Q8"] == "Cần công khai kết quả giải quyết hồ sơ"
    assert answers[0]["answers"]["Q2"] == 7

    browser.get(link.rsplit("/", 1)[0] + "/" + "z" * 43)
    assert "không đúng" in browser.find_element(By.ID, "message").text


def s_title(s):
    return f"Điều tra xã hội học Chỉ số CCHC {s['t']}"
