"""A province through the review chain across the four processes: the district approves, the
province confirms or returns, the unit resubmits; every decision audited; progress and timeliness
per area, and the same figures after a rebuild of the read model."""

import io
import uuid
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from chassis.clock import today_in_vietnam
from chassis.workdays import effective_deadline, working_days_after
from tests.e2e.test_flow import open_task_for, submission
from tests.support.answers import valid_hc_tb
from tests.support.events import EventTap
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def decide(client, auth, task, action, revision, reason=None):
    body = {"revision": revision, **({"reason": reason} if reason is not None else {})}
    return client.approvals.post(f"/tasks/{task['task_id']}/{action}", json=body, headers=auth)


@pytest.fixture
def province(client, admin):
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"cP{t}", f"Tỉnh chuỗi {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"cD1{t}", "Huyện Một", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"cD2{t}", "Huyện Hai", "district")
    units = {
        "a1": client.new_unit(admin, D1["unit_id"], f"ca1{t}", "Xã A1", "commune"),
        "a2": client.new_unit(admin, D1["unit_id"], f"ca2{t}", "Xã A2", "commune"),
        "b1": client.new_unit(admin, D2["unit_id"], f"cb1{t}", "Xã B1", "commune"),
        "s1": client.new_unit(admin, P["unit_id"], f"cs1{t}", "Sở Nội vụ", "agency"),
    }
    auth = {}
    for name, (unit, role) in {
        "sup_D1": (D1, "district_supervisor"),
        "sup_D2": (D2, "district_supervisor"),
        "sup_P": (P, "province_supervisor"),
    }.items():
        account = client.new_account(admin, unit["unit_id"], f"c.{name.lower()}.{t}", role)
        auth[name] = client.login(account["username"], account["initial_password"])
    for name, unit in units.items():
        account = client.new_account(admin, unit["unit_id"], f"c.{name}.{t}", "reporting_unit")
        auth[name] = client.login(account["username"], account["initial_password"])
    today = today_in_vietnam()  # the platform counts days in Vietnam (UTC+7), not in UTC
    campaign = f"chain-{t}"
    # Default review levels (the district, then the province); the district units' deadline has
    # passed, the provincial units' has not.
    opened = client.forms.post(
        "/campaigns",
        headers=admin,
        json={
            "campaign_id": campaign,
            "form_code": "1/HC-TB",
            "title": "Điều tra thử chuỗi duyệt",
            "scope_unit_ids": [P["unit_id"]],
            "opens_on": str(today - timedelta(days=40)),
            "closes_on": str(today + timedelta(days=30)),
            "deadlines": {"district": str(today - timedelta(days=20)), "province": str(today + timedelta(days=30))},
        },
    )
    assert opened.status_code == 201, opened.text
    return {
        "P": P,
        "D1": D1,
        "D2": D2,
        "units": units,
        "auth": auth,
        "campaign": campaign,
        "today": today,
        "district_deadline": today - timedelta(days=20),
    }


def send(client, p, name, path="/submissions", method="post"):
    body = {
        "campaign_id": p["campaign"],
        "form_code": "1/HC-TB",
        "unit_id": p["units"][name]["unit_id"],
        "answers": valid_hc_tb() if path == "/submissions" else {},
    }

    def attempt():
        response = getattr(client.forms, method)(path, json=body, headers=p["auth"][name])
        return response if response.status_code != 404 else None  # the campaign may still be on its way

    return eventually(attempt)


