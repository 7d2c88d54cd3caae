"""One form across the four processes over the real broker and store: submit, review, approve or
return, and the unit told in its inbox and by e-mail."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.answers import valid_hc_tb
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e

ANSWERS = valid_hc_tb()


def ensure_campaign(client, campaign, form_code="1/HC-TB", review_levels=("district",)):
    """Tests name campaigns freely: each is opened (nationwide, open now) the first time it is used.
    One review level unless a test asks for the chain (test_review_chain.py)."""
    if (campaign, form_code) in client.campaigns:
        return
    today = datetime.now(UTC).date()
    response = client.forms.post(
        "/campaigns",
        headers=client.admin_auth,
        json={
            "campaign_id": campaign,
            "form_code": form_code,
            "title": f"Đợt thử {campaign}",
            "scope_unit_ids": ["root"],
            "opens_on": str(today - timedelta(days=2)),
            "closes_on": str(today + timedelta(days=60)),
            "review_levels": list(review_levels),
        },
    )
    assert response.status_code in (201, 409), response.text
    client.campaigns.add((campaign, form_code))


def submit(client, auth, unit_id, answers=ANSWERS, campaign="dtcshc-2021", **extra):
    ensure_campaign(client, campaign)
    body = {"campaign_id": campaign, "form_code": "1/HC-TB", "unit_id": unit_id, "answers": answers, **extra}
    # A unit registered a moment ago reaches forms by event: until then forms says so (409
    # unit_unknown, "try again"), as it would to a person; on a loaded machine that takes seconds.
    deadline = time.monotonic() + 30
    while True:
        response = client.forms.post("/submissions", json=body, headers=auth)
        if (
            response.status_code != 409
            or response.json()["error"]["code"] != "unit_unknown"
            or time.monotonic() > deadline
        ):
            return response
        time.sleep(0.2)


def open_task_for(client, supervisor_auth, submission_id, revision, timeout=20.0):
    def find():
        tasks = client.approvals.get("/tasks", headers=supervisor_auth).json()
        return next((t for t in tasks if t["submission_id"] == submission_id and t["revision"] == revision), None)

    return eventually(find, timeout=timeout)


def submission(client, auth, sid):
    return client.forms.get(f"/submissions/{sid}", headers=auth).json()


def test_submit_approve_notify(client, district, smtp_server):
    response = submit(client, district["a_auth"], district["unit_a"]["unit_id"])
    assert response.status_code == 201, response.text
    sub = response.json()
    assert (sub["status"], sub["revision"]) == ("submitted", 1)

    task = open_task_for(client, district["supervisor_auth"], sub["submission_id"], 1)
    decision = client.approvals.post(
        f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
    )
    assert decision.status_code == 200, decision.text
    assert decision.json()["status"] == "approved"

    eventually(lambda: submission(client, district["a_auth"], sub["submission_id"])["status"] == "approved")
    inbox = eventually(
        lambda: (
            (items := client.notifications.get("/inbox", headers=district["a_auth"]).json()["items"])
            and items[0]["kind"] == "form_approved"
            and items
        )
    )
    assert "đã được duyệt" in inbox[0]["title"]

    mail = smtp_server.wait_for(district["account_a"]["username"] + "@example.vn", template="form_approved")
    assert len(mail) == 1
    assert mail[0]["Subject"] == "Phiếu của đơn vị đã được duyệt"
    assert sub["submission_id"] in mail[0].get_content()
    # The other unit of the district heard nothing.
    assert smtp_server.to(district["account_b"]["username"] + "@example.vn", "form_approved") == []


def test_return_with_reason_then_resubmit(client, district, smtp_server):
    sid = submit(client, district["b_auth"], district["unit_b"]["unit_id"]).json()["submission_id"]
    task = open_task_for(client, district["supervisor_auth"], sid, 1)

    no_reason = client.approvals.post(
        f"/tasks/{task['task_id']}/return", json={"revision": 1, "reason": "  "}, headers=district["supervisor_auth"]
    )
    assert no_reason.status_code == 422
    returned = client.approvals.post(
        f"/tasks/{task['task_id']}/return",
        json={"revision": 1, "reason": "Mục A2.2.2 tính cả người của đơn vị mình"},
        headers=district["supervisor_auth"],
    )
    assert returned.status_code == 200, returned.text

    sub = eventually(lambda: (s := submission(client, district["b_auth"], sid))["status"] == "returned" and s)
    assert sub["return_reason"] == "Mục A2.2.2 tính cả người của đơn vị mình"
    mail = smtp_server.wait_for(district["account_b"]["username"] + "@example.vn", template="form_returned")
    assert mail[0]["Subject"] == "Phiếu của đơn vị bị trả lại"
    assert "Lý do: Mục A2.2.2 tính cả người của đơn vị mình" in mail[0].get_content()

    again = submit(
        client,
        district["b_auth"],
        district["unit_b"]["unit_id"],
        answers={**ANSWERS, "A2.2.2": 1},
        expected_version=sub["version"],
    )
    assert again.status_code == 201, again.text
    assert again.json()["revision"] == 2
    task2 = open_task_for(client, district["supervisor_auth"], sid, 2)
    # A decision about the old revision is refused; the new one goes through.
    stale = client.approvals.post(
        f"/tasks/{task2['task_id']}/approve", json={"revision": 1}, headers=district["supervisor_auth"]
    )
    assert stale.status_code == 409
    ok = client.approvals.post(
        f"/tasks/{task2['task_id']}/approve", json={"revision": 2}, headers=district["supervisor_auth"]
    )
    assert ok.status_code == 200
    twice = client.approvals.post(
        f"/tasks/{task2['task_id']}/approve", json={"revision": 2}, headers=district["supervisor_auth"]
    )
    assert twice.status_code == 409
    final = eventually(lambda: (s := submission(client, district["b_auth"], sid))["status"] == "approved" and s)
    assert [h["action"] for h in final["history"]] == ["submitted", "returned", "submitted", "approved"]
