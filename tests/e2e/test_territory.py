"""The territory changes: units renamed, merged or dissolved with their history kept, and a
two-level territory (communes straight under the province, as since 2025) working like three."""

import uuid

import pytest

from tests.e2e.test_flow import open_task_for, submit
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def test_rename_merge_and_retire_keep_history(client, admin):
    t = uuid.uuid4().hex[:6]
    province = client.new_unit(admin, "root", f"tP{t}", "Tỉnh", "province")
    district = client.new_unit(admin, province["unit_id"], f"tD{t}", "Huyện cũ", "district")
    a = client.new_unit(admin, district["unit_id"], f"tA{t}", "Xã A", "commune")
    b = client.new_unit(admin, district["unit_id"], f"tB{t}", "Xã B", "commune")
    account = client.new_account(admin, a["unit_id"], f"ta.{t}", "reporting_unit")
    auth = client.login(account["username"], account["initial_password"])
    sid = submit(client, auth, a["unit_id"], campaign=f"terr-{t}").json()["submission_id"]

    renamed = client.accounts.put(
        f"/units/{b['unit_id']}/name", headers=admin, json={"name": "Xã B mới", "reason": "Nghị quyết đổi tên"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["history"][0]["from"] == "Xã B" and renamed.json()["history"][0]["to"] == "Xã B mới"

    busy = client.accounts.post(f"/units/{district['unit_id']}/retire", headers=admin, json={"reason": "Bỏ cấp huyện"})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "has_children"

    merged = client.accounts.post(
        f"/units/{a['unit_id']}/retire", headers=admin, json={"reason": "Sáp nhập xã", "merged_into": b["unit_id"]}
    )
    assert merged.status_code == 200
    assert (merged.json()["status"], merged.json()["merged_into"]) == ("retired", b["unit_id"])
    again = client.accounts.post(f"/units/{a['unit_id']}/retire", headers=admin, json={"reason": "x"})
    assert again.status_code == 409

    # Its past submission is still there; a new one is refused once forms has heard.
    assert client.forms.get(f"/submissions/{sid}", headers=admin).status_code == 200
    eventually(lambda: submit(client, auth, a["unit_id"], campaign=f"terr2-{t}").status_code == 409)
    # Nothing new hangs under a retired unit.
    response = client.accounts.post(
        "/units", headers=admin, json={"code": f"tX{t}", "name": "X", "level": "agency", "parent_id": a["unit_id"]}
    )
    assert response.status_code == 409
    # A unit renames only what is below it.
    sup = client.new_account(admin, district["unit_id"], f"tqt.{t}", "district_admin")
    sup_auth = client.login(sup["username"], sup["initial_password"])
    assert (
        client.accounts.put(
            f"/units/{district['unit_id']}/name", headers=sup_auth, json={"name": "Tự đổi", "reason": "x"}
        ).status_code
        == 403
    )


def test_two_level_territory_works_like_three(client, admin):
    t = uuid.uuid4().hex[:6]
    province = client.new_unit(admin, "root", f"2P{t}", "Tỉnh hai cấp", "province")
    commune = client.new_unit(admin, province["unit_id"], f"2C{t}", "Xã trực thuộc tỉnh", "commune")
    supervisor = client.new_account(admin, province["unit_id"], f"2gs.{t}", "province_supervisor")
    unit = client.new_account(admin, commune["unit_id"], f"2dv.{t}", "reporting_unit", f"2dv.{t}@example.vn")
    sup_auth = client.login(supervisor["username"], supervisor["initial_password"])
    unit_auth = client.login(unit["username"], unit["initial_password"])
    sid = submit(client, unit_auth, commune["unit_id"], campaign=f"two-{t}").json()["submission_id"]
    task = open_task_for(client, sup_auth, sid, 1)
    assert (
        client.approvals.post(f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=sup_auth).status_code
        == 200
    )
    eventually(lambda: client.forms.get(f"/submissions/{sid}", headers=unit_auth).json()["status"] == "approved")


def test_district_level_removed_communes_move_under_the_province(client, admin):
    """The 2025 reorganisation: a district's communes hang under the province, the district is
    retired, and open review tasks follow their units to the province's supervisor."""
    t = uuid.uuid4().hex[:6]
    province = client.new_unit(admin, "root", f"mvP{t}", "Tỉnh", "province")
    district = client.new_unit(admin, province["unit_id"], f"mvD{t}", "Huyện sắp bỏ", "district")
    commune = client.new_unit(admin, district["unit_id"], f"mvC{t}", "Xã", "commune")
    agency = client.new_unit(admin, commune["unit_id"], f"mvA{t}", "Cơ quan thuộc xã", "agency")
    d_sup = client.new_account(admin, district["unit_id"], f"mvds.{t}", "district_supervisor")
    p_sup = client.new_account(admin, province["unit_id"], f"mvps.{t}", "province_supervisor")
    unit = client.new_account(admin, agency["unit_id"], f"mvu.{t}", "reporting_unit")
    d_auth, p_auth = (client.login(a["username"], a["initial_password"]) for a in (d_sup, p_sup))
    u_auth = client.login(unit["username"], unit["initial_password"])
    sid = submit(client, u_auth, agency["unit_id"], campaign=f"mv-{t}").json()["submission_id"]
    task = open_task_for(client, d_auth, sid, 1)

    into_itself = client.accounts.post(
        f"/units/{district['unit_id']}/move", headers=admin, json={"parent_id": commune["unit_id"], "reason": "x"}
    )
    assert into_itself.status_code == 422
    moved = client.accounts.post(
        f"/units/{commune['unit_id']}/move",
        headers=admin,
        json={"parent_id": province["unit_id"], "reason": "Bỏ cấp huyện từ 01/7/2025"},
    )
    assert moved.status_code == 200 and moved.json()["moved"] == 2  # the commune and its agency
    view = client.accounts.get(f"/units/{agency['unit_id']}", headers=admin).json()
    assert view["path"] == ["root", province["unit_id"], commune["unit_id"]]
    assert (
        client.accounts.post(
            f"/units/{district['unit_id']}/retire", headers=admin, json={"reason": "Bỏ cấp huyện"}
        ).status_code
        == 200
    )

    # The former district supervisor no longer sees the task; the province supervisor does.
    eventually(lambda: client.approvals.get(f"/tasks/{task['task_id']}", headers=d_auth).status_code == 404)
    assert client.approvals.get(f"/tasks/{task['task_id']}", headers=p_auth).status_code == 200
    assert (
        client.approvals.post(f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=p_auth).status_code
        == 200
    )
