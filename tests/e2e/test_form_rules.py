"""A corpus of 1/HC-TB answers through the HTTP API: each seed rule on both sides, the census
checks, and form versions: a new version never changes what was submitted under an old one."""

import json
import uuid

import pytest

from tests.e2e.conftest import admin_auth, new_district
from tests.e2e.test_flow import ensure_campaign, open_task_for, submit
from tests.support.answers import valid_hc_tb
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def without(*fields):
    def change(a):
        for f in fields:
            del a[f]

    return change


def setting(**values):
    def change(a):
        a.update({k.replace("__", "."): v for k, v in values.items()})

    return change


CORPUS = [
    ("valid", lambda a: None, set()),
    ("A2.2.2 from other units, any number", setting(A2__2__2=30), set()),
    ("A2.2.2 own staff counted into the total", setting(A2__1=28), {"A2.1"}),
    ("A2.4 allotted total is the sum of the years", setting(A2__4__giao__tong=128), {"A2.4.giao.tong"}),
    ("A2.4 total given as the last year", setting(A2__4__thuc_hien__tong=19), {"A2.4.thuc_hien.tong"}),
    ("A3.3 declared by the unit that books the land", lambda a: None, set()),
    ("A3.3 missing where the unit books the land", without("A3.3.1", "A3.3.2"), {"A3.3.1", "A3.3.2"}),
    (
        "A3.3 skipped by a unit that does not book it",
        lambda a: (setting(A1__5=False)(a), without("A3.3.1", "A3.3.2")(a)),
        set(),
    ),
    ("A3.3 declared by a unit that does not book it", setting(A1__5=False), {"A3.3.1", "A3.3.2"}),
    ("A4.2 code without value", setting(A4__2__3__ma="8412001"), {"A4.2.3.gia_tri"}),
    ("A4.2 product code is 7 digits", setting(A4__2__1__ma="8411"), {"A4.2.1.ma"}),
    ("A4.2 product code of no division", setting(A4__2__1__ma="0411001"), {"A4.2.1.ma"}),
    ("A4.1 sector coded at level 2", setting(A4__1__ma="84"), set()),
    ("A4.1 sector code not in VSIC 2018", setting(A4__1__ma="04"), {"A4.1.ma"}),
    ("A4.1 sector code at the wrong level", setting(A4__1__ma="O"), {"A4.1.ma"}),
    ("A4.2 first product missing", without("A4.2.1.ma", "A4.2.1.gia_tri"), {"A4.2.1.ma", "A4.2.1.gia_tri"}),
    ("counts are whole", setting(A2__2__3=1.5), {"A2.2.3"}),
    ("counts are not negative", setting(A3__2=-3), {"A3.2"}),
    ("women not above the total", setting(A2__1__1=99), {"A2.1.1"}),
    ("unknown question", setting(A9__1=1), {"A9.1"}),
]


@pytest.fixture(scope="module")
def corpus_district(client):
    """One district for the whole corpus: each case submits in a campaign of its own, so no case
    sees another's submission (a district per case made 20 trees, 60 accounts and their events)."""
    return new_district(client, admin_auth(client))


