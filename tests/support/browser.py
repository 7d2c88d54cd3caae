"""A real browser for the web pages: Chromium, headless, driven through chromedriver (Debian's
`chromium` and `chromium-driver` packages, or CHROME_BINARY / CHROMEDRIVER)."""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL = (
    "A browser is needed for the web page tests: `apt-get install chromium chromium-driver` "
    "(or set CHROME_BINARY and CHROMEDRIVER)."
)


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = os.environ.get("CHROME_BINARY") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail(INSTALL, pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=vi-VN",
        "--window-size=1200,1600",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)
