"""The audit trail across the processes (issue #11 item 14): what an auditor asks about is in its
service's chain, sign-ins of every outcome included; an entry is written with its action, so a
crash leaves both or neither; entries hold ids, never a secret or a personal detail; every chain
verifies with `python -m chassis.audit verify`."""

import json
import os
import random
import subprocess
import sys
import uuid

import httpx
import pytest
from pymongo import MongoClient

from tests.e2e.test_flow import ensure_campaign, open_task_for, submit
from tests.e2e.test_par_survey import LINK, answers, sheet_csv, survey  # noqa: F401 - survey: a fixture
from tests.support.platform import bearer, eventually, new_password_for

pytestmark = pytest.mark.e2e
ENTRY_FIELDS = {"at", "action", "outcome", "actor_id", "actor_username", "target_id", "ip", "details", "target_label"}


def chain(platform, mongo_url, service: str) -> list[dict]:
    with MongoClient(mongo_url, tz_aware=True) as mongo:
        return list(mongo[platform[service].env["DATABASE"]]["audit_chain"].find({}).sort("_id", 1))


def verify(platform, mongo_url, service: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MONGODB_URL": mongo_url, "DATABASE": platform[service].env["DATABASE"]}
    return subprocess.run(
        [sys.executable, "-m", "chassis.audit", "verify", "--service", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_intact(platform, mongo_url, *services: str) -> None:
    for service in services:
        result = verify(platform, mongo_url, service)
        assert result.returncode == 0 and "intact" in result.stdout, result.stdout + result.stderr


def trail_of(client, admin, target_id: str) -> list[dict]:
    response = client.accounts.get("/audit", headers=admin)
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["target_id"] == target_id]


def somewhere() -> str:
    """A source address of this test's own: other tests' failures from 127.0.0.1 do not slow it."""
    return f"127.{random.randint(10, 250)}.{random.randint(1, 250)}.{random.randint(1, 250)}"


def test_every_sign_in_and_account_change_is_in_the_trail_with_ids_only(client, admin, district, platform, mongo_url):
    tag = uuid.uuid4().hex[:6]
    account = client.new_account(
        admin, district["unit_a"]["unit_id"], f"kt.{tag}", "reporting_unit", f"kt.{tag}@example.vn"
    )
    secrets = {
        "guess": f"Doan-Mat-Khau-{tag}",
        "typed": f"Go-Nham-Mat-Khau-{tag}",
        "new": new_password_for(account["initial_password"]),
        "reason": f"Lý do riêng tư {tag}",
        "initial": account["initial_password"],
        "email": f"kt.{tag}@example.vn",
        "display": f"KT.{tag}".upper(),
    }
    here_address, elsewhere_address = somewhere(), somewhere()
    here, elsewhere = client.accounts_from(here_address), client.accounts_from(elsewhere_address)

    def sign_in(via, username, password):
        return via.post("/auth/token", json={"username": username, "password": password})

    first = sign_in(here, account["username"], secrets["initial"])
    assert first.status_code == 200
    changed = here.post(
        "/auth/password",
        headers=bearer(first.json()["access_token"]),
        json={"current_password": secrets["initial"], "new_password": secrets["new"]},
    )
    assert changed.status_code == 200
    for _ in range(5):
        assert sign_in(here, account["username"], secrets["guess"]).status_code == 401
    assert sign_in(here, account["username"], secrets["new"]).status_code == 401  # throttled: not even checked
    # A name nobody has (perhaps a password typed in the wrong box): recorded, but not the name.
    assert sign_in(elsewhere, secrets["typed"], secrets["guess"]).status_code == 401
    reset = client.accounts.post(
        f"/accounts/{account['account_id']}/reset-password", headers=admin, json={"reason": secrets["reason"]}
    )
    assert reset.status_code == 200
    secrets["reset"] = reset.json()["initial_password"]
    assert (
        client.accounts.post(
            f"/accounts/{account['account_id']}/revoke", headers=admin, json={"reason": secrets["reason"]}
        ).status_code
        == 200
    )

    trail = trail_of(client, admin, account["account_id"])
    assert all(set(e) == ENTRY_FIELDS for e in trail)  # the answer's shape is the one it always had
    seen = [(e["action"], e["outcome"]) for e in reversed(trail)]  # oldest first
    assert seen == [
        ("account_issued", "ok"),
        ("login", "ok"),
        ("password_changed", "ok"),
        *[("login", "wrong_password")] * 5,
        ("login", "throttled"),
        ("password_reset", "ok"),
        ("account_revoked", "ok"),
    ], seen
    wrong = next(e for e in trail if e["outcome"] == "wrong_password")
    assert (wrong["actor_id"], wrong["ip"]) == (None, here_address)
    unknown = [
        e
        for e in client.accounts.get("/audit", headers=admin).json()
        if e["outcome"] == "unknown_name" and e["ip"] == elsewhere_address
    ]
    assert len(unknown) == 1 and unknown[0]["target_id"] is None and unknown[0]["details"] == {}
    # The district's administrators would see the account's entries; a sibling district's not.
    assert all(
        district["district"]["unit_id"] in e["unit_lineage"]
        for e in chain(platform, mongo_url, "accounts")
        if e["target_id"] == account["account_id"]
    )

    stored = json.dumps(chain(platform, mongo_url, "accounts"), default=str, ensure_ascii=False)
    for name, secret in secrets.items():
        assert secret not in stored, name
    assert_intact(platform, mongo_url, "accounts")


def test_sheets_downloads_and_moves_are_in_the_trail(client, admin, district, platform, mongo_url):
    tag = uuid.uuid4().hex[:6]
    D = district["district"]["unit_id"]
    units = "code,name,level,parent_code\n" + f"k1{tag},Xã Một {tag},commune,{district['district']['code']}\n"
    imported = client.accounts.post(
        "/units/import", content=units.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 201, imported.text
    sheet = (
        f"username,unit_code,role,display_name,email\n"
        f"kt1.{tag},k1{tag},reporting_unit,Nguyễn Văn Một {tag},kt1.{tag}@example.vn\n"
    )
    issued = client.accounts.post(
        "/accounts/import", content=sheet.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert issued.status_code == 201, issued.text
    import_id = issued.json()["import_id"]
    downloaded = client.accounts.get(issued.json()["credentials"], params={"format": "csv"}, headers=admin)
    assert downloaded.status_code == 200
    assert client.accounts.get(issued.json()["credentials"], headers=admin).status_code == 409
    unit_id = client.accounts.get(f"/units/{D}/children", headers=admin).json()["items"]
    moved_unit = next(u for u in unit_id if u["code"] == f"k1{tag}")
    other = client.new_unit(admin, district["province"]["unit_id"], f"kd{tag}", f"Huyện khác {tag}", "district")
    assert (
        client.accounts.post(
            f"/units/{moved_unit['unit_id']}/move",
            headers=admin,
            json={"parent_id": other["unit_id"], "reason": "Sắp xếp đơn vị hành chính"},
        ).status_code
        == 200
    )
    assert client.accounts.get("/audit", headers=admin).status_code == 200  # which chains what is committed

    entries = {
        (e["action"], e["details"].get("import_id") or e["target_id"]): e
        for e in chain(platform, mongo_url, "accounts")
    }
    assert entries[("units_imported", imported.json()["import_id"])]["details"]["created"] == 1
    assert entries[("accounts_imported", import_id)]["details"]["issued"] == 1
    download = [
        e
        for e in chain(platform, mongo_url, "accounts")
        if e["action"] == "credentials_downloaded" and e["details"]["import_id"] == import_id
    ]
    assert len(download) == 1 and download[0]["details"] == {"import_id": import_id, "accounts": 1, "format": "csv"}
    move = entries[("unit_moved", moved_unit["unit_id"])]
    # Seen from the district it left and from the one it joined.
    assert {D, other["unit_id"]} <= set(move["unit_lineage"]) and move["details"]["moved"] == 1
    stored = json.dumps(chain(platform, mongo_url, "accounts"), default=str, ensure_ascii=False)
    password = downloaded.text.splitlines()[1].split(",")[1]
    for secret in (password, f"Nguyễn Văn Một {tag}", f"kt1.{tag}@example.vn", "Sắp xếp đơn vị hành chính"):
        assert secret not in stored
    with MongoClient(mongo_url) as mongo:  # the initial passwords are gone once downloaded
        db = mongo[platform["accounts"].env["DATABASE"]]
        assert db["import_credentials"].find_one({"_id": import_id}) is None
        assert password not in json.dumps(
            list(db["commits"].find({"_id": {"$regex": f"^imports:{import_id}"}})), default=str
        )
    assert_intact(platform, mongo_url, "accounts")


def test_a_crash_between_an_action_and_its_entry_leaves_both(platform, client, admin, district, mongo_url):
    tag = uuid.uuid4().hex[:6]
    account = client.new_account(admin, district["unit_b"]["unit_id"], f"sap.{tag}", "reporting_unit")
    accounts = platform["accounts"]
    accounts.stop()
    # Dies right after its next audited write.
    accounts.start(FAULTS="error-header,reminders-any-day,hashes-asleep,crash-after-commit")
    accounts.wait_ready()
    with pytest.raises(httpx.TransportError):
        client.accounts.post(f"/accounts/{account['account_id']}/revoke", headers=admin, json={"reason": "x"})
    assert accounts.process.wait(10) == 70

    with MongoClient(mongo_url, tz_aware=True) as mongo:
        db = mongo[accounts.env["DATABASE"]]
        commit = db["commits"].find_one({"_id": f"accounts:{account['account_id']}:2"})
        # The change and its entry: one write, stored; neither applied nor chained yet.
        assert commit["set"]["status"] == "revoked" and commit["audit"]["action"] == "account_revoked"
        assert db["accounts"].find_one({"_id": account["account_id"]})["status"] == "active"
        assert db["audit_chain"].find_one({"source": commit["_id"]}) is None

    accounts.start()
    accounts.wait_ready()
    entry = eventually(
        lambda: next(
            (e for e in trail_of(client, admin, account["account_id"]) if e["action"] == "account_revoked"), None
        )
    )
    assert entry["actor_username"] == "admin"
    eventually(
        lambda: client.accounts.get(f"/accounts/{account['account_id']}", headers=admin).json()["status"] == "revoked"
    )
    assert_intact(platform, mongo_url, "accounts")


def test_what_the_other_services_do_is_in_their_own_chains(client, admin, district, platform, mongo_url):
    tag = uuid.uuid4().hex[:6]
    code = f"KT/{tag}"
    definition = {
        "form_code": code,
        "version": 1,
        "title": "Phiếu thử nhật ký",
        "sections": [{"code": "S1", "title": "Mục 1", "fields": [{"code": "Q1", "label": "Câu 1", "type": "integer"}]}],
    }
    assert client.forms.post("/definitions", json=definition, headers=admin).status_code == 201
    campaign = f"kt-{tag}"
    ensure_campaign(client, campaign)
    sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign=campaign).json()["submission_id"]
    sup = district["supervisor_auth"]
    assert (
        client.forms.put(f"/submissions/{sid}/coding", json={"field": "A4.1.ma", "code": "84"}, headers=sup).status_code
        == 200
    )
    exported = client.forms.get(
        "/exports/submissions", params={"campaign_id": campaign, "form_code": "1/HC-TB", "format": "csv"}, headers=sup
    )
    assert exported.status_code == 200
    task = open_task_for(client, sup, sid, 1)
    assert (
        client.approvals.post(f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=sup).status_code == 200
    )
    sheet = client.approvals.get(f"/progress/{campaign}/export", params={"format": "csv"}, headers=sup)
    assert sheet.status_code == 200
    notice_text = f"Thông báo riêng {tag}"
    sent = client.notifications.post(
        "/notices",
        headers=admin,
        json={"title": notice_text, "body": notice_text, "area_unit_id": district["district"]["unit_id"]},
    )
    assert sent.status_code == 202

    def actions(service, *expected):
        """The service's chained entries by action and target, once those expected are chained (the
        relay chains each commit's entry just after its write)."""

        def found():
            entries = {(e["action"], e["target_id"]): e for e in chain(platform, mongo_url, service)}
            return set(expected) <= set(entries) and entries

        return eventually(found)

    forms = actions("forms", ("submissions_exported", campaign))
    assert forms[("definition_published", f"{code}:v1")]["actor_username"] == "admin"
    assert forms[("campaign_opened", campaign)]["details"]["scope_unit_ids"] == ["root"]
    coded = forms[("answer_coded", sid)]
    assert (coded["details"]["field"], coded["details"]["code"]) == ("A4.1.ma", "84")
    assert district["district"]["unit_id"] in coded["unit_lineage"]
    assert forms[("submissions_exported", campaign)]["details"]["area"] == district["district"]["unit_id"]
    approvals = actions("approvals", ("progress_exported", campaign))
    assert approvals[("form_approved", sid)]["details"]["revision"] == 1
    notices = actions("notifications", ("notice_sent", sent.json()["notice_id"]))
    entry = notices[("notice_sent", sent.json()["notice_id"])]
    assert entry["details"]["area"] == district["district"]["unit_id"]
    assert notice_text not in json.dumps(chain(platform, mongo_url, "notifications"), default=str, ensure_ascii=False)
    assert_intact(platform, mongo_url, "forms", "approvals", "notifications")


def test_voiding_a_survey_response_and_reading_the_answers_are_in_forms_chain(
    client,
    admin,
    survey,  # noqa: F811 - the fixture imported above
    smtp_server,
    platform,
    mongo_url,
):
    from tests.e2e.test_notifications import WAIT

    s, t = survey, survey["t"]
    sid, P = s["id"], s["province"]["unit_id"]
    rows = [(f"Người {i}", f"kt{i}.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", f"Sở {i}") for i in range(2)]
    auth = s["auth"]["province"]
    assert (
        client.forms.post(
            f"/surveys/{sid}/lists/{P}/import", content=sheet_csv(rows), headers={**auth, "Content-Type": "text/csv"}
        ).status_code
        == 200
    )
    assert client.forms.post(f"/surveys/{sid}/lists/{P}/submit", headers=auth).status_code == 200
    assert client.forms.post(f"/surveys/{sid}/dispatch", headers=admin, timeout=60).json()["issued"] == 2
    token = LINK.search(
        smtp_server.wait_for(rows[0][1], template="survey_invitation", timeout=WAIT)[0].get_content()
    ).group(1)
    rid = client.forms.post(f"/s/{token}", json={"answers": answers(6)}).json()["response_id"]
    reason = f"Trả lời hộ {t}"
    assert (
        client.forms.post(f"/surveys/{sid}/responses/{rid}/void", json={"reason": reason}, headers=admin).status_code
        == 200
    )
    assert client.forms.get(f"/surveys/{sid}/responses", headers=auth).status_code == 403
    assert client.forms.get(f"/surveys/{sid}/responses", headers=admin).status_code == 200

    entries = eventually(
        lambda: (
            len(found := [e for e in chain(platform, mongo_url, "forms") if e["target_id"] in (rid, sid)]) == 3
            and found
        )
    )
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("survey_response_voided", "ok"),
        ("survey_responses_read", "refused"),
        ("survey_responses_read", "ok"),
    ]
    assert entries[0]["details"]["owner_unit_id"] == P
    stored = json.dumps(chain(platform, mongo_url, "forms"), default=str, ensure_ascii=False)
    assert reason not in stored and rows[0][1] not in stored and token not in stored
    # Answering leaves no entry: nothing may tie an answer to its respondent (decision 0013).
    assert [e["action"] for e in chain(platform, mongo_url, "forms") if rid in json.dumps(e, default=str)] == [
        "survey_response_voided"
    ]
    assert_intact(platform, mongo_url, "forms")
