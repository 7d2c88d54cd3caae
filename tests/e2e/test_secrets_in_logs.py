"""Secrets never reach a log. Sentinel secrets (passwords, initial passwords of a reset and of an
import, survey tokens, bearer tokens) go through every path that fails: a wrong sign-in, a wrong
password change, a password the policy refuses, a number the store cannot keep, an unknown survey
link, and an unhandled error forced inside routes (the `error-header` fault of tests/support/faults.py);
then every service's log file is searched for each of them."""

import csv
import io
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_drafts_and_exports import draft
from tests.e2e.test_notifications import WAIT
from tests.e2e.test_par_survey import sheet_csv, survey  # noqa: F401 - the fixture
from tests.support.platform import new_password_for

pytestmark = pytest.mark.e2e
LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]+)")
FAULT = {"X-Fault": "error"}


def sentinel(kind: str) -> str:
    # Meets the password policy, so that a forced error happens past every check.
    return f"Snt-{kind}-{uuid.uuid4().hex[:10]}-X9"


def logs(platform) -> dict[str, str]:
    return {path.name: path.read_text(errors="replace") for path in Path(platform.log_dir).glob("*.log")}


def test_no_secret_reaches_any_log(client, admin, district, survey, smtp_server, platform):  # noqa: F811
    secrets: dict[str, str] = {}
    forced: list[tuple[str, str]] = []  # (service, correlation id) of each unhandled error forced
    statuses: list[tuple[str, int, int]] = []  # (what, expected, got)

    def expect(what, response, status):
        statuses.append((what, status, response.status_code))
        return response

    def force(service, method, path, **kwargs):
        cid = f"forced-{uuid.uuid4().hex[:12]}"
        forced.append((service, cid))
        headers = {**kwargs.pop("headers", {}), **FAULT, "X-Correlation-ID": cid}
        return expect(
            f"forced {method} {path[:40]}", client.http[service].request(method, path, headers=headers, **kwargs), 500
        )

    account_a, account_b = district["account_a"], district["account_b"]
    secrets["bearer token"] = district["a_auth"]["Authorization"].split()[1]
    secrets["admin bearer token"] = admin["Authorization"].split()[1]

    # A number the store cannot keep in a draft (the 500 of issue 11), and a forced error in forms.
    campaign, unit = f"snt-{uuid.uuid4().hex[:6]}", district["unit_a"]["unit_id"]
    unit_auth = district["a_auth"]
    draft(client, unit_auth, unit, {}, campaign)
    expect(
        "400-digit answer",
        client.forms.put(
            "/submissions/draft",
            headers={**unit_auth, "Content-Type": "application/json"},
            content=(
                f'{{"campaign_id": "{campaign}", "form_code": "1/HC-TB", "unit_id": "{unit}", '
                f'"answers": {{"A2.1": {"9" * 400}}}}}'
            ).encode(),
        ),
        422,
    )
    force(
        "forms",
        "PUT",
        "/submissions/draft",
        headers=unit_auth,
        json={"campaign_id": campaign, "form_code": "1/HC-TB", "unit_id": unit, "answers": {"A1.1": "Xã"}},
    )
    for service in ("approvals", "notifications"):
        force(service, "GET", "/health/live", headers=unit_auth)

    # Signing in with a wrong password, for a known and an unknown name; and a forced error with
    # the right password in the body.
    secrets["wrong password"] = sentinel("wrong")
    expect(
        "wrong password",
        client.accounts.post(
            "/auth/token", json={"username": account_a["username"], "password": secrets["wrong password"]}
        ),
        401,
    )
    expect(
        "unknown name",
        client.accounts.post(
            "/auth/token", json={"username": f"khong.co.{uuid.uuid4().hex[:6]}", "password": secrets["wrong password"]}
        ),
        401,
    )
    secrets["password"] = new_password_for(account_a["initial_password"])
    force("accounts", "POST", "/auth/token", json={"username": account_a["username"], "password": secrets["password"]})

    # Changing a password: a wrong current one, a new one the policy refuses, and a forced error.
    secrets["wrong current password"] = sentinel("current")
    secrets["new password"] = sentinel("new")
    secrets["weak new password"] = "snt" + uuid.uuid4().hex[:5]
    expect(
        "wrong current password",
        client.accounts.post(
            "/auth/password",
            headers=district["a_auth"],
            json={"current_password": secrets["wrong current password"], "new_password": secrets["new password"]},
        ),
        401,
    )
    expect(
        "weak new password",
        client.accounts.post(
            "/auth/password",
            headers=district["a_auth"],
            json={"current_password": secrets["password"], "new_password": secrets["weak new password"]},
        ),
        422,
    )
    force(
        "accounts",
        "POST",
        "/auth/password",
        headers=district["a_auth"],
        json={"current_password": secrets["password"], "new_password": secrets["new password"]},
    )

    # A reset: the new initial password, then a forced error signing in with it.
    reset = client.accounts.post(
        f"/accounts/{account_b['account_id']}/reset-password", headers=admin, json={"reason": "Quên mật khẩu"}
    )
    assert reset.status_code == 200, reset.text
    secrets["reset initial password"] = reset.json()["initial_password"]
    force(
        "accounts",
        "POST",
        "/auth/token",
        json={"username": account_b["username"], "password": secrets["reset initial password"]},
    )

    # An import's initial passwords: downloaded once, refused the second time, and a forced error.
    tag = uuid.uuid4().hex[:6]
    sheet = io.StringIO()
    writer = csv.writer(sheet)
    writer.writerow(["username", "unit_code", "role", "display_name", "email"])
    writer.writerows(
        [[f"nk{i}.{tag}", district["unit_a"]["code"], "reporting_unit", f"Người {i}", ""] for i in range(2)]
    )
    issued = client.accounts.post(
        "/accounts/import", content=sheet.getvalue().encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert issued.status_code == 201, issued.text
    address = issued.json()["credentials"]
    download = client.accounts.get(address, headers=admin, params={"format": "csv"})
    assert download.status_code == 200, download.text
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))[1:]
    for i, row in enumerate(rows):
        secrets[f"imported initial password {i}"] = row[1]
    expect("credentials again", client.accounts.get(address, headers=admin, params={"format": "csv"}), 409)
    force("accounts", "GET", address, headers=admin, params={"format": "csv"})
    force("accounts", "POST", "/auth/token", json={"username": rows[0][0], "password": rows[0][1]})

    # Survey links: an unknown one, and a real one (from its e-mail) through every failing path.
    secrets["unknown survey token"] = "snt" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    expect("unknown link", client.forms.get(f"/s/{secrets['unknown survey token']}"), 404)
    expect(
        "unknown link page",
        client.forms.get(f"/s/{secrets['unknown survey token']}", headers={"Accept": "text/html"}),
        404,
    )
    s, P = survey, survey["province"]["unit_id"]
    address = f"snt.{tag}@nghean.gov.vn"
    assert (
        client.forms.post(
            f"/surveys/{s['id']}/lists/{P}/import",
            headers={**s["auth"]["province"], "Content-Type": "text/csv"},
            content=sheet_csv([("Đinh Thị Bí Mật", address, "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", "")]),
        ).status_code
        == 200
    )
    assert client.forms.post(f"/surveys/{s['id']}/lists/{P}/submit", headers=s["auth"]["province"]).status_code == 200
    assert client.forms.post(f"/surveys/{s['id']}/dispatch", headers=admin).json()["issued"] == 1
    mail = smtp_server.wait_for(address, template="survey_invitation", timeout=WAIT)[0]
    token = secrets["survey token"] = LINK.search(mail.get_content()).group(1)
    expect("bad answers", client.forms.put(f"/s/{token}/draft", json={"answers": {"Q1": 99}}), 422)
    expect(
        "huge answer",
        client.forms.put(
            f"/s/{token}/draft",
            headers={"Content-Type": "application/json"},
            content=b'{"answers": {"Q1": ' + b"9" * 400 + b"}}",
        ),
        422,
    )
    # The page itself is the web front's: the same answer through its form (and into its log).
    with httpx.Client(base_url=platform["web"].url, timeout=30) as browser:
        form = browser.get(f"/s/{token}")
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)
        expect(
            "huge answer from the page",
            browser.post(f"/s/{token}", data={"csrf_token": csrf, "action": "draft", "Q1": "9" * 400}),
            422,
        )
    force("forms", "GET", f"/s/{token}", headers={"Accept": "text/html"})
    force("forms", "PUT", f"/s/{token}/draft", json={"answers": {"Q1": 5}})
    force("forms", "POST", f"/s/{token}", json={"answers": {"Q1": 5}})

    # Then every service's log, whole.
    found = logs(platform)
    assert set(found) >= {"accounts.log", "forms.log", "approvals.log", "notifications.log"}
    leaks = [(what, name) for what, secret in secrets.items() for name, text in found.items() if secret in text]
    assert leaks == [], f"secrets in logs: {leaks}"
    assert [s for s in statuses if s[1] != s[2]] == []
    # The forced errors were logged (so the search above looked at real tracebacks), each where it
    # happened, with its correlation id and frames.
    for service, cid in forced:
        lines = [line for line in found[f"{service}.log"].splitlines() if cid in line and "unhandled error" in line]
        assert lines and '"frames"' in lines[0] and "InjectedFault" in lines[0], (service, cid)