async def test_district_approves_province_confirms_or_returns(client, admin, province, amqp_url):
    p, auth = province, province["auth"]
    async with EventTap(amqp_url, "approvals.submission.finalized.v1") as finalized:
        sids = {}
        for name in ("a1", "b1", "s1"):
            response = send(client, p, name)
            assert response.status_code == 201, response.text
            sids[name] = response.json()["submission_id"]
        assert send(client, p, "a2", "/submissions/draft", "put").status_code == 200

        # a1: the district claims and approves; it goes up to the province, not to another district.
        t1 = open_task_for(client, auth["sup_D1"], sids["a1"], 1)
        assert (t1["level"], t1["final"], t1["reviewer_unit_id"]) == (1, False, p["D1"]["unit_id"])
        assert client.approvals.post(f"/tasks/{t1['task_id']}/claim", headers=auth["sup_D1"]).status_code == 200
        assert client.approvals.post(f"/tasks/{t1['task_id']}/claim", headers=auth["sup_D2"]).status_code == 404
        assert decide(client, auth["sup_P"], t1, "approve", 1).status_code == 404  # not the province's turn
        assert decide(client, auth["sup_D1"], t1, "approve", 1).status_code == 200
        again = decide(client, auth["sup_D1"], t1, "return", 1, "Sai")
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"
        t2 = open_task_for(client, auth["sup_P"], sids["a1"], 1)
        assert (t2["level"], t2["final"]) == (2, True)
        assert decide(client, auth["sup_D1"], t2, "approve", 1).status_code == 404
        assert decide(client, auth["sup_P"], t2, "return", 1, " ").status_code == 422
        returned = decide(client, auth["sup_P"], t2, "return", 1, "Mục A3.3 chưa khớp sổ sách")
        assert returned.status_code == 200, returned.text
        eventually(lambda: submission(client, auth["a1"], sids["a1"])["status"] == "returned")

        # Revised and resubmitted: revision 2 goes through both levels again.
        assert send(client, p, "a1").json()["revision"] == 2
        t3 = open_task_for(client, auth["sup_D1"], sids["a1"], 2)
        stale = decide(client, auth["sup_D1"], t3, "approve", 1)
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_revision"
        assert decide(client, auth["sup_D1"], t3, "approve", 2).status_code == 200
        t4 = open_task_for(client, auth["sup_P"], sids["a1"], 2)
        assert decide(client, auth["sup_P"], t4, "approve", 2).status_code == 200
        envelope, _ = await finalized.wait_for("submission.finalized.v1", subject=sids["a1"])
        assert envelope.data["revision"] == 2 and [a["level"] for a in envelope.data["approvals"]] == [1, 2]
        eventually(lambda: submission(client, auth["a1"], sids["a1"])["status"] == "approved")

        # b1: approved by its district, waiting for the province. s1 (provincial): one level.
        assert (
            decide(
                client, auth["sup_D2"], open_task_for(client, auth["sup_D2"], sids["b1"], 1), "approve", 1
            ).status_code
            == 200
        )
        ts = open_task_for(client, auth["sup_P"], sids["s1"], 1)
        assert (ts["level"], ts["final"]) == (1, True)
        assert decide(client, auth["sup_P"], ts, "approve", 1).status_code == 200
        await finalized.wait_for("submission.finalized.v1", subject=sids["s1"])

    # The review trail: who, when, from where, which revision, why.
    trail = client.approvals.get(f"/submissions/{sids['a1']}/reviews", headers=auth["sup_P"]).json()
    assert [(t["revision"], t["level"], t["status"]) for t in trail] == [
        (1, 1, "approved"),
        (1, 2, "returned"),
        (2, 1, "approved"),
        (2, 2, "approved"),
    ]
    assert trail[1]["reason"] == "Mục A3.3 chưa khớp sổ sách"
    assert all(t["decided_by"] and t["decided_at"] and t["decided_from"] for t in trail)
    assert client.approvals.get(f"/submissions/{sids['a1']}/reviews", headers=auth["sup_D2"]).status_code == 404

    # Progress of the province, each district and each unit, and timeliness in working days.
    def province_view():
        view = client.approvals.get(f"/progress/{p['campaign']}", headers=auth["sup_P"]).json()
        counts = view["summary"]["counts"]
        return view if (counts["confirmed"], counts["approved_level"], counts["draft"]) == (2, 1, 1) else None

    view = eventually(province_view)
    summary = view["summary"]
    assert summary["units"] == 4 and summary["counts"]["not_started"] == 0
    assert summary["percent"]["confirmed"] == 50.0
    due = effective_deadline(p["district_deadline"])
    late_by = working_days_after(due, p["today"])
    late = {u["unit_id"]: u for u in summary["late_units"]}
    district_units = {p["units"][n]["unit_id"] for n in ("a1", "a2", "b1")}
    assert set(late) == district_units
    assert {u["working_days_late"] for u in late.values()} == {late_by}
    assert summary["timeliness"]["on_time"] == 1 and summary["timeliness"]["score"] == 25.0
    by_area = {a["unit_id"]: a["summary"] for a in view["areas"]}
    assert by_area[p["D1"]["unit_id"]]["counts"]["confirmed"] == 1 and by_area[p["D1"]["unit_id"]]["units"] == 2
    assert by_area[p["D2"]["unit_id"]]["counts"]["approved_level"] == 1
    states = {u["unit_id"]: u["state"] for u in view["units"]}
    assert states[p["units"]["s1"]["unit_id"]] == "confirmed" and states[p["units"]["a2"]["unit_id"]] == "draft"

    # Each sees its own area only.
    own = client.approvals.get(f"/progress/{p['campaign']}", headers=auth["sup_D1"]).json()
    assert own["summary"]["units"] == 2
    assert (
        client.approvals.get(f"/progress/{p['campaign']}?area={p['P']['unit_id']}", headers=auth["sup_D1"]).status_code
        == 404
    )
    assert client.approvals.get(f"/progress/{p['campaign']}", headers=auth["b1"]).json()["summary"]["units"] == 1

    # The same rows as a sheet for the supervisors' reports.
    sheet = client.approvals.get(f"/progress/{p['campaign']}/export", headers=auth["sup_P"])
    assert sheet.status_code == 200
    table = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert table[0][:3] == ("Mã đơn vị", "Tên đơn vị", "Trạng thái") and len(table) == 5
    assert {r[1]: r[2] for r in table[1:]}["Xã A2"] == "Đang kê khai"
    csv_rows = client.approvals.get(f"/progress/{p['campaign']}/export?format=csv", headers=auth["sup_D1"])
    assert csv_rows.content.decode("utf-8-sig").count("\n") == 3  # D1's two units and the header
    assert (
        client.approvals.get(
            f"/progress/{p['campaign']}/export?area={p['P']['unit_id']}", headers=auth["sup_D1"]
        ).status_code
        == 404
    )

    # Rebuilt from the stored facts: the same figures.
    assert client.approvals.post("/progress/rebuild", headers=auth["sup_P"]).status_code == 403
    rebuilt = client.approvals.post("/progress/rebuild", headers=admin, timeout=120)
    assert rebuilt.status_code == 200, rebuilt.text
    after = client.approvals.get(f"/progress/{p['campaign']}", headers=auth["sup_P"]).json()
    assert after["summary"] == summary and after["units"] == view["units"]
