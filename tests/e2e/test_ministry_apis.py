"""The APIs the Ministry's pages need (issue 15): every form's versions, the code lists, the
survey lists of every ministry and province, sent notices with their delivery. Scope-checked like
the rest: an owner sees its own list and progress, never a sibling's; a sender its own notices."""

from __future__ import annotations

import uuid

import pytest

from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def test_every_forms_versions_and_the_code_lists(client, district):
    auth = district["a_auth"]  # anyone signed in reads what it may already fetch one by one
    versions = client.forms.get("/definitions/versions", headers=auth).json()
    hc = [v for v in versions if v["form_code"] == "1/HC-TB"]
    assert [v["version"] for v in hc] == [1, 2] and [v["latest"] for v in hc] == [False, True]
    assert hc[1]["fields"] == 37 and hc[1]["rules"] == 7
    one = client.forms.get("/definitions/versions", params={"form_code": "XHH-CCHC-BO"}, headers=auth).json()
    assert [v["form_code"] for v in one] == ["XHH-CCHC-BO"]
    lists = {c["name"]: c for c in client.forms.get("/codelists", headers=auth).json()}
    assert lists["vsic2018"]["levels"]["1"] == 21 and lists["vcpa2018"]["pattern"] and lists["units"]["dynamic"]
    assert client.forms.get("/codelists").status_code == 401


