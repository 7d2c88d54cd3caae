"""The APIs administrators' pages need (issue 15), scope-checked like every other route: a
province's administrator sees its province, a district's its district and never a sibling's; a
unit or a supervisor sees no account list at all. Sheets are checked before anything is stored."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from deploy.lang_son import to_csv
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def province(client, admin):
    """A province with two districts, a commune in each, and administrators at each level."""
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"qP{t}", f"Tỉnh Quản trị {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"qD1{t}", "Huyện Một", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"qD2{t}", "Huyện Hai", "district")
    a = client.new_unit(admin, D1["unit_id"], f"qa{t}", "Xã An Bình", "commune")
    c = client.new_unit(admin, D2["unit_id"], f"qc{t}", "Xã Cao Lộc", "commune")
    people = {}
    for name, unit, role in (
        ("padm", P, "province_admin"),
        ("d1adm", D1, "district_admin"),
        ("d2adm", D2, "district_admin"),
        ("sup1", D1, "district_supervisor"),
        ("a", a, "reporting_unit"),
        ("c", c, "reporting_unit"),
    ):
        account = client.new_account(admin, unit["unit_id"], f"q{name}.{t}", role, f"q{name}.{t}@example.vn")
        people[name] = account
    for name in ("padm", "d1adm", "d2adm", "sup1", "a"):
        people[name]["auth"] = client.login(people[name]["username"], people[name]["initial_password"])
    return {"t": t, "P": P, "D1": D1, "D2": D2, "a": a, "c": c, "people": people}


def test_the_units_of_a_subtree_searched_with_their_accounts(client, province):
    x, p = province, province["people"]
    own = client.accounts.get("/units", headers=p["padm"]["auth"]).json()
    assert {u["code"] for u in own["items"]} == {x[k]["code"] for k in ("D1", "D2", "a", "c")}
    row = next(u for u in own["items"] if u["unit_id"] == x["D1"]["unit_id"])
    assert row["accounts"] == 2 and row["children"] == 1  # its administrator and supervisor; one commune
    under = client.accounts.get("/units", params={"parent": x["P"]["unit_id"]}, headers=p["padm"]["auth"]).json()
    assert [u["code"] for u in under["items"]] == sorted([x["D1"]["code"], x["D2"]["code"]])
    found = client.accounts.get("/units", params={"q": "cao lộc"}, headers=p["padm"]["auth"]).json()
    assert [u["unit_id"] for u in found["items"]] == [x["c"]["unit_id"]] and found["total"] == 1
    paged = client.accounts.get("/units", params={"page_size": 1, "page": 2}, headers=p["padm"]["auth"]).json()
    assert paged["total"] == 4 and len(paged["items"]) == 1
    # A district's administrator: its own district only; the sibling's is unknown.
    mine = client.accounts.get("/units", headers=p["d1adm"]["auth"]).json()
    assert [u["unit_id"] for u in mine["items"]] == [x["a"]["unit_id"]]
    for params in ({"area": x["D2"]["unit_id"]}, {"parent": x["D2"]["unit_id"]}, {"area": x["P"]["unit_id"]}):
        assert client.accounts.get("/units", params=params, headers=p["d1adm"]["auth"]).status_code == 404
    assert (
        client.accounts.get("/units", params={"parent": x["a"]["unit_id"]}, headers=p["a"]["auth"]).json()["items"]
        == []
    )


def test_the_accounts_of_a_subtree_filtered(client, province):
    x, p = province, province["people"]
    listed = client.accounts.get("/accounts", headers=p["padm"]["auth"]).json()
    names = {a["username"] for a in listed["items"]}
    # Everyone it administers in its province; not itself (a province administrator's peers are the centre's).
    assert names == {p[k]["username"] for k in ("d1adm", "d2adm", "sup1", "a", "c")}
    row = next(a for a in listed["items"] if a["username"] == p["a"]["username"])
    assert row["unit_code"] == x["a"]["code"] and row["unit_name"] == "Xã An Bình" and row["last_sign_in_at"]
    never = client.accounts.get("/accounts", params={"never_signed_in": "true"}, headers=p["padm"]["auth"]).json()
    assert [a["username"] for a in never["items"]] == [p["c"]["username"]]
    by_role = client.accounts.get("/accounts", params={"role": "district_admin"}, headers=p["padm"]["auth"]).json()
    assert {a["username"] for a in by_role["items"]} == {p["d1adm"]["username"], p["d2adm"]["username"]}
    searched = client.accounts.get("/accounts", params={"q": f"qsup1.{x['t']}@"}, headers=p["padm"]["auth"]).json()
    assert [a["username"] for a in searched["items"]] == [p["sup1"]["username"]]
    in_unit = client.accounts.get("/accounts", params={"unit": x["c"]["unit_id"]}, headers=p["padm"]["auth"]).json()
    assert [a["username"] for a in in_unit["items"]] == [p["c"]["username"]]
    # A district's administrator: its district's supervisor and unit, never the sibling's.
    district = client.accounts.get("/accounts", headers=p["d1adm"]["auth"]).json()
    assert {a["username"] for a in district["items"]} == {p["sup1"]["username"], p["a"]["username"]}
    assert (
        client.accounts.get("/accounts", params={"unit": x["c"]["unit_id"]}, headers=p["d1adm"]["auth"]).status_code
        == 404
    )
    assert (
        client.accounts.get("/accounts", params={"area": x["D2"]["unit_id"]}, headers=p["d1adm"]["auth"]).status_code
        == 404
    )
    for outsider in ("sup1", "a"):
        assert client.accounts.get("/accounts", headers=p[outsider]["auth"]).status_code == 403

    # Locked: guesses from several addresses until sign-in from any new one is refused for seconds
    # (the twelfth failure in a row: four seconds, doubling with each further one).
    guessers = [client.accounts_from(f"127.0.0.{i}") for i in range(21, 31)]

    def failures() -> int:
        guessers[failures.n % 10].post("/auth/token", json={"username": p["c"]["username"], "password": "sai"})
        failures.n += 1
        found = client.accounts.get("/accounts", params={"unit": x["c"]["unit_id"]}, headers=p["padm"]["auth"])
        return found.json()["items"][0]["failed_sign_ins"] >= 12

    failures.n = 0
    eventually(failures, timeout=30)
    locked = client.accounts.get("/accounts", params={"locked": "true"}, headers=p["padm"]["auth"]).json()
    assert [a["username"] for a in locked["items"]] == [p["c"]["username"]] and locked["items"][0]["locked"]
    assert p["c"]["username"] not in {
        a["username"]
        for a in client.accounts.get("/accounts", params={"locked": "false"}, headers=p["padm"]["auth"]).json()["items"]
    }


def test_the_audit_trail_filtered_paged_and_exported(client, province):
    x, p = province, province["people"]
    for who in ("a", "c"):
        response = client.accounts.post(
            f"/accounts/{p[who]['account_id']}/reset-password",
            headers=p["padm"]["auth"],
            json={"reason": f"Quên mật khẩu {who}"},
        )
        assert response.status_code == 200, response.text
    resets = client.accounts.get("/audit", params={"action": "password_reset"}, headers=p["padm"]["auth"])
    assert resets.headers.get("x-total-count") == "2", resets.text
    assert [e["target_id"] for e in resets.json()] == [p["c"]["account_id"], p["a"]["account_id"]]
    assert resets.json()[0]["target_label"] == f"{p['c']['username']} ({p['c']['username'].upper()})"
    assert resets.json()[0]["actor_username"] == p["padm"]["username"]
    one = client.accounts.get(
        "/audit", params={"action": "password_reset", "page_size": 1, "page": 2}, headers=p["padm"]["auth"]
    )
    assert [e["target_id"] for e in one.json()] == [p["a"]["account_id"]]
    in_d1 = client.accounts.get(
        "/audit", params={"unit": x["D1"]["unit_id"], "action": "password_reset"}, headers=p["padm"]["auth"]
    ).json()
    assert [e["target_id"] for e in in_d1] == [p["a"]["account_id"]]
    by_actor = client.accounts.get("/audit", params={"actor": p["a"]["username"]}, headers=p["padm"]["auth"]).json()
    assert by_actor and {e["actor_username"] for e in by_actor} == {p["a"]["username"]}
    today = date.today()
    days = {"since": str(today - timedelta(days=1)), "until": str(today + timedelta(days=1))}
    assert (
        len(
            client.accounts.get("/audit", params={**days, "action": "password_reset"}, headers=p["padm"]["auth"]).json()
        )
        == 2
    )
    assert (
        client.accounts.get(
            "/audit", params={"until": str(today - timedelta(days=2))}, headers=p["padm"]["auth"]
        ).json()
        == []
    )
    # The sibling district's administrator sees nothing of D1, and may not ask for it.
    assert (
        client.accounts.get("/audit", params={"action": "password_reset"}, headers=p["d2adm"]["auth"]).headers[
            "x-total-count"
        ]
        == "1"
    )
    assert (
        client.accounts.get("/audit", params={"unit": x["D1"]["unit_id"]}, headers=p["d2adm"]["auth"]).status_code
        == 404
    )
    exported = client.accounts.get(
        "/audit/export", params={"action": "password_reset", "format": "csv"}, headers=p["padm"]["auth"]
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    # Ids and kinds only (decision 0016): the reason stays in the account's own history.
    assert rows[0][:2] == ["Thời điểm", "Việc"] and len(rows) == 3 and rows[1][1] == "password_reset"
    assert "Quên mật khẩu" not in exported.text
    sheet = client.accounts.get("/audit/export", params={"action": "password_reset"}, headers=p["padm"]["auth"])
    assert len(list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows())) == 3
    assert client.accounts.get("/audit/export", headers=p["sup1"]["auth"]).status_code == 403


def test_a_sheet_is_checked_storing_nothing_then_stored_once_by_its_issuer(client, province):
    x, p = province, province["people"]
    t, d1 = x["t"], x["D1"]["code"]
    template = client.accounts.get("/units/import/template", headers=p["d1adm"]["auth"])
    book = load_workbook(io.BytesIO(template.content))
    assert [c.value for c in book.worksheets[0][1]] == ["code", "name", "level", "parent_code"]
    assert book.worksheets[1].title == "Hướng dẫn"
    assert client.accounts.get(
        "/accounts/import/template", params={"format": "csv"}, headers=p["d1adm"]["auth"]
    ).content.startswith(b"\xef\xbb\xbfusername")
    assert client.accounts.get("/units/import/template", headers=p["sup1"]["auth"]).status_code == 403

    bad = [
        {"code": f"n1{t}", "name": "Xã Mới Một", "level": "commune", "parent_code": d1},
        {"code": f"n2{t}", "name": "Xã Ngoài", "level": "commune", "parent_code": x["D2"]["code"]},
        {"code": f"n1{t}", "name": "Trùng", "level": "commune", "parent_code": d1},
    ]
    checked = client.accounts.post("/units/import/check", content=to_csv(bad), headers={**p["d1adm"]["auth"], **CSV})
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert not report["valid"] and report["staged_id"] is None and report["rows"] == 3
    assert {(e["row"], e["field"]) for e in report["errors"]} == {(3, "parent_code"), (4, "code")}
    assert client.accounts.get("/units", params={"q": f"n1{t}"}, headers=p["d1adm"]["auth"]).json()["total"] == 0

    good = client.accounts.post("/units/import/check", content=to_csv(bad[:1]), headers={**p["d1adm"]["auth"], **CSV})
    assert good.status_code == 200, good.text
    good = good.json()
    assert good["valid"] and good["preview"] == [
        {"row": 2, "code": f"n1{t}", "name": "Xã Mới Một", "level": "commune", "parent_code": d1}
    ]
    assert client.accounts.get("/units", params={"q": f"n1{t}"}, headers=p["d1adm"]["auth"]).json()["total"] == 0
    staged = good["staged_id"]
    # Only its issuer stores it, and only once.
    assert client.accounts.post(f"/units/import/{staged}/commit", headers=p["d2adm"]["auth"]).status_code == 404
    stored = client.accounts.post(f"/units/import/{staged}/commit", headers=p["d1adm"]["auth"])
    assert stored.status_code == 201 and stored.json()["created"] == 1
    assert client.accounts.post(f"/units/import/{staged}/commit", headers=p["d1adm"]["auth"]).status_code == 404
    assert client.accounts.get("/units", params={"q": f"n1{t}"}, headers=p["d1adm"]["auth"]).json()["total"] == 1

    people = [
        {
            "username": f"dv.n1{t}",
            "unit_code": f"n1{t}",
            "role": "reporting_unit",
            "display_name": "Xã Mới",
            "email": f"n1{t}@example.vn",
        }
    ]
    check = client.accounts.post(
        "/accounts/import/check",
        content=to_csv([*people, {**people[0], "role": "x"}]),
        headers={**p["d1adm"]["auth"], **CSV},
    ).json()
    assert not check["valid"] and [e["row"] for e in check["errors"]] == [3]
    check = client.accounts.post(
        "/accounts/import/check", content=to_csv(people), headers={**p["d1adm"]["auth"], **CSV}
    ).json()
    assert check["valid"] and check["preview"][0]["unit_name"] == "Xã Mới Một"
    assert client.accounts.post("/auth/token", json={"username": f"dv.n1{t}", "password": "x"}).status_code == 401
    issued = client.accounts.post(f"/accounts/import/{check['staged_id']}/commit", headers=p["d1adm"]["auth"])
    assert issued.status_code == 201 and issued.json()["issued"] == 1
    passwords = client.accounts.get(issued.json()["credentials"], params={"format": "csv"}, headers=p["d1adm"]["auth"])
    username, password = list(csv.reader(io.StringIO(passwords.content.decode("utf-8-sig"))))[1][:2]
    assert username == f"dv.n1{t}" and client.login(username, password)
    audit = client.accounts.get("/audit", params={"action": "accounts_imported"}, headers=p["d1adm"]["auth"]).json()
    assert audit[0]["details"]["issued"] == 1
