"""Every role against resources of its own unit, a child, a sibling, a parent and a guessed id,
in every service. Out of scope answers like unknown (404), so guessing ids learns nothing."""

import uuid

import pytest

from tests.e2e.test_flow import open_task_for, submit
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e

OK, HIDDEN = 200, 404


@pytest.fixture(scope="module")
def tree(client, admin):
    """Province P with districts D1 (units A, B) and D2 (unit C); a submission and a review task
    for A, B and C; accounts of every role."""
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"mP{t}", "Tỉnh", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"mD1{t}", "Huyện 1", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"mD2{t}", "Huyện 2", "district")
    A = client.new_unit(admin, D1["unit_id"], f"mA{t}", "Xã A", "commune")
    B = client.new_unit(admin, D1["unit_id"], f"mB{t}", "Xã B", "commune")
    C = client.new_unit(admin, D2["unit_id"], f"mC{t}", "Xã C", "commune")
    units = {"P": P, "D1": D1, "D2": D2, "A": A, "B": B, "C": C}
    roles = {
        "unit_A": (A, "reporting_unit"), "unit_B": (B, "reporting_unit"), "unit_C": (C, "reporting_unit"),
        "sup_D1": (D1, "district_supervisor"), "sup_D1_only_A": (D1, "district_supervisor"),
        "sup_D2": (D2, "district_supervisor"), "sup_P": (P, "province_supervisor"),
        "admin_D1": (D1, "district_admin"), "admin_P": (P, "province_admin"),
    }
    accounts, auth = {}, {}
    for name, (unit, role) in roles.items():
        accounts[name] = client.new_account(admin, unit["unit_id"], f"m.{name.lower()}.{t}", role)
        auth[name] = client.login(accounts[name]["username"], accounts[name]["initial_password"])
    assigned = client.accounts.put(f"/accounts/{accounts['sup_D1_only_A']['account_id']}/assignments",
                                   headers=admin, json={"unit_ids": [A["unit_id"]]})
    assert assigned.status_code == 200, assigned.text
    subs, tasks = {}, {}
    for u in ("A", "B", "C"):
        subs[u] = submit(client, auth[f"unit_{u}"], units[u]["unit_id"], campaign=f"matrix-{t}").json()
        reviewer = "sup_D2" if u == "C" else "sup_D1"
        tasks[u] = open_task_for(client, auth[reviewer], subs[u]["submission_id"], 1)
    return {"units": units, "accounts": accounts, "auth": auth, "subs": subs, "tasks": tasks}


GUESS = "0" * 32

# role -> what it may read: units (accounts), submissions (forms), review tasks (approvals)
UNITS = {
    "unit_A": {"A"}, "sup_D1": {"D1", "A", "B"}, "sup_D2": {"D2", "C"}, "sup_P": {"P", "D1", "D2", "A", "B", "C"},
    "admin_D1": {"D1", "A", "B"}, "admin_P": {"P", "D1", "D2", "A", "B", "C"},
}
SUBMISSIONS = {
    "unit_A": {"A"}, "unit_B": {"B"}, "sup_D1": {"A", "B"}, "sup_D1_only_A": {"A", "B"}, "sup_D2": {"C"},
    "sup_P": {"A", "B", "C"}, "admin_D1": {"A", "B"}, "admin_P": {"A", "B", "C"},
}
# Review tasks: those above the unit read them; only the supervisors of the task's level (the
# district, for level 1) decide, and an assignment narrows that to the assigned units.
TASKS_READ = {
    "unit_A": set(), "unit_B": set(), "sup_D1": {"A", "B"}, "sup_D1_only_A": {"A", "B"}, "sup_D2": {"C"},
    "sup_P": {"A", "B", "C"}, "admin_D1": {"A", "B"}, "admin_P": {"A", "B", "C"},
}
TASKS_DECIDE = {
    "unit_A": set(), "unit_B": set(), "sup_D1": {"A", "B"}, "sup_D1_only_A": {"A"}, "sup_D2": {"C"},
    "sup_P": set(), "admin_D1": set(), "admin_P": set(),
}


