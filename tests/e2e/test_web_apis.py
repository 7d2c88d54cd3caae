"""The APIs the web front's pages need, scope-checked like every other route: a sibling sees
nothing, a unit sees only its own, those above see what is under them."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.test_flow import open_task_for
from tests.e2e.web_fixtures import open_campaign
from tests.support.answers import valid_hc_tb

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_districts(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"aP{t}", f"Tỉnh API {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"aD1{t}", "Huyện Một", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"aD2{t}", "Huyện Hai", "district")
    a = client.new_unit(admin, D1["unit_id"], f"aa{t}", "Xã A", "commune")
    b = client.new_unit(admin, D1["unit_id"], f"ab{t}", "Xã B", "commune")
    c = client.new_unit(admin, D2["unit_id"], f"ac{t}", "Xã C", "commune")
    people = {}
    for name, unit, role in (
        ("a", a, "reporting_unit"),
        ("b", b, "reporting_unit"),
        ("c", c, "reporting_unit"),
        ("sup1", D1, "district_supervisor"),
        ("sup2", D2, "district_supervisor"),
        ("prov", P, "province_supervisor"),
    ):
        account = client.new_account(admin, unit["unit_id"], f"api{name}.{t}", role, f"api{name}.{t}@example.vn")
        people[name] = {**account, "auth": client.login(account["username"], account["initial_password"])}
    campaign = open_campaign(client, P["unit_id"], t)
    answers = valid_hc_tb()
    sub = client.forms.post(
        "/submissions",
        headers=people["a"]["auth"],
        json={"campaign_id": campaign, "form_code": "1/HC-TB", "unit_id": a["unit_id"], "answers": answers},
    )
    assert sub.status_code == 201, sub.text
    return {
        "P": P,
        "D1": D1,
        "D2": D2,
        "a": a,
        "b": b,
        "c": c,
        "people": people,
        "campaign": campaign,
        "sid": sub.json()["submission_id"],
    }


def test_a_units_campaigns_and_an_areas_campaigns(client, two_districts):
    x = two_districts
    p, a = x["people"], x["a"]["unit_id"]
    mine = client.forms.get(f"/units/{a}/campaigns", headers=p["a"]["auth"]).json()
    row = next(c for c in mine["items"] if c["campaign_id"] == x["campaign"])
    assert row["submission"]["status"] == "submitted" and row["deadline"]
    assert client.forms.get(f"/units/{a}/campaigns", headers=p["sup1"]["auth"]).status_code == 200
    for sibling in ("b", "c", "sup2"):
        assert client.forms.get(f"/units/{a}/campaigns", headers=p[sibling]["auth"]).status_code == 404
    area = client.forms.get("/campaigns", params={"area": x["P"]["unit_id"]}, headers=p["prov"]["auth"]).json()
    assert x["campaign"] in [c["campaign_id"] for c in area["items"]]
    assert (
        client.forms.get("/campaigns", params={"area": x["D1"]["unit_id"]}, headers=p["sup2"]["auth"]).status_code
        == 404
    )


def test_an_areas_submissions_the_checks_and_validation(client, two_districts):
    x = two_districts
    p = x["people"]
    params = {"campaign_id": x["campaign"], "area": x["D1"]["unit_id"]}
    found = client.forms.get("/submissions", params=params, headers=p["sup1"]["auth"]).json()
    assert [s["submission_id"] for s in found["items"]] == [x["sid"]] and found["total"] == 1
    assert client.forms.get("/submissions", params=params, headers=p["sup2"]["auth"]).status_code == 404
    assert client.forms.get("/submissions", params=params, headers=p["b"]["auth"]).status_code == 404
    own = client.forms.get("/submissions", params={"campaign_id": x["campaign"]}, headers=p["b"]["auth"]).json()
    assert own["items"] == []  # b's own area: b alone, with nothing sent
    checks = client.forms.get(f"/submissions/{x['sid']}/checks", headers=p["sup1"]["auth"])
    assert checks.status_code == 200 and all(r["holds"] for r in checks.json()["rules"])
    assert client.forms.get(f"/submissions/{x['sid']}/checks", headers=p["sup2"]["auth"]).status_code == 404
    body = {
        "campaign_id": x["campaign"],
        "form_code": "1/HC-TB",
        "unit_id": x["b"]["unit_id"],
        "answers": {"A2.1": "hai"},
    }
    checked = client.forms.post("/submissions/validate", json=body, headers=p["b"]["auth"]).json()
    assert not checked["valid"] and checked["errors"][0]["field"] == "A2.1"
    assert (
        client.forms.post(
            "/submissions/validate", json={**body, "unit_id": x["a"]["unit_id"]}, headers=p["b"]["auth"]
        ).status_code
        == 403
    )


def test_the_review_queue_paged_and_filtered(client, two_districts):
    x = two_districts
    p = x["people"]
    open_task_for(client, p["sup1"]["auth"], x["sid"], 1)
    page = client.approvals.get("/queue", params={"page_size": 1}, headers=p["sup1"]["auth"]).json()
    assert page["total"] == 1 and page["items"][0]["unit_code"] == x["a"]["code"]
    assert page["items"][0]["timeliness"] == "on_time"
    assert client.approvals.get("/queue", params={"late": "true"}, headers=p["sup1"]["auth"]).json()["total"] == 0
    assert client.approvals.get("/queue", params={"unit": "không có"}, headers=p["sup1"]["auth"]).json()["total"] == 0
    for other in ("sup2", "prov", "b"):
        assert client.approvals.get("/queue", headers=p[other]["auth"]).json()["total"] == 0


def test_the_children_of_a_unit_and_who_an_account_is(client, two_districts):
    x = two_districts
    p = x["people"]
    children = client.accounts.get(f"/units/{x['D1']['unit_id']}/children", headers=p["sup1"]["auth"]).json()
    assert [u["code"] for u in children["items"]] == sorted([x["a"]["code"], x["b"]["code"]])
    paged = client.accounts.get(
        f"/units/{x['P']['unit_id']}/children", params={"page_size": 1}, headers=p["prov"]["auth"]
    ).json()
    assert paged["total"] == 2 and len(paged["items"]) == 1
    for outsider in ("sup2", "a"):
        assert (
            client.accounts.get(f"/units/{x['D1']['unit_id']}/children", headers=p[outsider]["auth"]).status_code == 404
        )
    # A unit learns the name of the supervisor above it; not that of a sibling's.
    card = client.accounts.get(f"/accounts/{p['sup1']['account_id']}/card", headers=p["a"]["auth"])
    assert card.status_code == 200 and card.json()["unit_name"] == "Huyện Một"
    assert client.accounts.get(f"/accounts/{p['sup2']['account_id']}/card", headers=p["a"]["auth"]).status_code == 404
    assert client.accounts.get(f"/accounts/{p['b']['account_id']}/card", headers=p["a"]["auth"]).status_code == 404
    assert client.accounts.get(f"/accounts/{p['a']['account_id']}/card", headers=p["sup1"]["auth"]).status_code == 200
    assert client.accounts.get(f"/accounts/{p['a']['account_id']}/card", headers=p["sup2"]["auth"]).status_code == 404


def test_a_token_is_renewed_only_for_a_valid_account(client, two_districts, admin):
    p = two_districts["people"]
    fresh = client.accounts.post("/auth/refresh", headers=p["c"]["auth"])
    assert fresh.status_code == 200 and fresh.json()["access_token"]
    assert (
        client.accounts.post(
            f"/accounts/{p['c']['account_id']}/revoke", headers=admin, json={"reason": "Thử"}
        ).status_code
        == 200
    )
    assert client.accounts.post("/auth/refresh", headers=p["c"]["auth"]).status_code == 401
