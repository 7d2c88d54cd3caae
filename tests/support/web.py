"""Driving the web front in a real browser: signing in, keyboard-only moves, axe-core checks on
every page (once per page structure, `Page.axe`), and the screenshots of docs/screenshots (taken
when MOHA_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"
BLOCKING = ("serious", "critical")


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is needed for the accessibility checks: run `bash web/vendor.sh` (npm ci)", pytrace=False)
    return AXE.read_text(encoding="utf-8")


# What axe-core's verdict on a page depends on, as one hash: every element with every attribute
# and its value, whether it holds text of its own, and the width it is laid out in. Numbers and
# hexadecimal ids are left out (a unit's page is another unit's page), and so are the values of
# value, href and action. The journeys load the same page in the same state again and again (the
# sign-in page, a form's section): a check of each is enough, and each check costs 0.2 s of CPU.
STRUCTURE = """
const skip = new Set(['value', 'href', 'action']);
let h = 2166136261;
const add = (s) => { for (let i = 0; i < s.length; i++) { h = Math.imul(h ^ s.charCodeAt(i), 16777619); } };
add(String(window.innerWidth));
const all = document.querySelectorAll('*');
for (const e of all) {
  add('<' + e.tagName);
  for (const a of e.attributes) {
    add(' ' + a.name + (skip.has(a.name) ? '' : '=' + a.value.replace(/[0-9a-f]{6,}|[0-9]+/g, '#')));
  }
  if ([...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) add('T');
}
return [typeof axe === 'object', (h >>> 0).toString(16) + ':' + all.length];
"""


class Page:
    """One browser on the web front."""

    def __init__(self, driver, base: str) -> None:
        self.d = driver
        self.base = base.rstrip("/")
        self.checked: list[str] = []
        # axe-core loads with every document the browser opens from now on: sent once, not with
        # each check (half a megabyte through chromedriver and a fresh parse each time).
        # A tab's own: a browser shared between tests opens a new tab for each (web_fixtures.py).
        preloaded = getattr(driver, "moha_axe_preloaded", set())
        if driver.current_window_handle not in preloaded:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": axe_source()})
            driver.moha_axe_preloaded = {*preloaded, driver.current_window_handle}

    # navigation ----------------------------------------------------------------------------
    def open(self, path: str, check: bool = True) -> None:
        self.d.get(self.base + path)
        if check:
            self.axe()

    def wait_new_page(self, old) -> None:
        # Chromium may answer mid-navigation that the node left the document: still loading.
        WebDriverWait(self.d, 20, ignored_exceptions=(WebDriverException,)).until(expected_conditions.staleness_of(old))

    def press(self, element_id: str, check: bool = True) -> None:
        """Click a button or link that loads another page, and wait for it."""
        old = self.d.find_element(By.TAG_NAME, "html")
        self.d.find_element(By.ID, element_id).click()
        self.wait_new_page(old)
        if check:
            self.axe()

    def by_id(self, element_id: str):
        return self.d.find_element(By.ID, element_id)

    def text(self, element_id: str) -> str:
        return self.by_id(element_id).text

    def h1(self) -> str:
        return self.d.find_element(By.TAG_NAME, "h1").text

    def path(self) -> str:
        return self.d.current_url.removeprefix(self.base)

    def fill(self, values: dict[str, str]) -> None:
        for element_id, value in values.items():
            # Select and overwrite: clear() would fire a change, and the field's check swaps it.
            self.by_id(element_id).send_keys(Keys.CONTROL, "a")
            self.by_id(element_id).send_keys(Keys.DELETE, value)

    # the keyboard alone --------------------------------------------------------------------
    def keys(self, *keys: str) -> None:
        ActionChains(self.d).send_keys(*keys).perform()

    def focused_id(self) -> str:
        return self.d.execute_script("return document.activeElement && document.activeElement.id || ''")

    def tab_to(self, element_id: str, limit: int = 120) -> None:
        """TAB (forward) until the element has the focus, as a person using the keyboard would."""
        for _ in range(limit):
            if self.focused_id() == element_id:
                return
            self.keys(Keys.TAB)
        raise AssertionError(f"TAB never reached #{element_id} (focus on #{self.focused_id()})")

    def key_press_loads(self, key: str, check: bool = True) -> None:
        old = self.d.find_element(By.TAG_NAME, "html")
        self.keys(key)
        self.wait_new_page(old)
        if check:
            self.axe()

    # checks --------------------------------------------------------------------------------
    def axe(self) -> None:
        """axe-core on the page as it is: no serious or critical WCAG 2.1 A/AA violation. A page
        identical in structure to one this browser has checked already is not checked again
        (STRUCTURE: the same elements with the same attributes, the same width)."""
        loaded, structure = self.d.execute_script(STRUCTURE)
        checked = self.d.__dict__.setdefault("moha_axe_checked", set())
        if structure not in checked:
            self._axe_run(loaded)
            checked.add(structure)
        # The strict CSP holds: nothing on the page tried an inline script or style.
        refused = [e["message"] for e in self.d.get_log("browser") if "Content Security Policy" in e["message"]]
        assert not refused, f"{self.path()}: {refused}"
        self.checked.append(self.path())

    def _axe_run(self, loaded: bool) -> None:
        if not loaded:
            self.d.execute_script(axe_source())  # a document opened before the preload
        result = self.d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then(r => done(JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))))
               .catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));
        """)
        violations = [v for v in json.loads(result) if v["impact"] in BLOCKING]
        assert not violations, f"{self.path()}: {json.dumps(violations, ensure_ascii=False, indent=1)}"

    def no_horizontal_scroll(self) -> None:
        widths = self.d.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if widths[0] > widths[1]:
            wide = self.d.execute_script("""const w = document.documentElement.clientWidth;
                return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1)
                  .slice(-5).map(e => e.tagName + '#' + e.id + '.' + e.className);""")
            raise AssertionError(f"{self.path()} scrolls sideways at {widths[1]}px: {widths[0]}px wide ({wide})")

    def shot(self, name: str, show: str | None = None) -> None:
        """A screenshot for docs/screenshots; `show`: an element id to bring into view first."""
        if os.environ.get("MOHA_SCREENSHOTS") == "1":
            if show:
                self.d.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'start'})", show)
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.d.save_screenshot(str(SHOTS / f"{name}.png"))

    # journeys' first steps -----------------------------------------------------------------
    def sign_in(self, username: str, password: str, *, check: bool = True) -> None:
        self.open("/dang-nhap", check=check)
        self.fill({"f-username": username, "f-password": password})
        self.press("sign-in", check=check)

    def change_password(self, current: str, new: str) -> None:
        self.fill({"f-current_password": current, "f-new_password": new, "f-confirm_password": new})
        self.press("change-password")

    def sign_out(self) -> None:
        self.press("sign-out", check=False)
