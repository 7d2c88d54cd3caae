"""Drafts saved as a unit goes, and exports of a few thousand submissions that a spreadsheet
program opens."""

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook
from pymongo import MongoClient

from tests.e2e.test_flow import ensure_campaign, submit
from tests.support.answers import valid_hc_tb

pytestmark = pytest.mark.e2e


def draft(client, auth, unit_id, answers, campaign, **extra):
    ensure_campaign(client, campaign)
    return client.forms.put(
        "/submissions/draft",
        headers=auth,
        json={"campaign_id": campaign, "form_code": "1/HC-TB", "unit_id": unit_id, "answers": answers, **extra},
    )


def test_draft_saved_as_you_go_then_submitted(client, district):
    campaign, unit = f"draft-{uuid.uuid4().hex[:6]}", district["unit_a"]["unit_id"]
    first = draft(client, district["a_auth"], unit, {"A1.1": "Xã A", "A2.1": 25}, campaign)
    assert first.status_code == 200 and first.json()["status"] == "draft"
    wrong = draft(client, district["a_auth"], unit, {"A2.1": "hai mươi"}, campaign)
    assert wrong.status_code == 422 and wrong.json()["error"]["errors"][0]["field"] == "A2.1"
    stale = draft(client, district["a_auth"], unit, {"A1.1": "Xã A"}, campaign, expected_version=0)
    assert stale.status_code == 409
    other = draft(client, district["b_auth"], unit, {"A1.1": "Xã B"}, campaign)
    assert other.status_code == 403
    sent = submit(client, district["a_auth"], unit, campaign=campaign, expected_version=first.json()["version"])
    assert sent.status_code == 201 and sent.json()["revision"] == 1
    assert draft(client, district["a_auth"], unit, {"A1.1": "sau khi gửi"}, campaign).status_code == 409


def test_export_of_thousands_opens_in_a_spreadsheet_reader(client, admin, district, platform, mongo_url):
    campaign = f"export-{uuid.uuid4().hex[:6]}"
    db = platform["forms"].env["DATABASE"]
    answers = [{"field": k, "value": v} for k, v in valid_hc_tb().items()]
    with MongoClient(mongo_url) as mongo:
        forms = mongo[db]
        # Volume straight into forms' own database: thousands of submissions through HTTP would
        # only measure the HTTP path, which other tests cover.
        units = [
            {
                "_id": f"x{campaign}-{i}",
                "code": f"X{i:05d}",
                "name": f"Xã số {i}",
                "level": "commune",
                "parent_id": district["district"]["unit_id"],
                "path": ["root", district["province"]["unit_id"], district["district"]["unit_id"]],
            }
            for i in range(3000)
        ]
        forms["units"].insert_many(units)
        forms["submissions"].insert_many(
            [
                {
                    "_id": f"{campaign}:{u['_id']}",
                    "campaign_id": campaign,
                    "form_code": "1/HC-TB",
                    "unit_id": u["_id"],
                    "status": "submitted",
                    "revision": 1,
                    "answers": answers,
                    "return_reason": None,
                    "history": [],
                    "definition_version": 1,
                    "version": 1,
                }
                for u in units
            ]
        )
    # And one real one, from a unit of another province, out of the district's area.
    other = client.new_unit(admin, "root", f"E{campaign[-6:]}", "Tỉnh khác", "province")
    account = client.new_account(admin, other["unit_id"], f"ex.{campaign[-6:]}", "reporting_unit")
    other_auth = client.login(account["username"], account["initial_password"])
    assert submit(client, other_auth, other["unit_id"], campaign=campaign).status_code == 201

    params = {"campaign_id": campaign, "form_code": "1/HC-TB"}
    xlsx = client.forms.get("/exports/submissions", params={**params, "format": "xlsx"}, headers=admin, timeout=120)
    assert xlsx.status_code == 200
    rows = list(load_workbook(io.BytesIO(xlsx.content), read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 3002  # header, 3,000 units, the other province's unit
    assert rows[0][:6] == ("Mã phiếu", "Mã đơn vị", "Tên đơn vị", "Trạng thái", "Lần gửi", "Phiên bản mẫu phiếu")
    assert "A2.2.2 Lao động từ cơ quan" in " ".join(str(h) for h in rows[0])
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Trạng thái"] == "Đã gửi" and first["A1.4 Có trụ sở làm việc riêng"] == "Có"

    # The district's supervisor gets its area only, as CSV.
    area = client.forms.get(
        "/exports/submissions", params={**params, "format": "csv"}, headers=district["supervisor_auth"], timeout=120
    )
    assert area.status_code == 200 and area.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(area.content.decode("utf-8-sig"))))
    assert len(table) == 3001
    # A unit gets its own submission only.
    own = client.forms.get("/exports/submissions", params={**params, "format": "csv"}, headers=other_auth)
    assert len(list(csv.reader(io.StringIO(own.content.decode("utf-8-sig"))))) == 2
