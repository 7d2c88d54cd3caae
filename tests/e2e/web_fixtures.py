"""An area of the tree for the web front's browser tests: a province with a district, two
communes and a provincial department, their accounts (not yet signed in: the browser changes the
issued passwords), and a census campaign of the province reviewed by the district, then the
province."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from selenium.common.exceptions import WebDriverException

from tests.support.browser import chrome
from tests.support.web import Page


@pytest.fixture(scope="session")
def chromium():
    """One Chromium per worker: starting one and loading its first page costs 1.5–2 s of CPU, and a
    run has two dozen browser tests. Each test still gets a fresh tab and no cookies (`browser`)."""
    holder = {"driver": None}
    yield holder
    if holder["driver"] is not None:
        with contextlib.suppress(WebDriverException):
            holder["driver"].quit()


@pytest.fixture
def browser(chromium):
    driver = chromium["driver"]
    if driver is not None:
        try:
            fresh_tab(driver)
        except WebDriverException:  # the last test left it broken: start another
            with contextlib.suppress(WebDriverException):
                driver.quit()
            driver = None
    if driver is None:
        driver = chromium["driver"] = chrome()
    driver.set_window_size(1000, 1200)
    yield driver


def fresh_tab(driver) -> None:
    """What a test left behind, gone: its tab (history, session storage, an open dialog), its
    cookies, its download folder and the console messages not read yet."""
    old = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.switch_to.window(old)
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})
    driver.get_log("browser")


@pytest.fixture
def web(browser, platform):
    return Page(browser, platform["web"].url)


def open_campaign(client, scope: str, t: str, *, deadline_days: int = 30, opened_days_ago: int = 2) -> str:
    today = datetime.now(UTC).date()
    campaign = f"web-{t}"
    deadline = str(today + timedelta(days=deadline_days))
    response = client.forms.post(
        "/campaigns",
        headers=client.admin_auth,
        json={
            "campaign_id": campaign,
            "form_code": "1/HC-TB",
            "title": f"Điều tra cơ sở hành chính {t}",
            "scope_unit_ids": [scope],
            "opens_on": str(today - timedelta(days=opened_days_ago)),
            "closes_on": str(today + timedelta(days=max(deadline_days, 0) + 30)),
            "deadlines": {"province": deadline, "district": deadline},
            "review_levels": ["district", "province"],
        },
    )
    assert response.status_code == 201, response.text
    return campaign


@pytest.fixture
def area(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"wP{t}", f"Tỉnh Web {t}", "province")
    D = client.new_unit(admin, P["unit_id"], f"wD{t}", f"Huyện Web {t}", "district")
    a = client.new_unit(admin, D["unit_id"], f"wa{t}", f"Xã Web A {t}", "commune")
    b = client.new_unit(admin, D["unit_id"], f"wb{t}", f"Xã Web B {t}", "commune")
    s = client.new_unit(admin, P["unit_id"], f"ws{t}", f"Sở Nội vụ Web {t}", "agency")
    people = {
        "unit_a": client.new_account(admin, a["unit_id"], f"dva.{t}", "reporting_unit", f"dva.{t}@example.vn"),
        "unit_b": client.new_account(admin, b["unit_id"], f"dvb.{t}", "reporting_unit", f"dvb.{t}@example.vn"),
        "unit_s": client.new_account(admin, s["unit_id"], f"dvs.{t}", "reporting_unit", f"dvs.{t}@example.vn"),
        "district": client.new_account(admin, D["unit_id"], f"gsh.{t}", "district_supervisor", f"gsh.{t}@example.vn"),
        "province": client.new_account(admin, P["unit_id"], f"gst.{t}", "province_supervisor", f"gst.{t}@example.vn"),
    }
    campaign = open_campaign(client, P["unit_id"], t)
    return {"t": t, "P": P, "D": D, "a": a, "b": b, "s": s, "people": people, "campaign": campaign}


def new_password(initial: str) -> str:
    return initial + "-Moi2026"
