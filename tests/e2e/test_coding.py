"""Supervisors' coding (ghi mã, seed 001): a supervisor above the unit sets the official code of an
answer, checked against the code list; nobody else may, and a bad code is refused with the field."""

import uuid

import pytest

from tests.e2e.test_flow import submit
from tests.support.answers import valid_hc_tb
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def test_a_supervisor_codes_the_units_activity(client, district, admin):
    campaign = f"coding-{uuid.uuid4().hex[:8]}"
    sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign=campaign).json()["submission_id"]
    sup = district["supervisor_auth"]

    def code(field, value, auth=sup):
        return client.forms.put(f"/submissions/{sid}/coding", json={"field": field, "code": value}, headers=auth)

    coded = code("A4.1.ma", "84")
    assert coded.status_code == 200, coded.text
    assert [(c["field"], c["code"], c["revision"]) for c in coded.json()["coding"]] == [("A4.1.ma", "84", 1)]
    assert coded.json()["answers"].get("A4.1.ma") is None  # the unit's own answers are left as given
    assert code("A4.1.ma", "85").json()["coding"][0]["code"] == "85"  # the latest coding stands

    bad = code("A4.1.ma", "04")
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["error"]["errors"]] == ["A4.1.ma"]
    assert code("A1.1", "84").json()["error"]["code"] == "not_a_code_field"
    assert code("A4.1.ma", "84", district["a_auth"]).status_code == 403
    assert code("A4.1.ma", "84", district["b_auth"]).status_code == 404  # another unit: not even seen
    # A supervisor of another district does not see it.
    other = client.new_unit(
        admin, district["province"]["unit_id"], f"X{uuid.uuid4().hex[:6]}", "Huyện khác", "district"
    )
    account = client.new_account(admin, other["unit_id"], f"gx.{uuid.uuid4().hex[:6]}", "district_supervisor")
    assert code("A4.1.ma", "84", client.login(account["username"], account["initial_password"])).status_code == 404

    sectors = eventually(
        lambda: client.forms.get("/codelists/vsic2018", params={"level": 2, "q": "giáo dục"}, headers=sup).json()
    )
    assert [e["code"] for e in sectors["entries"]] == ["85"]
    assert client.forms.get("/codelists/vcpa2018", headers=sup).json()["pattern"] == r"\d{7}"


def test_units_are_a_code_list_from_the_tree(client, district):
    code = district["district"]["code"]
    campaign = f"units-{uuid.uuid4().hex[:8]}"
    unknown = submit(
        client,
        district["a_auth"],
        district["unit_a"]["unit_id"],
        campaign=campaign,
        answers={**valid_hc_tb(), "A1.6": "KHONG-CO-MA-NAY"},
    )
    assert unknown.status_code == 422
    assert [(e["field"], "Danh mục đơn vị hành chính" in e["message"]) for e in unknown.json()["error"]["errors"]] == [
        ("A1.6", True)
    ]
    known = submit(
        client,
        district["a_auth"],
        district["unit_a"]["unit_id"],
        campaign=campaign,
        answers={**valid_hc_tb(), "A1.6": code},
    )
    assert known.status_code == 201, known.text
    picker = client.forms.get("/codelists/units", params={"q": code.lower()}, headers=district["a_auth"]).json()
    assert [e["code"] for e in picker["entries"]] == [code] and picker["entries"][0]["level"] == "district"
