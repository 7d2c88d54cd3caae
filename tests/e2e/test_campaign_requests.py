"""What a campaign request gets wrong is a 422 with the field and a Vietnamese message, before the
handler runs: never a 500 from a campaign that could not be built inside it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.e2e


def fields(response):
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "invalid_request"
    return {e["field"]: e for e in body["errors"]}


def test_periodic_reports_with_an_empty_form_code_or_unit_are_refused(client, admin):
    t = uuid.uuid4().hex[:6]
    periodic = {
        "base_id": f"bcdk-{t}",
        "form_code": "1/HC-TB",
        "title": "Báo cáo định kỳ ngành Nội vụ",
        "scope_unit_ids": ["root"],
        "year": 2031,
    }
    assert "form_code" in fields(
        client.forms.post("/campaigns/periodic", headers=admin, json={**periodic, "form_code": ""})
    )
    assert "scope_unit_ids.0" in fields(
        client.forms.post("/campaigns/periodic", headers=admin, json={**periodic, "scope_unit_ids": [""]})
    )
    title = fields(
        client.forms.post("/campaigns/periodic", headers=admin, json={**periodic, "title": "Báo cáo\nđịnh kỳ"})
    )["title"]
    assert title["type"] == "single_line" and title["message"].startswith("Chỉ được viết trên một dòng")


def test_a_campaign_title_on_two_lines_is_refused(client, admin):
    today = datetime.now(UTC).date()
    response = client.forms.post(
        "/campaigns",
        headers=admin,
        json={
            "campaign_id": f"c2l-{uuid.uuid4().hex[:6]}",
            "form_code": "1/HC-TB",
            "title": "Điều tra\r\nBcc: x@y.vn",
            "scope_unit_ids": ["root"],
            "opens_on": str(today),
            "closes_on": str(today + timedelta(days=30)),
        },
    )
    assert fields(response)["title"]["type"] == "single_line"
