"""Every role against resources of its own unit, a child, a sibling, a parent and a guessed id,
in every service. Out of scope answers like unknown (404), so guessing ids learns nothing."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import admin_auth
from tests.e2e.test_flow import open_task_for, submit
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e

OK, HIDDEN = 200, 404


@pytest.fixture(scope="module")
def tree(client):
    """Province P with districts D1 (units A, B) and D2 (unit C), and another province Q; a
    submission and a review task for A, B and C; accounts of every role (a reporting unit at the
    district level too)."""
    admin = admin_auth(client)
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"mP{t}", "Tỉnh", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"mD1{t}", "Huyện 1", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"mD2{t}", "Huyện 2", "district")
    A = client.new_unit(admin, D1["unit_id"], f"mA{t}", "Xã A", "commune")
    B = client.new_unit(admin, D1["unit_id"], f"mB{t}", "Xã B", "commune")
    C = client.new_unit(admin, D2["unit_id"], f"mC{t}", "Xã C", "commune")
    Q = client.new_unit(admin, "root", f"mQ{t}", "Tỉnh khác", "province")
    units = {"P": P, "D1": D1, "D2": D2, "A": A, "B": B, "C": C, "Q": Q}
    roles = {
        "unit_A": (A, "reporting_unit"),
        "unit_B": (B, "reporting_unit"),
        "unit_C": (C, "reporting_unit"),
        "sup_D1": (D1, "district_supervisor"),
        "sup_D1_only_A": (D1, "district_supervisor"),
        "sup_D2": (D2, "district_supervisor"),
        "sup_P": (P, "province_supervisor"),
        "admin_D1": (D1, "district_admin"),
        "admin_P": (P, "province_admin"),
        "unit_D1": (D1, "reporting_unit"),
        "admin_Q": (Q, "province_admin"),
    }
    accounts, auth = {}, {}
    for name, (unit, role) in roles.items():
        accounts[name] = client.new_account(admin, unit["unit_id"], f"m.{name.lower()}.{t}", role)
        auth[name] = client.login(accounts[name]["username"], accounts[name]["initial_password"])
    assigned = client.accounts.put(
        f"/accounts/{accounts['sup_D1_only_A']['account_id']}/assignments",
        headers=admin,
        json={"unit_ids": [A["unit_id"]]},
    )
    assert assigned.status_code == 200, assigned.text
    subs, tasks = {}, {}
    for u in ("A", "B", "C"):
        subs[u] = submit(client, auth[f"unit_{u}"], units[u]["unit_id"], campaign=f"matrix-{t}").json()
        reviewer = "sup_D2" if u == "C" else "sup_D1"
        tasks[u] = open_task_for(client, auth[reviewer], subs[u]["submission_id"], 1)
    return {
        "units": units,
        "accounts": accounts,
        "auth": auth,
        "subs": subs,
        "tasks": tasks,
        "campaign": f"matrix-{t}",
        "t": t,
    }


GUESS = "0" * 32

# role -> what it may read: units (accounts), submissions (forms), review tasks (approvals)
UNITS = {
    "unit_A": {"A"},
    "sup_D1": {"D1", "A", "B"},
    "sup_D2": {"D2", "C"},
    "sup_P": {"P", "D1", "D2", "A", "B", "C"},
    "admin_D1": {"D1", "A", "B"},
    "admin_P": {"P", "D1", "D2", "A", "B", "C"},
}
SUBMISSIONS = {
    "unit_A": {"A"},
    "unit_B": {"B"},
    "sup_D1": {"A", "B"},
    "sup_D1_only_A": {"A", "B"},
    "sup_D2": {"C"},
    "sup_P": {"A", "B", "C"},
    "admin_D1": {"A", "B"},
    "admin_P": {"A", "B", "C"},
}
# Review tasks: those above the unit read them; only the supervisors of the task's level (the
# district, for level 1) decide, and an assignment narrows that to the assigned units.
TASKS_READ = {
    "unit_A": set(),
    "unit_B": set(),
    "sup_D1": {"A", "B"},
    "sup_D1_only_A": {"A", "B"},
    "sup_D2": {"C"},
    "sup_P": {"A", "B", "C"},
    "admin_D1": {"A", "B"},
    "admin_P": {"A", "B", "C"},
}
TASKS_DECIDE = {
    "unit_A": set(),
    "unit_B": set(),
    "sup_D1": {"A", "B"},
    "sup_D1_only_A": {"A"},
    "sup_D2": {"C"},
    "sup_P": set(),
    "admin_D1": set(),
    "admin_P": set(),
}


@pytest.mark.parametrize("role", sorted(UNITS))
def test_accounts_units(client, tree, role):
    for name, unit in tree["units"].items():
        expected = OK if name in UNITS[role] else HIDDEN
        got = client.accounts.get(f"/units/{unit['unit_id']}", headers=tree["auth"][role])
        assert got.status_code == expected, name
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
    decision = client.approvals.post(
        f"/tasks/{tree['tasks']['A']['task_id']}/approve", json={"revision": 1}, headers=auth["sup_D1_only_A"]
    )
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
    outside = client.accounts.put(
        f"/accounts/{sup}/assignments", headers=admin, json={"unit_ids": [units["C"]["unit_id"]]}
    )
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "out_of_area"
    # The district's administrator assigns its supervisors; a supervisor or a unit cannot.
    for role in ("sup_P", "unit_A", "admin_D1"):
        response = client.accounts.put(
            f"/accounts/{sup}/assignments", headers=auth[role], json={"unit_ids": [units["A"]["unit_id"]]}
        )
        assert response.status_code == (200 if role == "admin_D1" else HIDDEN), role
    not_supervisor = client.accounts.put(
        f"/accounts/{accounts['unit_A']['account_id']}/assignments", headers=admin, json={"unit_ids": []}
    )
    assert not_supervisor.status_code == 422


# Forms: a campaign of D1, read by the units in it, those above it and the Ministry; a survey of
# province P, by everyone in P and the Ministry. Nobody else learns that they exist.
CAMPAIGN_OF_D1_READ = {"unit_A", "unit_B", "unit_D1", "sup_D1", "sup_D1_only_A", "admin_D1", "sup_P", "admin_P"}
SURVEY_OF_P_READ = {
    "unit_A",
    "unit_B",
    "unit_C",
    "unit_D1",
    "sup_D1",
    "sup_D1_only_A",
    "sup_D2",
    "admin_D1",
    "admin_P",
    "sup_P",
}


def test_forms_campaigns_and_surveys_are_read_inside_their_scope_only(client, tree, admin):
    t, units, today = tree["t"], tree["units"], datetime.now(UTC).date()
    campaign = client.forms.post(
        "/campaigns",
        headers=admin,
        json={
            "campaign_id": f"scope-{t}",
            "form_code": "1/HC-TB",
            "title": "Đợt của huyện 1",
            "scope_unit_ids": [units["D1"]["unit_id"]],
            "opens_on": str(today),
            "closes_on": str(today + timedelta(days=9)),
        },
    )
    assert campaign.status_code == 201, campaign.text
    survey = client.forms.post(
        "/surveys",
        headers=admin,
        json={
            "survey_id": f"scope-{t}",
            "title": "Khảo sát của tỉnh P",
            "list_deadline": str(today + timedelta(days=3)),
            "answer_deadline": str(today + timedelta(days=9)),
            "owner_unit_ids": [units["P"]["unit_id"]],
        },
    )
    assert survey.status_code == 201, survey.text
    # Q is known to forms before its account is asked (else an unknown unit would pass for hidden).
    eventually(lambda: client.forms.get(f"/codelists/units?q=mq{t}", headers=admin).json()["entries"])
    for role, auth in sorted(tree["auth"].items()):
        got = client.forms.get(f"/campaigns/scope-{t}", headers=auth).status_code
        assert got == (OK if role in CAMPAIGN_OF_D1_READ else HIDDEN), role
        got = client.forms.get(f"/surveys/scope-{t}", headers=auth).status_code
        assert got == (OK if role in SURVEY_OF_P_READ else HIDDEN), role
        assert client.forms.get(f"/campaigns/{GUESS}", headers=auth).status_code == HIDDEN
        assert client.forms.get(f"/surveys/{GUESS}", headers=auth).status_code == HIDDEN
    assert client.forms.get(f"/campaigns/scope-{t}", headers=admin).status_code == OK  # the Ministry
    assert client.forms.get(f"/surveys/scope-{t}", headers=admin).status_code == OK


def test_approvals_progress_of_a_reporting_unit_is_its_own_unit_only(client, tree):
    auth, units, campaign = tree["auth"], tree["units"], tree["campaign"]

    def district_view():
        view = client.approvals.get(f"/progress/{campaign}", headers=auth["admin_D1"]).json()
        return view if view.get("summary", {}).get("units") == 2 else None

    eventually(district_view)  # A and B report under D1
    own = client.approvals.get(f"/progress/{campaign}", headers=auth["unit_D1"])
    assert own.status_code == 200
    assert own.json()["summary"]["units"] == 0 and own.json()["units"] == [] and own.json()["areas"] == []
    sheet = client.approvals.get(f"/progress/{campaign}/export?format=csv", headers=auth["unit_D1"])
    assert sheet.status_code == 200 and len(sheet.text.strip().splitlines()) == 1  # the header alone
    for area in ("A", "B", "D1"):
        view = client.approvals.get(f"/progress/{campaign}?area={units[area]['unit_id']}", headers=auth["unit_A"])
        assert view.status_code == (OK if area == "A" else HIDDEN), area
    progress = client.approvals.get(f"/progress/{campaign}", headers=auth["unit_A"]).json()
    assert [u["unit_id"] for u in progress["units"]] == [units["A"]["unit_id"]]
