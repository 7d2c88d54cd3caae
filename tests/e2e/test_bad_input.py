"""Bad input gets a clear 4xx and stores nothing."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.e2e.conftest import admin_auth, new_district
from tests.e2e.test_flow import submit

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def district(client):
    """One district for the module: every request here is refused and stores nothing, and the two
    that store something use campaigns of their own."""
    return new_district(client, admin_auth(client))


def assert_nothing_stored(client, admin, district, campaign="dtcshc-2021"):
    sid = f"{campaign}:{district['unit_a']['unit_id']}"
    assert client.forms.get(f"/submissions/{sid}", headers=admin).status_code == 404


def test_malformed_json(client, district, admin):
    response = client.forms.post(
        "/submissions",
        content=b'{"campaign_id": "x", ',
        headers={**district["a_auth"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"] == "Dữ liệu gửi lên không hợp lệ"
    assert error["errors"][0]["type"] == "json_invalid"
    assert_nothing_stored(client, admin, district)


def test_unknown_and_missing_fields(client, district, admin):
    response = client.forms.post(
        "/submissions",
        headers=district["a_auth"],
        json={"campaign_id": "dtcshc-2021", "unit_id": district["unit_a"]["unit_id"], "answers": {}, "colour": "red"},
    )
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["error"]["errors"]}
    assert errors["colour"] == "Trường này không được phép"
    assert errors["form_code"] == "Thiếu thông tin bắt buộc"
    assert_nothing_stored(client, admin, district)


def test_wrong_answer_shapes(client, district, admin):
    response = submit(client, district["a_auth"], district["unit_a"]["unit_id"], answers={"A1": {"nested": 1}})
    assert response.status_code == 422
    response = submit(client, district["a_auth"], district["unit_a"]["unit_id"], answers={"$where": 1})
    assert response.status_code == 422
    assert_nothing_stored(client, admin, district)


def test_oversized_payload(client, district, admin):
    big = {f"F{i}": "x" * 3000 for i in range(400)}
    response = submit(client, district["a_auth"], district["unit_a"]["unit_id"], answers=big)
    assert response.status_code == 413
    assert "vượt quá" in response.json()["error"]["message"]
    assert_nothing_stored(client, admin, district)


def test_missing_token(client, district, admin):
    response = submit(client, {}, district["unit_a"]["unit_id"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert_nothing_stored(client, admin, district)


def test_forged_tokens(client, district, admin):
    real = district["a_auth"]["Authorization"].split()[1]
    claims = jwt.decode(real, options={"verify_signature": False})
    kid = jwt.get_unverified_header(real)["kid"]
    # Signed with a key of the forger's own, under the real key id.
    forged = jwt.encode(
        {**claims, "role": "central_admin"}, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
    )
    # The real signature over altered claims.
    head, _, sig = real.split(".")
    altered = base64.urlsafe_b64encode(json.dumps({**claims, "unit_id": district["unit_b"]["unit_id"]}).encode())
    tampered = f"{head}.{altered.decode().rstrip('=')}.{sig}"
    # "none" algorithm.
    unsigned = jwt.encode({**claims, "exp": int(time.time()) + 600}, None, algorithm="none")
    for token in (forged, tampered, unsigned, "not-a-token"):
        response = submit(client, {"Authorization": f"Bearer {token}"}, district["unit_a"]["unit_id"])
        assert response.status_code == 401, token
    assert_nothing_stored(client, admin, district)


def test_unit_cannot_submit_for_another_unit(client, district, admin):
    response = submit(client, district["b_auth"], district["unit_a"]["unit_id"])
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Chỉ đơn vị cung cấp thông tin được kê khai, gửi phiếu của chính mình"
    assert_nothing_stored(client, admin, district)


def test_supervisor_cannot_submit(client, district, admin):
    response = submit(client, district["supervisor_auth"], district["unit_a"]["unit_id"])
    assert response.status_code == 403
    assert_nothing_stored(client, admin, district)


def test_sibling_cannot_read_and_stale_version_refused(client, district, admin):
    sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="stale-test").json()[
        "submission_id"
    ]
    assert client.forms.get(f"/submissions/{sid}", headers=district["b_auth"]).status_code == 404
    assert client.forms.get(f"/submissions/{sid}", headers=district["supervisor_auth"]).status_code == 200
    # A second submit while the first waits for review, and one from a stale read, are refused.
    again = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="stale-test")
    assert again.status_code == 409
    stale = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="stale-test", expected_version=0)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"


def test_decision_outside_scope_refused(client, district, admin):
    from tests.e2e.test_flow import open_task_for

    sid = submit(client, district["a_auth"], district["unit_a"]["unit_id"], campaign="scope-test").json()[
        "submission_id"
    ]
    task = open_task_for(client, district["supervisor_auth"], sid, 1)
    # The unit itself, and the sibling unit, cannot decide; the task looks unknown to them.
    for auth in (district["a_auth"], district["b_auth"]):
        response = client.approvals.post(f"/tasks/{task['task_id']}/approve", json={"revision": 1}, headers=auth)
        assert response.status_code == 404
    assert (
        client.approvals.get(f"/tasks/{task['task_id']}", headers=district["supervisor_auth"]).json()["status"]
        == "open"
    )


def test_issuance_outside_subtree_refused(client, district, admin):
    province_admin = client.new_account(
        admin, district["province"]["unit_id"], f"qt.{district['tag']}", "province_admin"
    )
    auth = client.login(province_admin["username"], province_admin["initial_password"])
    other_province = client.new_unit(admin, "root", f"Q{district['tag']}", "Tỉnh khác", "province")
    response = client.accounts.post(
        "/accounts",
        headers=auth,
        json={
            "username": f"x.{district['tag']}",
            "unit_id": other_province["unit_id"],
            "role": "reporting_unit",
            "display_name": "X",
        },
    )
    assert response.status_code == 403
    response = client.accounts.post(
        "/accounts",
        headers=auth,
        json={
            "username": f"y.{district['tag']}",
            "unit_id": district["province"]["unit_id"],
            "role": "central_admin",
            "display_name": "Y",
        },
    )
    assert response.status_code == 403
    duplicate = client.accounts.post(
        "/accounts",
        headers=admin,
        json={
            "username": district["account_a"]["username"],
            "unit_id": district["unit_a"]["unit_id"],
            "role": "reporting_unit",
            "display_name": "Z",
        },
    )
    assert duplicate.status_code == 409


def test_body_of_unstated_length_refused(client, district):
    def chunks():
        yield b'{"campaign_id": "x", "form_code": "1/HC-TB", '
        yield b'"unit_id": "u", "answers": {}}'

    response = client.forms.post(
        "/submissions", content=chunks(), headers={**district["a_auth"], "Content-Type": "application/json"}
    )
    assert response.status_code == 411