@pytest.mark.parametrize(("name", "change", "bad_fields"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(client, corpus_district, admin, name, change, bad_fields):
    district = corpus_district
    answers = valid_hc_tb()
    change(answers)
    campaign = f"corpus-{uuid.uuid4().hex[:8]}"
    response = submit(client, district["a_auth"], district["unit_a"]["unit_id"], answers=answers, campaign=campaign)
    if not bad_fields:
        assert response.status_code == 201, response.text
        assert response.json()["definition_version"] == 2  # the latest bundled version
        return
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "answers_invalid"
    assert {e["field"] for e in error["errors"]} == bad_fields
    assert all(e["message"] for e in error["errors"])
    sid = f"{campaign}:{district['unit_a']['unit_id']}"
    assert client.forms.get(f"/submissions/{sid}", headers=admin).status_code == 404  # nothing stored


def test_new_version_leaves_submissions_under_the_old_one_alone(client, admin, district):
    code = f"TEST/{uuid.uuid4().hex[:6]}"
    v1 = {
        "form_code": code,
        "version": 1,
        "title": "Phiếu thử",
        "sections": [
            {
                "code": "S1",
                "title": "Mục 1",
                "fields": [{"code": "Q1", "label": "Câu 1", "type": "integer", "required": True, "min": 0}],
            }
        ],
    }
    assert client.forms.post("/definitions", json=v1, headers=district["supervisor_auth"]).status_code == 403
    assert client.forms.post("/definitions", json=v1, headers=admin).status_code == 201
    assert client.forms.post("/definitions", json=v1, headers=admin).status_code == 409  # not the next version
    broken = json.loads(json.dumps(v1)) | {
        "version": 2,
        "rules": [{"kind": "sum", "total": "Q1", "parts": ["Q9"], "message": "x"}],
    }
    assert client.forms.post("/definitions", json=broken, headers=admin).status_code == 422

    def send(campaign, answers, **extra):
        ensure_campaign(client, campaign, form_code=code)
        return client.forms.post(
            "/submissions",
            headers=district["a_auth"],
            json={
                "campaign_id": campaign,
                "form_code": code,
                "unit_id": district["unit_a"]["unit_id"],
                "answers": answers,
                **extra,
            },
        )

    old = send("ver-old", {"Q1": 1})
    assert old.status_code == 201 and old.json()["definition_version"] == 1

    v2 = json.loads(json.dumps(v1)) | {"version": 2}
    v2["sections"][0]["fields"].append({"code": "Q2", "label": "Câu 2 (mới)", "type": "text", "required": True})
    assert client.forms.post("/definitions", json=v2, headers=admin).status_code == 201
    assert client.forms.get("/definitions", params={"form_code": code}, headers=admin).json()["version"] == 2

    new = send("ver-new", {"Q1": 1})
    assert new.status_code == 422 and new.json()["error"]["errors"][0]["field"] == "Q2"
    # The old submission, returned and sent again, is still checked against version 1.
    task = open_task_for(client, district["supervisor_auth"], old.json()["submission_id"], 1)
    client.approvals.post(
        f"/tasks/{task['task_id']}/return",
        json={"revision": 1, "reason": "Sửa câu 1"},
        headers=district["supervisor_auth"],
    ).raise_for_status()
    eventually(
        lambda: (
            client.forms.get(f"/submissions/{old.json()['submission_id']}", headers=district["a_auth"]).json()["status"]
            == "returned"
        )
    )
    again = send("ver-old", {"Q1": 2})
    assert again.status_code == 201, again.text
    assert (again.json()["revision"], again.json()["definition_version"]) == (2, 1)
    assert (
        client.forms.get("/definitions", params={"form_code": code, "version": 1}, headers=admin).json()["sections"][0][
            "fields"
        ][-1]["code"]
        == "Q1"
    )


def test_campaign_window_and_scope_through_the_api(client, admin, district):
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    unit = district["unit_a"]["unit_id"]

    def open_campaign(campaign_id, opens, closes, scope, auth=admin):
        return client.forms.post(
            "/campaigns",
            headers=auth,
            json={
                "campaign_id": campaign_id,
                "form_code": "1/HC-TB",
                "title": "Đợt thử",
                "scope_unit_ids": scope,
                "opens_on": str(opens),
                "closes_on": str(closes),
            },
        )

    t = uuid.uuid4().hex[:6]
    closed = open_campaign(f"closed-{t}", today - timedelta(days=30), today - timedelta(days=2), ["root"])
    assert closed.status_code == 201
    later = open_campaign(f"later-{t}", today + timedelta(days=2), today + timedelta(days=30), ["root"])
    assert later.status_code == 201
    assert (
        open_campaign(
            f"elsewhere-{t}", today - timedelta(days=1), today + timedelta(days=9), [district["unit_b"]["unit_id"]]
        ).status_code
        == 201
    )
    assert open_campaign(f"closed-{t}", today, today, ["root"]).status_code == 409
    assert open_campaign(f"sup-{t}", today, today, ["root"], auth=district["supervisor_auth"]).status_code == 403

    def send(campaign_id):
        return client.forms.post(
            "/submissions",
            headers=district["a_auth"],
            json={"campaign_id": campaign_id, "form_code": "1/HC-TB", "unit_id": unit, "answers": valid_hc_tb()},
        )

    assert send(f"closed-{t}").json()["error"]["code"] == "closed"
    assert send(f"later-{t}").json()["error"]["code"] == "not_open_yet"
    assert send(f"elsewhere-{t}").status_code == 403
    assert send(f"nothing-{t}").status_code == 404
    periodic = client.forms.post(
        "/campaigns/periodic",
        headers=admin,
        json={
            "base_id": f"bc-{t}",
            "form_code": "1/HC-TB",
            "title": "Báo cáo định kỳ",
            "scope_unit_ids": ["root"],
            "year": today.year,
        },
    )
    assert periodic.status_code == 201
    assert [c["closes_on"][5:] for c in periodic.json()] == ["06-15", "12-15"]
