"""The PAR Index survey (seed 002) across the processes, the broker and the SMTP server: a province
and a ministry import, review and send their lists; the Ministry dispatches personal links by
e-mail; respondents answer without an account; reminders, progress per group, tamper flags and a
voided response."""

import csv
import hashlib
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from openpyxl import Workbook, load_workbook

from tests.e2e.test_notifications import WAIT
from tests.support.events import EventTap, drained

pytestmark = pytest.mark.e2e
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]+)")


def sheet_csv(rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"])
    writer.writerows(rows)
    return out.getvalue().encode()


def sheet_xlsx(rows):
    book = Workbook()
    book.active.append(["full_name", "email", "group", "position", "organisation"])
    for r in rows:
        book.active.append(list(r))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def survey(client, admin):
    t = uuid.uuid4().hex[:6]
    province = client.new_unit(admin, "root", f"sP{t}", f"Tỉnh khảo sát {t}", "province")
    other = client.new_unit(admin, "root", f"sQ{t}", f"Tỉnh khác {t}", "province")
    ministry = client.new_unit(admin, "root", f"sB{t}", f"Bộ thử nghiệm {t}", "agency")
    auth = {}
    for name, unit, role in (
        ("province", province, "province_admin"),
        ("other", other, "province_admin"),
        ("ministry", ministry, "reporting_unit"),
    ):
        account = client.new_account(admin, unit["unit_id"], f"s.{name}.{t}", role)
        auth[name] = client.login(account["username"], account["initial_password"])
    today = datetime.now(UTC).date()
    survey_id = f"par-{t}"
    opened = client.forms.post(
        "/surveys",
        headers=admin,
        json={
            "survey_id": survey_id,
            "title": f"Điều tra xã hội học Chỉ số CCHC {t}",
            "list_deadline": str(today + timedelta(days=3)),
            "answer_deadline": str(today + timedelta(days=20)),
            "owner_unit_ids": [province["unit_id"], ministry["unit_id"]],
        },
    )
    assert opened.status_code == 201, opened.text
    return {
        "t": t,
        "id": survey_id,
        "province": province,
        "ministry": ministry,
        "other": other,
        "auth": auth,
        "answer_deadline": today + timedelta(days=20),
    }


def answers(score=8):
    return {f"Q{i}": score for i in range(1, 8)} | {"Q8": "Cần đẩy mạnh số hóa hồ sơ"}


async def test_par_survey_from_lists_to_answers(client, admin, survey, smtp_server, amqp_url):
    s, auth, t = survey, survey["auth"], survey["t"]
    sid, P, M = s["id"], s["province"]["unit_id"], s["ministry"]["unit_id"]
    lists = f"/surveys/{sid}/lists"

    # The template, then a sheet with mistakes: every bad row reported, nothing stored.
    template = client.forms.get(f"{lists}/{P}/template", headers=auth["province"])
    assert template.status_code == 200
    legend = [r[0] for r in load_workbook(io.BytesIO(template.content)).worksheets[1].iter_rows(values_only=True)]
    assert "Đại biểu Hội đồng nhân dân cấp tỉnh" in legend and "Lãnh đạo cấp vụ" not in legend
    bad = client.forms.post(
        f"{lists}/{P}/import",
        content=sheet_csv(
            [
                ("Nguyễn Văn A", f"a.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", "Sở Nội vụ"),
                ("Trần Văn B", "khong-phai-thu", "Lãnh đạo cấp sở", "", ""),
                ("Lê Văn C", f"c.{t}@nghean.gov.vn", "Lãnh đạo cấp vụ", "", ""),
            ]
        ),
        headers={**auth["province"], "Content-Type": "text/csv"},
    )
    assert bad.status_code == 422
    assert [(e["row"], e["field"]) for e in bad.json()["error"]["errors"]] == [(3, "email"), (4, "group")]
    assert client.forms.get(f"{lists}/{P}", headers=auth["province"]).json()["total"] == 0

    # The province's list: a department director who is also a People's Council delegate is kept
    # once, as delegate.
    province_rows = [
        ("Nguyễn Văn A", f"a.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", "Sở Nội vụ"),
        ("Hồ Thị Đại Biểu", f"hdnd.{t}@nghean.gov.vn", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
        ("Nguyễn Văn A", f"a.{t}@nghean.gov.vn", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
        ("Phan Văn Phòng", f"phong.{t}@nghean.gov.vn", "Lãnh đạo phòng chuyên môn thuộc sở", "Trưởng phòng", ""),
    ]
    imported = client.forms.post(
        f"{lists}/{P}/import",
        content=sheet_csv(province_rows),
        headers={**auth["province"], "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["total"] == 3 and body["counts"]["dai_bieu_hdnd"] == 2 and body["counts"]["lanh_dao_so"] == 0
    assert [m["kept_group"] for m in body["merged"]] == ["dai_bieu_hdnd"]

    # The ministry's, from Excel: five groups.
    ministry_rows = [
        ("Vũ Văn Vụ", f"vu.{t}@bo.gov.vn", "lanh_dao_vu", "Vụ trưởng", "Vụ Pháp chế"),
        ("Sở Văn Giám", f"so.{t}@tinh.gov.vn", "lanh_dao_so", "Giám đốc", "Sở Công Thương"),
        ("Cán Bộ Một", f"cb1.{t}@bo.gov.vn", "cong_chuc_cchc", "Chuyên viên", "Văn phòng Bộ"),
        ("Hội Văn Trưởng", f"hoi.{t}@hoi.vn", "lanh_dao_hoi", "Chủ tịch", "Hội Luật gia"),
    ]
    assert (
        client.forms.post(
            f"{lists}/{M}/import", content=sheet_xlsx(ministry_rows), headers={**auth["ministry"], "Content-Type": XLSX}
        ).status_code
        == 200
    )
    # Nobody else reads or edits these lists.
    assert client.forms.get(f"{lists}/{P}", headers=auth["other"]).status_code == 404
    assert client.forms.get(f"{lists}/{P}", headers=auth["ministry"]).status_code == 404

    async with EventTap(amqp_url, "forms.#") as tap:
        sent = client.forms.post(f"{lists}/{P}/submit", headers=auth["province"])
        assert sent.status_code == 200 and sent.json()["status"] == "submitted"
        envelope, _ = await tap.wait_for("respondent_list.submitted.v1", subject=f"{sid}:{P}")
        assert envelope.data["counts"]["dai_bieu_hdnd"] == 2 and "@" not in str(envelope.data)
        twice = client.forms.post(f"{lists}/{P}/submit", headers=auth["province"])
        assert twice.status_code == 409
        locked = client.forms.post(
            f"{lists}/{P}/import",
            content=sheet_csv(province_rows),
            headers={**auth["province"], "Content-Type": "text/csv"},
        )
        assert locked.json()["error"]["code"] == "list_locked"
        assert (
            client.forms.post(f"{lists}/{P}/reopen", json={"reason": "x"}, headers=auth["province"]).status_code == 403
        )
        reopened = client.forms.post(
            f"{lists}/{P}/reopen", json={"reason": "Bổ sung lãnh đạo UBND huyện"}, headers=admin
        )
        assert reopened.status_code == 200 and reopened.json()["status"] == "draft"
        province_rows.append(
            (
                "Chủ Tịch Huyện",
                f"huyen.{t}@nghean.gov.vn",
                "Lãnh đạo Ủy ban nhân dân cấp huyện",
                "Chủ tịch",
                "UBND huyện Nam Đàn",
            )
        )
        assert (
            client.forms.post(
                f"{lists}/{P}/import",
                content=sheet_csv(province_rows),
                headers={**auth["province"], "Content-Type": "text/csv"},
            ).status_code
            == 200
        )
        assert client.forms.post(f"{lists}/{P}/submit", headers=auth["province"]).status_code == 200
        assert client.forms.post(f"{lists}/{M}/submit", headers=auth["ministry"]).status_code == 200

        # Dispatch: one personal link per respondent, by e-mail; the event never shows who.
        assert client.forms.post(f"/surveys/{sid}/dispatch", headers=auth["province"]).status_code == 403
        dispatched = client.forms.post(f"/surveys/{sid}/dispatch", headers=admin, timeout=60)
        assert dispatched.json() == {"issued": 8, "already_invited": 0}, dispatched.text
        assert client.forms.post(f"/surveys/{sid}/dispatch", headers=admin).json() == {
            "issued": 0,
            "already_invited": 8,
        }
        invitation, _ = await tap.wait_for("survey_invitation.issued.v1")
        assert f".{t}@" not in str(invitation.data) and "/s/" not in str(invitation.data)
        # Nor can a subscriber recompute an invitation's id from an address it knows.
        await tap.drain()
        published = {e.data["invitation_id"] for e, _ in tap.seen if e.type.endswith("invitation.issued.v1")}
        guesses = {
            hashlib.sha256(f"{sid}:{owner}:{row[1]}".encode()).hexdigest()[:32]
            for owner, rows in ((P, province_rows), (M, ministry_rows))
            for row in rows
        }
        assert len(published) == 8 and not published & guesses

    addresses = [r[1] for r in province_rows[1:]] + [r[1] for r in ministry_rows]
    tokens = {}
    for address in addresses:
        mail = smtp_server.wait_for(address, template="survey_invitation", timeout=WAIT)
        assert len(mail) == 1
        tokens[address] = LINK.search(mail[0].get_content()).group(1)
    hdnd, director, phong, huyen = (
        tokens[a]
        for a in (
            f"hdnd.{t}@nghean.gov.vn",
            f"a.{t}@nghean.gov.vn",
            f"phong.{t}@nghean.gov.vn",
            f"huyen.{t}@nghean.gov.vn",
        )
    )

    # A respondent opens the link, saves part, comes back, sends; the link then answers no more.
    opened = client.forms.get(f"/s/{hdnd}")
    assert opened.status_code == 200 and opened.json()["questionnaire"]["form_code"] == "XHH-CCHC-TINH"
    assert client.forms.put(f"/s/{hdnd}/draft", json={"answers": {"Q1": 9, "Q2": 11}}).status_code == 422
    assert client.forms.put(f"/s/{hdnd}/draft", json={"answers": {"Q1": 9}}).status_code == 200
    assert client.forms.get(f"/s/{hdnd}").json()["saved_answers"] == {"Q1": 9}
    assert client.forms.post(f"/s/{hdnd}", json={"answers": {"Q1": 9}}).status_code == 422  # incomplete
    assert client.forms.post(f"/s/{hdnd}", json={"answers": answers(9)}).status_code == 201
    reuse = client.forms.post(f"/s/{hdnd}", json={"answers": answers(1)})
    assert reuse.status_code == 409 and reuse.json()["error"]["code"] == "already_answered"
    assert client.forms.get(f"/s/{'x' * 43}").status_code == 404  # forged
    assert client.forms.post(f"/s/{'y' * 43}", json={"answers": answers()}).status_code == 404

    # Someone signed in as an administrator answers for a respondent: flagged.
    as_admin = client.forms.post(f"/s/{director}", json={"answers": answers(10)}, headers=auth["province"])
    assert as_admin.status_code == 201
    admin_answer = as_admin.json()["response_id"]
    # A burst from one device (the e2e platform flags the 4th answer from one source in 10 minutes).
    for token in (phong, tokens[f"vu.{t}@bo.gov.vn"]):
        assert (
            client.forms.post(
                f"/s/{token}", json={"answers": answers(10)}, headers={"User-Agent": "may-tinh-chung/1.0"}
            ).status_code
            == 201
        )
    client.forms.get(f"/s/{huyen}")  # opened, not answered

    # A province may not read answers: refused and flagged.
    assert client.forms.get(f"/surveys/{sid}/responses", headers=auth["province"]).status_code == 403
    flags = client.forms.get(f"/surveys/{sid}/flags", headers=admin).json()
    kinds = {f["kind"] for f in flags}
    assert {"token_reuse", "admin_session", "burst", "answers_access"} <= kinds, flags
    assert next(f for f in flags if f["kind"] == "admin_session")["response_ids"] == [admin_answer]
    assert client.forms.get(f"/surveys/{sid}/flags", headers=auth["province"]).status_code == 403

    # The Ministry voids the administrator's answer.
    async with EventTap(amqp_url, "forms.survey_response.voided.v1") as tap:
        voided = client.forms.post(
            f"/surveys/{sid}/responses/{admin_answer}/void",
            json={"reason": "Trả lời từ phiên quản trị của tỉnh"},
            headers=admin,
        )
        assert voided.status_code == 200
        await tap.wait_for("survey_response.voided.v1", subject=admin_answer)
    assert (
        client.forms.post(
            f"/surveys/{sid}/responses/{admin_answer}/void", json={"reason": "x"}, headers=admin
        ).status_code
        == 409
    )
    results = client.forms.get(f"/surveys/{sid}/responses", headers=admin).json()
    assert len(results) == 4 and all(
        set(r) == {"response_id", "owner_unit_id", "group", "questionnaire", "answers", "status"} for r in results
    )
    assert {r["questionnaire"] for r in results} == {"XHH-CCHC-TINH v1", "XHH-CCHC-BO v1"}

    # Progress per group: the province sees its own, the Ministry all; completion only.
    def groups(view, owner):
        return {g["group"]: g for o in view["owners"] if o["owner_unit_id"] == owner for g in o["groups"]}

    mine = client.forms.get(f"/surveys/{sid}/progress", headers=auth["province"]).json()
    assert [o["owner_unit_id"] for o in mine["owners"]] == [P]
    by_group = groups(mine, P)
    assert (
        by_group["dai_bieu_hdnd"]["sent"],
        by_group["dai_bieu_hdnd"]["answered"],
        by_group["dai_bieu_hdnd"]["voided"],
    ) == (2, 2, 1)
    assert (by_group["lanh_dao_ubnd_huyen"]["opened"], by_group["lanh_dao_ubnd_huyen"]["answered"]) == (1, 0)
    assert client.forms.get(f"/surveys/{sid}/progress?owner={M}", headers=auth["province"]).status_code == 404
    everyone = client.forms.get(f"/surveys/{sid}/progress", headers=admin).json()
    assert groups(everyone, M)["lanh_dao_vu"]["answered"] == 1 and groups(everyone, M)["lanh_dao_hoi"]["sent"] == 1

    # Reminders two days before the answer deadline: only those who have not answered.
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await drained(
            await connection.channel(),
            ["notifications.forms.survey_response.received.v1", "notifications.forms.survey_invitation.issued.v1"],
        )
    reminded = client.notifications.post(
        "/reminders/run",
        headers=admin,
        timeout=60,
        json={"as_of": str(s["answer_deadline"] - timedelta(days=2)), "campaign_id": sid},
    ).json()
    assert reminded["survey_reminders"] == 4  # 8 invited, 4 answered
    for address in (f"huyen.{t}@nghean.gov.vn", f"so.{t}@tinh.gov.vn"):
        mail = smtp_server.wait_for(address, template="survey_reminder", timeout=WAIT)
        assert LINK.search(mail[0].get_content()).group(1) == tokens[address]
    assert smtp_server.to(f"hdnd.{t}@nghean.gov.vn", "survey_reminder") == []


def test_a_survey_title_on_two_lines_is_refused(client, admin):
    today = datetime.now(UTC).date()
    refused = client.forms.post(
        "/surveys",
        headers=admin,
        json={
            "survey_id": f"par2l-{uuid.uuid4().hex[:6]}",
            "title": "Điều tra xã hội học\nChỉ số CCHC",
            "list_deadline": str(today + timedelta(days=3)),
            "answer_deadline": str(today + timedelta(days=20)),
            "owner_unit_ids": ["root"],
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["errors"][0]["type"] == "single_line"


async def test_an_answer_cannot_be_joined_to_its_invitation_in_forms_database(
    client, admin, survey, smtp_server, mongo_url, run_id
):
    """Someone holding forms' database (an operator, a stolen backup) sees who was invited and who
    answered, and the answers; nothing there says which answer is whose: no time beside an answer,
    no order, no shared id or correlation (docs/decisions/0013)."""
    from pymongo import AsyncMongoClient

    s, t = survey, survey["t"]
    sid, P = s["id"], s["province"]["unit_id"]
    rows = [(f"Lãnh Đạo {i}", f"j{i}.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Giám đốc", f"Sở {i}") for i in range(5)]
    auth = s["auth"]["province"]
    assert (
        client.forms.post(
            f"/surveys/{sid}/lists/{P}/import", content=sheet_csv(rows), headers={**auth, "Content-Type": "text/csv"}
        ).status_code
        == 200
    )
    assert client.forms.post(f"/surveys/{sid}/lists/{P}/submit", headers=auth).status_code == 200
    assert client.forms.post(f"/surveys/{sid}/dispatch", headers=admin, timeout=60).json()["issued"] == 5
    tokens = [
        LINK.search(smtp_server.wait_for(r[1], template="survey_invitation", timeout=WAIT)[0].get_content()).group(1)
        for r in rows
    ]

    mongo = AsyncMongoClient(mongo_url, tz_aware=True)
    db = mongo[f"moha_forms_e2e_{run_id}"]
    try:

        async def natural_order():
            return [d["_id"] async for d in db.survey_responses.find({"survey_id": sid})]

        before = await natural_order()
        assert len(before) == 5  # made at dispatch, before anyone answers
        rids = []
        for i, headers in ((3, {}), (0, auth), (4, {})):  # one while signed in as an administrator: flagged
            answered = client.forms.post(f"/s/{tokens[i]}", json={"answers": answers(7)}, headers=headers)
            assert answered.status_code == 201, answered.text
            rids.append(answered.json()["response_id"])
        assert client.forms.post(f"/s/{tokens[3]}", json={"answers": answers(1)}).status_code == 409  # reuse

        # Where an answer sits says nothing of when it came.
        assert await natural_order() == before
        # No time beside an answer: not on the response, not on a flag about it.
        responses = [d async for d in db.survey_responses.find({"survey_id": sid, "status": "valid"})]
        assert sorted(d["_id"] for d in responses) == sorted(rids)
        for response in responses:
            assert set(response) == {
                "_id",
                "survey_id",
                "owner_unit_id",
                "group",
                "form_code",
                "form_version",
                "answers",
                "status",
                "void_reason",
                "version",
            }
        flags = [f async for f in db.survey_flags.find({"survey_id": sid})]
        assert {f["kind"] for f in flags} >= {"admin_session", "token_reuse"}
        assert all("at" not in f for f in flags if f["response_ids"])
        # The invitation says it was answered, not when (its commit and event do: the identity side).
        invitations = [i async for i in db.survey_invitations.find({"survey_id": sid})]
        assert sum(i["status"] == "answered" for i in invitations) == 3
        assert all("answered_at" not in i for i in invitations)
        # No commit, outbox entry or event names a response: nothing to line up by time,
        # correlation id or position in the commit log.
        async for commit in db.commits.find({}):  # (a voided response's commit is the Ministry's act, later)
            assert not any(rid in str(commit) for rid in rids)
        async for marker in db.outbox.find({}):
            assert not any(rid in marker["_id"] for rid in rids)
        # The fingerprints that time an answer (for the burst rule) last only the burst window.
        window = timedelta(minutes=10)
        fingerprints = [f async for f in db.survey_fingerprints.find({"survey_id": sid})]
        assert fingerprints and all(f["at"] > datetime.now(UTC) - window for f in fingerprints)
    finally:
        await mongo.close()
