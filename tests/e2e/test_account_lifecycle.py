"""Accounts across the services: the first password change, lockout, revocation and reset taking
effect everywhere, and the audit trail an administrator sees."""

import uuid

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.test_flow import submit
from tests.support.platform import bearer, eventually, new_password_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh(client, admin, district):
    """A new reporting unit account in the district's first unit, not yet signed in."""
    tag = uuid.uuid4().hex[:6]
    account = client.new_account(admin, district["unit_a"]["unit_id"], f"moi.{tag}", "reporting_unit",
                                 f"moi.{tag}@example.vn")
    return account


def sign_in(client, account, password=None):
    return client.accounts.post("/auth/token", json={"username": account["username"],
                                                    "password": password or account["initial_password"]})


def test_issued_password_opens_nothing_until_changed(client, fresh, district):
    first = sign_in(client, fresh)
    assert first.status_code == 200 and first.json()["must_change_password"] is True
    auth = bearer(first.json()["access_token"])
    for response in (client.accounts.get("/me", headers=auth),
                     submit(client, auth, district["unit_a"]["unit_id"], campaign="first-login"),
                     client.notifications.get("/inbox", headers=auth)):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "password_change_required"

    weak = client.accounts.post("/auth/password", headers=auth, json={
        "current_password": fresh["initial_password"], "new_password": "matkhau"})
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    wrong = client.accounts.post("/auth/password", headers=auth, json={
        "current_password": "not-it", "new_password": "Mat-khau-moi-2026"})
    assert wrong.status_code == 401
    changed = client.accounts.post("/auth/password", headers=auth, json={
        "current_password": fresh["initial_password"], "new_password": "Mat-khau-moi-2026"})
    assert changed.status_code == 200 and changed.json()["must_change_password"] is False
    auth = bearer(changed.json()["access_token"])
    assert client.accounts.get("/me", headers=auth).status_code == 200
    assert submit(client, auth, district["unit_a"]["unit_id"], campaign="first-login").status_code == 201
    assert sign_in(client, fresh).status_code == 401  # the issued password is gone
    assert sign_in(client, fresh, "Mat-khau-moi-2026").json()["must_change_password"] is False


def test_lockout_after_repeated_failures_until_an_administrator_unlocks(client, admin, fresh):
    for attempt in range(5):
        response = sign_in(client, fresh, f"wrong-{attempt}")
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Tên đăng nhập hoặc mật khẩu không đúng"
    # Locked: a wrong password still answers like any wrong password...
    assert sign_in(client, fresh, "wrong-again").status_code == 401
    locked = sign_in(client, fresh)  # ...and only the right one learns why it is refused
    assert locked.status_code == 403
    assert locked.json()["error"]["code"] == "account_locked"
    view = client.accounts.get(f"/accounts/{fresh['account_id']}", headers=admin).json()
    assert view["locked"] is True
    assert client.accounts.post(f"/accounts/{fresh['account_id']}/unlock", headers=admin).status_code == 200
    assert sign_in(client, fresh).status_code == 200
    trail = client.accounts.get("/audit", headers=admin).json()
    mine = [e for e in trail if e["target_id"] == fresh["account_id"]]
    outcomes = [e["outcome"] for e in mine if e["action"] == "login"]
    assert outcomes.count("wrong_password") == 6 and "account_locked" in outcomes and "ok" in outcomes
    assert any(e["action"] == "account_unlocked" and e["ip"] == "127.0.0.1" for e in mine)