@pytest.fixture
def two_districts(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"nP{t}", f"Tỉnh Thông báo {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"nD1{t}", "Huyện Một", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"nD2{t}", "Huyện Hai", "district")
    a = client.new_unit(admin, D1["unit_id"], f"na{t}", "Xã An", "commune")
    b = client.new_unit(admin, D1["unit_id"], f"nb{t}", "Xã Bình", "commune")
    c = client.new_unit(admin, D2["unit_id"], f"nc{t}", "Xã Cao", "commune")
    people = {}
    for name, unit, role, email in (
        ("adm1", D1, "district_admin", True),
        ("adm2", D2, "district_admin", True),
        ("a", a, "reporting_unit", True),
        ("b", b, "reporting_unit", False),
        ("c", c, "reporting_unit", True),
    ):
        account = client.new_account(
            admin, unit["unit_id"], f"n{name}.{t}", role, f"n{name}.{t}@example.vn" if email else None
        )
        people[name] = {**account, "auth": client.login(account["username"], account["initial_password"])}
    return {"t": t, "P": P, "D1": D1, "D2": D2, "a": a, "b": b, "c": c, "people": people}


def test_a_senders_notices_to_whom_they_went_and_who_read_them(client, two_districts):
    p = two_districts["people"]
    notice = {
        "title": "Lịch tập huấn",
        "body": "Xem tài liệu kèm theo.",
        "links": [{"title": "Công văn 12/SNV", "url": "https://sonoivu.example.vn/cv-12.pdf"}],
    }
    sent = eventually(
        lambda: (
            (r := client.notifications.post("/notices", json=notice, headers=p["adm1"]["auth"])).status_code == 202
            and r
        ),
        timeout=30,
    )
    nid = sent.json()["notice_id"]
    eventually(
        lambda: client.notifications.get(f"/notices/{nid}", headers=p["adm1"]["auth"]).json()["status"] == "sent",
        timeout=30,
    )
    mine = client.notifications.get("/notices", headers=p["adm1"]["auth"]).json()
    assert [n["notice_id"] for n in mine["items"]] == [nid]
    assert mine["items"][0]["recipients"] == 2 and mine["items"][0]["read"] == 0
    assert mine["items"][0]["area_name"] == "Huyện Một" and mine["items"][0]["links"][0]["title"] == "Công văn 12/SNV"
    recipients = client.notifications.get(f"/notices/{nid}/recipients", headers=p["adm1"]["auth"]).json()
    by_name = {r["display_name"]: r for r in recipients["items"]}
    assert set(by_name) == {p["a"]["username"].upper(), p["b"]["username"].upper()}
    assert by_name[p["b"]["username"].upper()]["email"] == "none"
    assert by_name[p["a"]["username"].upper()]["unit_name"] == "Xã An"
    eventually(
        lambda: (
            client.notifications.get(f"/notices/{nid}/recipients", headers=p["adm1"]["auth"]).json()["items"][
                [r["account_id"] for r in recipients["items"]].index(p["a"]["account_id"])
            ]["email"]
            == "sent"
        ),
        timeout=30,
    )

    # One reads it: the sender sees who, and when.
    inbox = client.notifications.get("/inbox", headers=p["a"]["auth"]).json()["items"]
    own = next(n for n in inbox if n["title"].endswith("Lịch tập huấn"))
    assert client.notifications.post(f"/inbox/{own['notice_id']}/read", headers=p["a"]["auth"]).status_code == 204
    read = client.notifications.get(
        f"/notices/{nid}/recipients", params={"read": "true"}, headers=p["adm1"]["auth"]
    ).json()
    assert [r["account_id"] for r in read["items"]] == [p["a"]["account_id"]] and read["items"][0]["read_at"]
    unread = client.notifications.get(
        f"/notices/{nid}/recipients", params={"read": "false"}, headers=p["adm1"]["auth"]
    ).json()
    assert [r["account_id"] for r in unread["items"]] == [p["b"]["account_id"]]
    assert client.notifications.get("/notices", headers=p["adm1"]["auth"]).json()["items"][0]["read"] == 1

    # The sibling district's administrator and a unit see nothing of it.
    assert nid not in [
        n["notice_id"] for n in client.notifications.get("/notices", headers=p["adm2"]["auth"]).json()["items"]
    ]
    assert client.notifications.get(f"/notices/{nid}/recipients", headers=p["adm2"]["auth"]).status_code == 404
    assert client.notifications.get("/notices", headers=p["a"]["auth"]).status_code == 403
    assert client.notifications.get(f"/notices/{nid}/recipients", headers=p["a"]["auth"]).status_code == 404


def test_the_surveys_one_sees_and_every_list_of_one(client, admin):
    from datetime import UTC, datetime, timedelta

    from tests.e2e.test_par_survey import sheet_csv

    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"vP{t}", f"Tỉnh Khảo sát {t}", "province")
    Q = client.new_unit(admin, "root", f"vQ{t}", f"Tỉnh Khác {t}", "province")
    M = client.new_unit(admin, "root", f"vB{t}", f"Bộ Khảo sát {t}", "agency")
    auth = {}
    for name, unit, role in (("P", P, "province_admin"), ("Q", Q, "province_admin"), ("M", M, "reporting_unit")):
        account = client.new_account(admin, unit["unit_id"], f"v{name.lower()}.{t}", role)
        auth[name] = client.login(account["username"], account["initial_password"])
    today = datetime.now(UTC).date()
    sid = f"parv-{t}"
    assert (
        client.forms.post(
            "/surveys",
            headers=admin,
            json={
                "survey_id": sid,
                "title": "Khảo sát thử",
                "list_deadline": str(today + timedelta(days=3)),
                "answer_deadline": str(today + timedelta(days=20)),
                "owner_unit_ids": [P["unit_id"], M["unit_id"]],
            },
        ).status_code
        == 201
    )
    rows = [("Nguyễn Văn A", f"a.{t}@tinh.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", "Sở Nội vụ")]
    assert (
        client.forms.post(
            f"/surveys/{sid}/lists/{P['unit_id']}/import",
            content=sheet_csv(rows),
            headers={**auth["P"], "Content-Type": "text/csv"},
        ).status_code
        == 200
    )

    seen = {s["survey_id"]: s for s in client.forms.get("/surveys", headers=auth["P"]).json()}
    assert seen[sid]["my_lists"] == [P["unit_id"]]
    assert sid in {s["survey_id"] for s in client.forms.get("/surveys", headers=auth["M"]).json()}
    assert sid not in {s["survey_id"] for s in client.forms.get("/surveys", headers=auth["Q"]).json()}
    everyone = {x["owner_unit_id"]: x for x in client.forms.get(f"/surveys/{sid}/lists", headers=admin).json()}
    assert set(everyone) == {P["unit_id"], M["unit_id"]}
    assert everyone[P["unit_id"]]["total"] == 1 and everyone[P["unit_id"]]["listed"]
    assert not everyone[M["unit_id"]]["listed"] and everyone[M["unit_id"]]["owner_name"] == M["name"]
    assert "respondents" not in everyone[P["unit_id"]]
    met = {r["group"]: r["met"] for r in everyone[P["unit_id"]]["requirements"]}
    assert met == {
        "dai_bieu_hdnd": False,
        "lanh_dao_so": True,
        "lanh_dao_phong_so": False,
        "lanh_dao_ubnd_huyen": False,
    }
    own = client.forms.get(f"/surveys/{sid}/lists", headers=auth["P"]).json()
    assert [x["owner_unit_id"] for x in own] == [P["unit_id"]]
    assert client.forms.get(f"/surveys/{sid}/lists", headers=auth["Q"]).status_code == 404
    assert client.forms.get(f"/surveys/{sid}/flags", headers=admin).json() == []
