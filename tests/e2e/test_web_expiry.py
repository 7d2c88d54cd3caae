"""A session that ends while a person works: the next page asks them to sign in again and brings
them back; a section saved after it ended carries what was typed through the sign-in (sealed)
and saves it once they are signed in. A second web front whose sessions last seconds, on the same
running services."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from deploy.launch import ServiceProcess, free_port
from tests.support.web import Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
MAX_AGE = 8


@pytest.fixture
def short_web(platform, tmp_path):
    env = {f"{name.upper()}_URL": platform[name].url for name in ("accounts", "forms", "approvals", "notifications")}
    process = ServiceProcess(
        "web",
        free_port(),
        {**env, "SESSION_KEY": "short-sessions", "SESSION_MAX_AGE_SECONDS": str(MAX_AGE)},
        tmp_path / "web-short.log",
        module="web",
    )
    process.start()
    process.wait_ready()
    yield process
    process.stop()


def test_an_expired_session_keeps_what_was_typed_through_sign_in(browser, short_web, area):
    web = Page(browser, short_web.url)
    unit = area["people"]["unit_a"]
    campaign = area["campaign"]
    password = unit["initial_password"] + "-Moi2026"
    web.sign_in(unit["username"], unit["initial_password"])
    web.change_password(unit["initial_password"], password)
    signed_in_at = time.monotonic()
    web.open(f"/dot/{campaign}/muc/A1")
    web.d.execute_script("document.getElementById('section-form').removeAttribute('hx-trigger')")
    time.sleep(max(0.0, MAX_AGE + 1 - (time.monotonic() - signed_in_at)))  # the session's whole life

    web.fill({"f-A1-1": "Ủy ban nhân dân xã Hết Hạn", "f-A1-2": "Thôn Giữ Nguyên"})
    web.by_id("expired")  # leaving a field said so beside the form, and left the fields as typed
    web.press("save")
    assert web.h1() == "Đăng nhập" and "hết hạn" in web.text("notice")
    assert not web.d.find_elements(By.ID, "sign-out")  # signed out: no menu, no name
    assert "Hết Hạn" not in web.d.page_source  # carried sealed, not readable in the page
    web.shot("1-het-han-giu-du-lieu")
    web.fill({"f-username": unit["username"], "f-password": password})
    web.press("sign-in")
    assert web.path().startswith(f"/dot/{campaign}/muc/A1")
    assert web.by_id("f-A1-1").get_attribute("value") == "Ủy ban nhân dân xã Hết Hạn"
    assert web.by_id("f-A1-2").get_attribute("value") == "Thôn Giữ Nguyên"
    assert "Đã lưu" in web.text("notice")

    # A page opened after the session ended: sign in again, and back to it.
    time.sleep(MAX_AGE + 1)
    web.open(f"/dot/{campaign}/lich-su")
    assert web.path().startswith("/dang-nhap") and "hết hạn" in web.text("notice")
    web.fill({"f-username": unit["username"], "f-password": password})
    web.press("sign-in")
    assert web.path() == f"/dot/{campaign}/lich-su"
