"""What every service's HTTP shell promises, seen from outside on the running platform: numbers the
store cannot keep are a 422, never a 500; security headers on JSON and on pages; an OpenAPI
document that lists the errors; /docs from the service's own files."""

import re
import uuid

import httpx
import pytest

from tests.e2e.test_drafts_and_exports import draft
from tests.e2e.test_notifications import WAIT
from tests.e2e.test_par_survey import sheet_csv, survey  # noqa: F401 - the fixture

LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]+")

pytestmark = pytest.mark.e2e


def test_a_400_digit_answer_in_a_draft_is_a_422_naming_its_field(client, district):
    campaign, unit = f"big-{uuid.uuid4().hex[:6]}", district["unit_a"]["unit_id"]
    raw = (
        f'{{"campaign_id": "{campaign}", "form_code": "1/HC-TB", "unit_id": "{unit}", '
        f'"answers": {{"A2.1": {"9" * 400}}}}}'
    )
    draft(client, district["a_auth"], unit, {}, campaign)  # opens the campaign, starts the draft
    for body in (raw, raw.replace("9" * 400, str(2**63)), raw.replace("9" * 400, "1e400")):
        response = client.forms.put(
            "/submissions/draft",
            content=body.encode(),
            headers={**district["a_auth"], "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        [problem] = response.json()["error"]["errors"]
        assert problem["field"] == "answers.A2.1" and problem["type"] == "number_out_of_range"
        assert "Số nằm ngoài khoảng cho phép" in problem["message"]
    kept = client.forms.get(f"/submissions/{campaign}:{unit}", headers=district["a_auth"]).json()
    assert kept["answers"] == {}  # nothing of the refused drafts was stored


# Security headers -------------------------------------------------------------------------------
def assert_secured(response, *, page=False):
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    if page:
        assert "script-src 'self'" in policy and "form-action 'self'" in policy
    else:
        assert policy.startswith("default-src 'none'")


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("accounts", "/me"),
        ("forms", "/definitions?form_code=1/HC-TB"),
        ("approvals", "/tasks"),
        ("notifications", "/inbox"),
        ("personnel", "/definitions"),
    ],
)
def test_each_service_answers_json_with_the_security_headers(client, admin, service, path):
    response = client.http[service].get(path, headers=admin)
    assert response.status_code == 200, response.text
    assert_secured(response)
    refused = client.http[service].get(path)  # errors too
    assert refused.status_code == 401
    assert_secured(refused)


def test_the_survey_page_has_the_page_policy_and_no_violation_in_a_browser(client, admin, survey, smtp_server):  # noqa: F811
    """The respondent's page is the web front's (decision 0011): its own headers, the strict policy
    with no inline style or script, and no referrer at all (the address is the respondent's secret)."""
    from selenium.webdriver.common.by import By

    from tests.support.browser import chrome

    s, t = survey, survey["t"]
    P = s["province"]["unit_id"]
    address = f"csp.{t}@nghean.gov.vn"
    assert (
        client.forms.post(
            f"/surveys/{s['id']}/lists/{P}/import",
            headers={**s["auth"]["province"], "Content-Type": "text/csv"},
            content=sheet_csv([("Lê Văn Chính Sách", address, "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", "")]),
        ).status_code
        == 200
    )
    assert client.forms.post(f"/surveys/{s['id']}/lists/{P}/submit", headers=s["auth"]["province"]).status_code == 200
    assert client.forms.post(f"/surveys/{s['id']}/dispatch", headers=admin).json()["issued"] == 1
    link = LINK.search(
        smtp_server.wait_for(address, template="survey_invitation", timeout=WAIT)[0].get_content()
    ).group(0)
    page = httpx.get(link, headers={"Accept": "text/html"}, timeout=15)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-store"
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert "script-src 'self'" in policy and "form-action 'self'" in policy
    browser = chrome()
    try:
        browser.get(link)
        assert browser.find_element(By.TAG_NAME, "h1").text
        assert [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]] == []
    finally:
        browser.quit()


# The contract ----------------------------------------------------------------------------------
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize("service", ["accounts", "forms", "approvals", "notifications", "personnel"])
def test_each_service_documents_its_error_statuses(client, service):
    contract = client.http[service].get("/openapi.json").json()
    assert "HTTPValidationError" not in str(contract)
    operations = [(path, method, op) for path, ops in contract["paths"].items() for method, op in ops.items()]
    assert operations
    for path, method, op in operations:
        responses, where = op["responses"], f"{method.upper()} {path}"
        errors = {s for s in responses if s[0] in "45"}
        assert "500" in errors, where
        for status in errors - {"503"}:
            assert responses[status]["content"]["application/json"]["schema"] == ERROR_BODY, (where, status)
        token_required = op.get("security") and {} not in op["security"]
        if token_required:
            assert "401" in errors, where
            if path != "/auth/password":  # the one route open before the issued password is changed
                assert "403" in errors, where
        if "{" in path:
            assert "404" in errors, where
        if method in ("post", "put", "patch", "delete"):
            assert {"413", "422"} <= errors, where
            if token_required or "{" in path:
                assert "409" in errors, where
        names = {p["name"] for p in op.get("parameters", [])}
        if "format" in names:
            success = next(responses[s] for s in responses if s.startswith("2"))
            assert {"text/csv", XLSX} == set(success["content"]), where


@pytest.mark.parametrize("service", ["accounts", "forms", "approvals", "notifications", "personnel"])
def test_docs_are_served_from_the_service_itself(client, service):
    page = client.http[service].get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http" not in page.text  # no CDN, no outside address at all
    assert_secured(page, page=True)
    assert client.http[service].get("/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_docs_work_in_a_browser_under_the_page_policy(client):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import chrome

    browser = chrome()
    try:
        browser.get(str(client.forms.base_url) + "/docs")
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
        assert "MOHA forms" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
        assert [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]] == []
    finally:
        browser.quit()