@pytest.mark.parametrize("role", sorted(UNITS))
def test_accounts_units(client, tree, role):
    for name, unit in tree["units"].items():
        expected = OK if name in UNITS[role] else HIDDEN
        assert client.accounts.get(f"/units/{unit['unit_id']}", headers=tree["auth"][role]).status_code == expected, name
    assert client.accounts.get(f"/units/{GUESS}", headers=tree["auth"][role]).status_code == HIDDEN


@pytest.mark.parametrize("role", sorted(SUBMISSIONS))
def test_forms_submissions(client, tree, role):
    for name, sub in tree["subs"].items():
        expected = OK if name in SUBMISSIONS[role] else HIDDEN
        got = client.forms.get(f"/submissions/{sub['submission_id']}", headers=tree["auth"][role]).status_code
        assert got == expected, name
    assert client.forms.get(f"/submissions/x:{GUESS}", headers=tree["auth"][role]).status_code == HIDDEN


@pytest.mark.parametrize("role", sorted(TASKS_READ))
def test_approvals_tasks(client, tree, role):
    auth = tree["auth"][role]
    for name, task in tree["tasks"].items():
        expected = OK if name in TASKS_READ[role] else HIDDEN
        assert client.approvals.get(f"/tasks/{task['task_id']}", headers=auth).status_code == expected, name
        if name not in TASKS_DECIDE[role]:  # no decision, nor claim
            for action, body in (("approve", {"revision": 1}), ("claim", None)):
                decision = client.approvals.post(f"/tasks/{task['task_id']}/{action}", json=body, headers=auth)
                assert decision.status_code == HIDDEN, (name, action)
    queue = {t["task_id"] for t in client.approvals.get("/tasks", headers=auth).json()}
    expected_queue = {tree["tasks"][n]["task_id"] for n in TASKS_DECIDE[role]}
    assert queue & {t["task_id"] for t in tree["tasks"].values()} == expected_queue
    assert client.approvals.get(f"/tasks/{GUESS}", headers=auth).status_code == HIDDEN


def test_notifications_inbox_is_the_accounts_own(client, tree):
    # A decision on A's task gives unit A a notice; nobody else can see or mark it.
    auth = tree["auth"]
    decision = client.approvals.post(f"/tasks/{tree['tasks']['A']['task_id']}/approve", json={"revision": 1},
                                     headers=auth["sup_D1_only_A"])
    assert decision.status_code == 200

    def decisions(role):  # each account also has the notice of its own issuance
        items = client.notifications.get("/inbox", headers=auth[role]).json()["items"]
        return [n for n in items if n["kind"] != "account_issued"]

    notices = eventually(lambda: decisions("unit_A"))
    notice_id = notices[0]["notice_id"]
    for role in ("unit_B", "sup_D1", "admin_D1", "admin_P"):
        assert decisions(role) == []
        assert client.notifications.post(f"/inbox/{notice_id}/read", headers=auth[role]).status_code == HIDDEN
    assert client.notifications.post(f"/inbox/{GUESS}/read", headers=auth["unit_A"]).status_code == HIDDEN
    assert client.notifications.post(f"/inbox/{notice_id}/read", headers=auth["unit_A"]).status_code == 204
    unread = client.notifications.get("/inbox", headers=auth["unit_A"]).json()
    assert unread["unread"] == sum(not n["read"] for n in unread["items"]) and decisions("unit_A")[0]["read"]


def test_assignments_are_given_by_the_level_above_inside_the_area(client, tree, admin):
    accounts, units, auth = tree["accounts"], tree["units"], tree["auth"]
    sup = accounts["sup_D1"]["account_id"]
    outside = client.accounts.put(f"/accounts/{sup}/assignments", headers=admin, json={"unit_ids": [units["C"]["unit_id"]]})
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "out_of_area"
    # The district's administrator assigns its supervisors; a supervisor or a unit cannot.
    for role in ("sup_P", "unit_A", "admin_D1"):
        response = client.accounts.put(f"/accounts/{sup}/assignments", headers=auth[role],
                                       json={"unit_ids": [units["A"]["unit_id"]]})
        assert response.status_code == (200 if role == "admin_D1" else HIDDEN), role
    not_supervisor = client.accounts.put(f"/accounts/{accounts['unit_A']['account_id']}/assignments",
                                         headers=admin, json={"unit_ids": []})
    assert not_supervisor.status_code == 422