def test_revocation_ends_tokens_in_every_service(client, admin, fresh, district):
    auth = client.login(fresh["username"], fresh["initial_password"])
    assert client.forms.get("/submissions/none", headers=auth).status_code == 404  # signed in, nothing there
    no_reason = client.accounts.post(f"/accounts/{fresh['account_id']}/revoke", headers=admin, json={"reason": " "})
    assert no_reason.status_code == 422
    revoked = client.accounts.post(f"/accounts/{fresh['account_id']}/revoke", headers=admin,
                                   json={"reason": "Cán bộ chuyển công tác"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.accounts.get("/me", headers=auth).status_code == 401  # at once in accounts
    # In the other services as soon as they have the event (bounded by the token's life at worst).
    eventually(lambda: client.forms.get("/submissions/none", headers=auth).status_code == 401, timeout=10)
    eventually(lambda: client.approvals.get("/tasks", headers=auth).status_code == 401, timeout=10)
    eventually(lambda: client.notifications.get("/inbox", headers=auth).status_code == 401, timeout=10)
    assert sign_in(client, fresh).status_code == 401
    again = client.accounts.post(f"/accounts/{fresh['account_id']}/revoke", headers=admin, json={"reason": "x"})
    assert again.status_code == 409


def test_password_reset_ends_old_tokens_and_requires_a_new_change(client, admin, fresh):
    old = client.login(fresh["username"], fresh["initial_password"])
    reset = client.accounts.post(f"/accounts/{fresh['account_id']}/reset-password", headers=admin,
                                 json={"reason": "Đơn vị quên mật khẩu"})
    assert reset.status_code == 200
    new_initial = reset.json()["initial_password"]
    assert client.accounts.get("/me", headers=old).status_code == 401
    eventually(lambda: client.forms.get("/submissions/none", headers=old).status_code == 401, timeout=10)
    first = sign_in(client, fresh, new_initial)
    assert first.json()["must_change_password"] is True
    assert client.login(fresh["username"], new_initial)  # and it can be replaced again


def test_only_the_administering_level_may_act_on_an_account(client, admin, fresh, district):
    tag = uuid.uuid4().hex[:6]
    other_district = client.new_unit(admin, district["province"]["unit_id"], f"E{tag}", "Huyện khác", "district")
    other_admin = client.new_account(admin, other_district["unit_id"], f"qth.{tag}", "district_admin")
    other = client.login(other_admin["username"], other_admin["initial_password"])
    own_admin = client.new_account(admin, district["district"]["unit_id"], f"qtd.{tag}", "district_admin")
    own = client.login(own_admin["username"], own_admin["initial_password"])
    target = fresh["account_id"]
    for auth in (other, district["supervisor_auth"], district["b_auth"]):
        for action in ("reset-password", "revoke"):
            response = client.accounts.post(f"/accounts/{target}/{action}", headers=auth, json={"reason": "x"})
            assert response.status_code in (403, 404), (action, response.text)
        assert client.accounts.get(f"/accounts/{target}", headers=auth).status_code == 404
    assert client.accounts.get(f"/accounts/{target}", headers=own).status_code == 200
    # The district's own administrator sees its subtree's trail; the other district's sees none of it.
    assert any(e["target_id"] == target for e in client.accounts.get("/audit", headers=own).json())
    assert not any(e["target_id"] == target for e in client.accounts.get("/audit", headers=other).json())
    assert client.accounts.get("/audit", headers=district["a_auth"]).status_code == 403


def test_a_password_change_ends_the_other_tokens_of_the_account(client, fresh):
    """Someone who took a token (or a forgotten session on another machine) is signed out when the
    holder changes its password: at once in accounts, in the other services as soon as they have
    the event; the session that changed it carries on with the token it got back."""
    password = new_password_for(fresh["initial_password"])
    other_device = client.login(fresh["username"], fresh["initial_password"])  # activates: password is now `password`
    this_device = sign_in(client, fresh, password).json()["access_token"]
    assert client.forms.get("/submissions/none", headers=other_device).status_code == 404  # works until the change
    changed = client.accounts.post("/auth/password", headers=bearer(this_device), json={
        "current_password": password, "new_password": "Doi-mat-khau-2026"})
    assert changed.status_code == 200
    assert client.accounts.get("/me", headers=other_device).status_code == 401
    assert client.accounts.get("/me", headers=bearer(this_device)).status_code == 401  # the old one of this session too
    eventually(lambda: client.forms.get("/submissions/none", headers=other_device).status_code == 401, timeout=10)
    eventually(lambda: client.approvals.get("/tasks", headers=other_device).status_code == 401, timeout=10)
    eventually(lambda: client.notifications.get("/inbox", headers=other_device).status_code == 401, timeout=10)
    renewed = bearer(changed.json()["access_token"])
    assert client.accounts.get("/me", headers=renewed).status_code == 200
    assert client.forms.get("/submissions/none", headers=renewed).status_code == 404


def test_the_bootstrap_administrator_had_to_change_its_password(client, admin):
    """Like any issued account: `admin` signed in with BOOTSTRAP_ADMIN_PASSWORD was asked to change
    it (the fixture's Client.login changes a password only when asked), so it opens nothing now."""
    assert client.accounts.get("/me", headers=admin).json()["username"] == "admin"
    bootstrap = client.accounts.post("/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert bootstrap.status_code == 401
    changed = client.accounts.post("/auth/token", json={"username": "admin",
                                                        "password": new_password_for(ADMIN_PASSWORD)})
    assert changed.status_code == 200 and changed.json()["must_change_password"] is False


def test_role_change_ends_tokens_carrying_the_old_role(client, admin, district):
    tag = uuid.uuid4().hex[:6]
    account = client.new_account(admin, district["district"]["unit_id"], f"gs.{tag}", "district_supervisor")
    old = client.login(account["username"], account["initial_password"])
    assert client.approvals.get("/tasks", headers=old).status_code == 200
    changed = client.accounts.put(f"/accounts/{account['account_id']}/role", headers=admin,
                                  json={"role": "district_admin", "reason": "Phân công lại nhiệm vụ"})
    assert changed.status_code == 200 and changed.json()["role"] == "district_admin"
    assert client.accounts.get("/me", headers=old).status_code == 401
    eventually(lambda: client.approvals.get("/tasks", headers=old).status_code == 401, timeout=10)
    eventually(lambda: client.forms.get("/submissions/none", headers=old).status_code == 401, timeout=10)
    fresh = client.accounts.post("/auth/token", json={"username": account["username"],
                                                      "password": account["initial_password"] + "-Moi2026"})
    assert fresh.status_code == 200
    assert client.accounts.get("/me", headers=bearer(fresh.json()["access_token"])).json()["role"] == "district_admin"
    unfit = client.accounts.put(f"/accounts/{account['account_id']}/role", headers=admin,
                                json={"role": "province_admin", "reason": "x"})
    assert unfit.status_code == 422  # not a role for a district-level unit
