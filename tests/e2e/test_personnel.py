"""Officials' records across the running platform (seed 003): entered on time and late, corrected,
searched in scope, imported from a sheet with every bad row, exported by area, scored per unit as
a hand count says, and personal data kept encrypted with every read logged."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from pymongo import MongoClient

from chassis.clock import today_in_vietnam
from chassis.sheets import write_csv
from chassis.workdays import working_days_after
from tests.support.events import EventTap
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e


def working_days_ago(days: int) -> date:
    """The latest day from which today is `days` working days on (in Vietnam's calendar)."""
    today, day = today_in_vietnam(), today_in_vietnam()
    while working_days_after(day, today) < days:
        day -= timedelta(days=1)
    return day


def person(n: int, **overrides: object) -> dict[str, object]:
    return {
        "full_name": f"Hoàng Văn Thử {n}",
        "birth_date": f"198{n % 10}-0{1 + n % 9}-1{n % 10}",
        "gender": "Nam",
        "national_id": f"{uuid.uuid4().int % 10**12:012d}",
        "ethnicity": "Nùng",
        "hometown": "Lộc Bình, Lạng Sơn",
        "official_type": "Công chức",
        "rank": "01.003",
        "salary_step": 2,
        "salary_coefficient": 2.67,
        "education": "Đại học",
        **overrides,
    }


def document(day: date, number: str = "01/QĐ-UBND") -> dict[str, str]:
    return {"number": number, "date": day.isoformat(), "issuer": "Ủy ban nhân dân huyện"}


def open_record(client, auth, unit_id: str, values: dict[str, object], day: date | None = None) -> dict:
    """Recruit someone into the unit; the unit may still be on its way to personnel by event."""
    day = day or today_in_vietnam()
    body = {
        "kind": "official",
        "unit_id": unit_id,
        "process": "recruitment",
        "document": document(day),
        "effective_on": day.isoformat(),
        "values": values,
    }

    def attempt():
        response = client.personnel.post("/records", json=body, headers=auth)
        return response if response.status_code != 404 else None

    response = eventually(attempt)
    assert response.status_code == 201, response.text
    return response.json()


def enter(
    client, auth, record_id: str, process: str, values: dict[str, object], day: date, effective_on: date | None = None
):
    return client.personnel.post(
        f"/records/{record_id}/entries",
        headers=auth,
        json={
            "process": process,
            "document": document(day, f"{uuid.uuid4().hex[:4]}/QĐ"),
            "effective_on": (effective_on or day).isoformat(),
            "values": values,
        },
    )


@pytest.fixture
def area(client, admin):
    """A province with two districts: communes A1, A2 in D1, B1 in D2; a unit account in each
    commune, a supervisor in each district and one in the province (its Department of Home Affairs)."""
    t = uuid.uuid4().hex[:6]
    P = client.new_unit(admin, "root", f"nvP{t}", f"Tỉnh nhân sự {t}", "province")
    D1 = client.new_unit(admin, P["unit_id"], f"nvD1{t}", "Huyện Một", "district")
    D2 = client.new_unit(admin, P["unit_id"], f"nvD2{t}", "Huyện Hai", "district")
    units = {
        "P": P,
        "D1": D1,
        "D2": D2,
        "A1": client.new_unit(admin, D1["unit_id"], f"nvA1{t}", "Xã A1", "commune"),
        "A2": client.new_unit(admin, D1["unit_id"], f"nvA2{t}", "Xã A2", "commune"),
        "B1": client.new_unit(admin, D2["unit_id"], f"nvB1{t}", "Xã B1", "commune"),
    }
    auth = {}
    for name, role in (
        ("P", "province_supervisor"),
        ("D1", "district_supervisor"),
        ("D2", "district_supervisor"),
        ("A1", "reporting_unit"),
        ("A2", "reporting_unit"),
        ("B1", "reporting_unit"),
    ):
        account = client.new_account(admin, units[name]["unit_id"], f"nv.{name.lower()}.{t}", role)
        auth[name] = client.login(account["username"], account["initial_password"])
    return {"t": t, "units": units, "ids": {k: u["unit_id"] for k, u in units.items()}, "auth": auth}


def test_an_appointment_on_time_and_one_late_are_counted_by_working_days(client, area):
    ids, auth = area["ids"], area["auth"]
    record = open_record(client, auth["A1"], ids["A1"], person(1))
    on_time = enter(client, auth["A1"], record["record_id"], "appointment", {"position": "PTP"}, today_in_vietnam())
    assert on_time.status_code == 201, on_time.text
    entry = on_time.json()["entry"]
    assert (entry["timed"], entry["working_days"], entry["on_time"]) == (True, 0, True)

    late_day = working_days_ago(8)
    late = enter(client, auth["A1"], record["record_id"], "appointment", {"position": "TP"}, late_day)
    assert late.status_code == 201, late.text
    assert (late.json()["entry"]["working_days"], late.json()["entry"]["on_time"]) == (8, False)
    # The current position is the one that took effect last, not the one entered last.
    assert late.json()["record"]["fields"]["position"] == "PTP"

    # The late one is listed for the unit and those above it, not for a sibling.
    def listed(who, where):
        response = client.personnel.get(
            "/timeliness/late",
            params={"area": ids[where], "from": str(late_day - timedelta(days=30))},
            headers=auth[who],
        )
        return response

    rows = eventually(lambda: (r := listed("D1", "D1").json()["items"]) and r)
    assert [(r["unit_id"], r["working_days"], r["process"]) for r in rows] == [(ids["A1"], 8, "appointment")]
    assert rows[0]["full_name"] == "Hoàng Văn Thử 1" and rows[0]["document"]["date"] == late_day.isoformat()
    assert listed("A1", "A1").json()["total"] == 1
    assert listed("A2", "A1").status_code == 404
    assert listed("D2", "D1").status_code == 404


def test_a_correction_keeps_the_old_value_and_who_made_it_in_the_career(client, area):
    ids, auth = area["ids"], area["auth"]
    record = open_record(client, auth["A1"], ids["A1"], person(2))
    raised = enter(
        client,
        auth["A1"],
        record["record_id"],
        "salary_raise",
        {"salary_step": 3, "salary_coefficient": 3.66},
        today_in_vietnam(),
    )
    assert raised.status_code == 201, raised.text
    entry_id = raised.json()["entry"]["entry_id"]
    stale = client.personnel.post(
        f"/records/{record['record_id']}/entries/{entry_id}/corrections",
        headers=auth["D1"],
        json={"values": {"salary_coefficient": 3.0}, "reason": "x", "expected_version": 1},
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    fixed = client.personnel.post(
        f"/records/{record['record_id']}/entries/{entry_id}/corrections",
        headers=auth["D1"],
        json={"values": {"salary_coefficient": 3.0}, "reason": "Nhập nhầm hệ số lương"},
    )
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["record"]["fields"]["salary_coefficient"] == 3.0
    refused = client.personnel.post(
        f"/records/{record['record_id']}/entries/{entry_id}/corrections",
        headers=auth["D1"],
        json={"values": {"salary_coefficient": 3.0}, "reason": "lại"},
    )
    assert refused.status_code == 422 and refused.json()["error"]["message"] == "Không có gì cần đính chính"

    career = client.personnel.get(f"/records/{record['record_id']}/career", headers=auth["A1"]).json()
    line = next(e for e in career["entries"] if e["entry_id"] == entry_id)
    assert line["values"]["salary_coefficient"] == 3.0
    assert line["original"]["values"]["salary_coefficient"] == 3.66
    (correction,) = line["corrections"]
    assert correction["changes"] == [{"field": "salary_coefficient", "old": 3.66, "new": 3.0}]
    assert correction["reason"] == "Nhập nhầm hệ số lương" and correction["entered_by"] != line["entered_by"]
    assert [e["process_title"] for e in career["entries"]] == ["Tuyển dụng", "Nâng bậc lương"]


def test_search_by_name_birth_date_position_and_unit_within_scope(client, area):
    ids, auth = area["ids"], area["auth"]
    t = area["t"]
    a = open_record(client, auth["A1"], ids["A1"], person(3, full_name=f"Nguyễn Thị Ánh {t}", birth_date="1991-07-15"))
    b = open_record(client, auth["A2"], ids["A2"], person(4, full_name=f"Nguyễn Văn Ánh {t}", birth_date="1991-07-15"))
    c = open_record(client, auth["B1"], ids["B1"], person(5, full_name=f"Trần Văn Ánh {t}"))
    assert (
        enter(
            client, auth["A2"], b["record_id"], "appointment", {"position": "CT-UBND"}, today_in_vietnam()
        ).status_code
        == 201
    )

    def found(who, **params):
        response = client.personnel.get("/records", params=params, headers=auth[who])
        assert response.status_code == 200, response.text
        return [i["record_id"] for i in response.json()["items"]]

    assert found("P", q=f"anh {t}") == [a["record_id"], b["record_id"], c["record_id"]]  # by name, no diacritics
    assert found("D1", q=f"anh {t}") == [a["record_id"], b["record_id"]]  # a district sees its communes
    assert found("A1", q=f"anh {t}") == [a["record_id"]]  # a commune itself only
    assert found("P", q="nguyen th", birth_date="1991-07-15") == [a["record_id"]]
    assert found("P", birth_date="1991-07-15", q=t) == [a["record_id"], b["record_id"]]
    assert found("P", position="CT-UBND", q=t) == [b["record_id"]]
    assert found("P", unit=area["units"]["D2"]["code"], q=t) == [c["record_id"]]
    assert client.personnel.get("/records", params={"unit": ids["D2"]}, headers=auth["D1"]).status_code == 404
    paged = client.personnel.get("/records", params={"q": t, "page_size": 2, "page": 2}, headers=auth["P"]).json()
    assert (paged["total"], [i["record_id"] for i in paged["items"]]) == (3, [c["record_id"]])
    assert paged["items"][0]["unit_code"] == area["units"]["B1"]["code"] and "birth_date" not in paged["items"][0]
    # Out of scope reads as unknown.
    assert client.personnel.get(f"/records/{c['record_id']}", headers=auth["A1"]).status_code == 404


def test_an_import_reports_every_bad_row_stores_nothing_then_opens_every_record(client, area):
    ids, auth, t = area["ids"], area["auth"], area["t"]
    existing = open_record(client, auth["A2"], ids["A2"], person(6))
    header = ["Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Đối tượng", "Bậc lương", "Hệ số lương"]
    ids_ = [f"{uuid.uuid4().int % 10**12:012d}" for _ in range(3)]
    bad = [
        [f"Vi Thị Một {t}", "12/03/1990", "Nữ", ids_[0], "Viên chức", "2", "2,34"],
        [f"Vi Thị Hai {t}", "31/02/1990", "Nữ", ids_[1], "Viên chức", "2", "2,34"],
        [f"Vi Thị Ba {t}", "12/03/1990", "Nữ", existing["fields"]["national_id"], "Viên chức", "2", "2,34"],
        [f"Vi Thị Bốn {t}", "12/03/2015", "Nữ", ids_[2], "Học sinh", "2", "2,34"],
    ]
    url = f"/units/{ids['A1']}/records/import"
    rejected = client.personnel.post(
        url, content=write_csv(header, bad), headers={**auth["A1"], "Content-Type": "text/csv"}
    )
    assert rejected.status_code == 422, rejected.text
    errors = {(e["row"], e["field"]) for e in rejected.json()["error"]["errors"]}
    assert {(3, "birth_date"), (5, "official_type")} <= errors
    assert rejected.json()["error"]["code"] == "import_rejected"
    assert client.personnel.get("/records", params={"q": f"vi {t}"}, headers=auth["A1"]).json()["total"] == 0

    # Fixed, but one ID number is already a record's: rejected with that row, nothing stored.
    fixed = [
        bad[0],
        [*bad[1][:1], "28/02/1990", *bad[1][2:]],
        bad[2],
        [*bad[3][:1], "12/03/1995", "Nữ", ids_[2], "Viên chức", "2", "2,34"],
    ]
    taken = client.personnel.post(
        url, content=write_csv(header, fixed), headers={**auth["A1"], "Content-Type": "text/csv"}
    )
    assert taken.status_code == 422
    assert [(e["row"], e["field"]) for e in taken.json()["error"]["errors"]] == [(4, "national_id")]

    del fixed[2]
    imported = client.personnel.post(
        url, content=write_csv(header, fixed), headers={**auth["A1"], "Content-Type": "text/csv"}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 3
    listed = client.personnel.get("/records", params={"q": f"vi {t}"}, headers=auth["A1"]).json()
    assert sorted(i["name"] for i in listed["items"]) == sorted(r[0] for r in fixed)
    # Imported records are not changes: the 5-day rule does not count them.
    record = client.personnel.get(f"/records/{listed['items'][0]['record_id']}", headers=auth["A1"]).json()
    assert record["status"] == "active" and record["completeness"]["missing"] == ["ethnicity", "hometown", "education"]
    # Another unit cannot import into A1.
    assert (
        client.personnel.post(
            url, content=write_csv(header, fixed[:1]), headers={**auth["A2"], "Content-Type": "text/csv"}
        ).status_code
        == 404
    )


def test_personal_data_is_encrypted_in_the_store_and_every_read_is_logged(client, area, platform, mongo_url):
    ids, auth = area["ids"], area["auth"]
    values = person(7, birth_date="1979-11-23")
    record = open_record(client, auth["A1"], ids["A1"], values)
    rid = record["record_id"]
    assert record["fields"]["national_id"] == values["national_id"]  # those in scope read it
    database = platform["personnel"].env["DATABASE"]
    with MongoClient(mongo_url) as mongo:
        db = mongo[database]
        stored = str(db.records.find_one({"_id": rid})) + str(list(db.commits.find({"doc_id": rid})))
        assert values["national_id"] not in stored and "1979-11-23" not in stored and "Nùng" not in stored
        assert "Hoàng Văn Thử 7" in stored  # names are searched, not encrypted
    # The same ID number cannot open a second record.
    again = client.personnel.post(
        "/records",
        headers=auth["A2"],
        json={
            "kind": "official",
            "unit_id": ids["A2"],
            "process": "recruitment",
            "document": document(today_in_vietnam()),
            "effective_on": today_in_vietnam().isoformat(),
            "values": person(8, national_id=values["national_id"]),
        },
    )
    assert again.status_code == 422 and again.json()["error"]["errors"][0]["field"] == "national_id"

    client.personnel.get(f"/records/{rid}", headers=auth["D1"])
    client.personnel.get(f"/records/{rid}/career", headers=auth["P"])
    log = client.personnel.get(f"/records/{rid}/access-log", headers=auth["A1"]).json()
    assert [e["action"] for e in log][:2] == ["career", "read"]
    assert log[1]["unit_id"] == ids["D1"] and log[1]["ip"]


def test_export_by_area_is_streamed_without_personal_data_unless_asked(client, area):
    ids, auth = area["ids"], area["auth"]
    values = person(9)
    open_record(client, auth["B1"], ids["B1"], values)
    plain = client.personnel.get("/exports/records", params={"area": ids["D2"], "format": "csv"}, headers=auth["P"])
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert "Số định danh cá nhân" not in rows[0] and values["national_id"] not in plain.text
    assert [r[2] for r in rows[1:]] == ["Xã B1"] and "Hoàng Văn Thử 9" in rows[1]
    full = client.personnel.get(
        "/exports/records", params={"area": ids["D2"], "personal_data": "true"}, headers=auth["P"]
    )
    sheet = list(load_workbook(io.BytesIO(full.content)).active.iter_rows(values_only=True))
    assert values["national_id"] in sheet[1]
    assert client.personnel.get("/exports/records", params={"area": ids["D2"]}, headers=auth["D1"]).status_code == 404


def test_per_unit_scores_equal_a_hand_count(client, area):
    """Two communes of a district: what each entered on time or late, how complete its records are
    and how many it has not updated within a year, counted by hand, against /scores and the autumn
    review sheet."""
    ids, auth = area["ids"], area["auth"]
    today = today_in_vietnam()
    # A1: two records, complete; three changes, two on time, one late.
    a = [open_record(client, auth["A1"], ids["A1"], person(20 + i)) for i in range(2)]
    for day in (today, working_days_ago(5), working_days_ago(6)):
        assert (
            enter(
                client,
                auth["A1"],
                a[0]["record_id"],
                "salary_raise",
                {"salary_step": 3, "salary_coefficient": 3.0},
                day,
            ).status_code
            == 201
        )
    # A2: one complete record, one imported without ethnicity, hometown and education (7 of the 10
    # required fields); one late change, one on time.
    b = open_record(client, auth["A2"], ids["A2"], person(30))
    header = ["Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Đối tượng", "Bậc lương", "Hệ số lương"]
    imported = client.personnel.post(
        f"/units/{ids['A2']}/records/import",
        headers={**auth["A2"], "Content-Type": "text/csv"},
        content=write_csv(
            header, [["Lò Thị Nhập", "01/01/1990", "Nữ", f"{uuid.uuid4().int % 10**12:012d}", "Viên chức", "1", "2,34"]]
        ),
    )
    assert imported.status_code == 201, imported.text
    assert (
        enter(client, auth["A2"], b["record_id"], "reward", {"form": "Giấy khen"}, working_days_ago(9)).status_code
        == 201
    )
    assert enter(client, auth["A2"], b["record_id"], "reward", {"form": "Giấy khen"}, today).status_code == 201
    # The recruitments themselves were changes entered on the day: on time (A1: 2, A2: 1).
    expected = {
        ids["A1"]: {
            "records": 2,
            "changes": 5,
            "on_time": 4,
            "late": 1,
            "on_time_rate": 80.0,
            "completeness": 100.0,
            "complete_records": 2,
            "stale_records": 0,
        },
        ids["A2"]: {
            "records": 2,
            "changes": 3,
            "on_time": 2,
            "late": 1,
            "on_time_rate": round(200 / 3, 1),
            "completeness": 85.0,
            "complete_records": 1,
            "stale_records": 0,
        },
    }

    def scores():
        response = client.personnel.get(
            "/scores", params={"area": ids["D1"], "from": str(today - timedelta(days=60))}, headers=auth["D1"]
        )
        assert response.status_code == 200, response.text
        view = response.json()
        counted = {
            u["unit_id"]: {k: u[k] for k in expected[ids["A1"]]} for u in view["units"] if u["unit_id"] in expected
        }
        return view if counted == expected else None

    view = eventually(scores)  # the changes arrive in the read model by personnel's own events
    assert view["area"]["changes"] == 8 and view["area"]["records"] == 4 and view["area"]["late"] == 2
    assert view["area"]["completeness"] == 92.5 and view["area"]["score"] == round((75.0 + 92.5 + 100.0) / 3, 1)
    assert next(u for u in view["units"] if u["unit_id"] == ids["D1"])["records"] == 0

    sheet = client.personnel.get(
        "/reviews/autumn", params={"area": ids["D1"], "year": today.year + 1}, headers=auth["D1"]
    )
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    by_code = {r[0]: r for r in rows[1:]}
    assert rows[0][:4] == ("Mã đơn vị", "Tên đơn vị", "Cấp", "Hồ sơ đang quản lý")
    # The review of next year counts changes from 1 October of this year: those of today if today
    # is in October or later, none otherwise; the records count as they stand.
    a1 = by_code[area["units"]["A1"]["code"]]
    assert a1[3] == 2 and a1[10] == 2
    assert rows[-1][1].startswith("Tổng cộng")


async def test_a_move_between_districts_goes_through_the_department_and_arrives_with_its_history(
    client, area, amqp_url
):
    ids, auth = area["ids"], area["auth"]
    record = open_record(client, auth["A1"], ids["A1"], person(40))
    rid = record["record_id"]
    assert enter(client, auth["A1"], rid, "reward", {"form": "Giấy khen"}, today_in_vietnam()).status_code == 201
    body = {
        "process": "transfer",
        "to_unit_id": ids["B1"],
        "document": document(today_in_vietnam(), "77/QĐ-SNV"),
        "effective_on": today_in_vietnam().isoformat(),
        "values": {"position": "VP-TK"},
    }
    async with EventTap(amqp_url, "personnel.record.changed.v1") as tap:
        asked = client.personnel.post(f"/records/{rid}/moves", json=body, headers=auth["A1"])
        assert asked.status_code == 202, asked.text
        move_id = asked.json()["move"]["move_id"]
        assert asked.json()["record"]["pending_move"]["to_unit_id"] == ids["B1"]
        again = client.personnel.post(f"/records/{rid}/moves", json=body, headers=auth["A1"])
        assert again.status_code == 409 and again.json()["error"]["code"] == "move_pending"

        # Approvals asks the province (the Department of Home Affairs), neither district.
        task = eventually(
            lambda: next(
                (m for m in client.approvals.get("/moves", headers=auth["P"]).json() if m["move_id"] == move_id), None
            )
        )
        assert (task["decider_unit_id"], task["from_unit"]["name"], task["to_unit"]["name"]) == (
            ids["P"],
            "Xã A1",
            "Xã B1",
        )
        assert client.approvals.get("/moves", headers=auth["D1"]).json() == []
        assert client.approvals.post(f"/moves/{task['task_id']}/approve", headers=auth["D2"]).status_code == 404
        approved = client.approvals.post(f"/moves/{task['task_id']}/approve", headers=auth["P"])
        assert approved.status_code == 200, approved.text

        # The record arrives at B1 with its whole history; A1 no longer holds it.
        arrived = eventually(
            lambda: (r := client.personnel.get(f"/records/{rid}", headers=auth["B1"])).status_code == 200 and r.json()
        )
        assert arrived["unit_id"] == ids["B1"] and arrived["fields"]["position"] == "VP-TK"
        assert arrived["pending_move"] is None and arrived["moves"][0]["status"] == "applied"
        career = client.personnel.get(f"/records/{rid}/career", headers=auth["B1"]).json()["entries"]
        assert [e["process"] for e in career] == ["recruitment", "reward", "transfer"]
        assert [e["unit_name"] for e in career] == ["Xã A1", "Xã A1", "Xã A1"]  # entered by A1, asked by A1
        assert (career[-1]["from_unit_id"], career[-1]["to_unit_id"]) == (ids["A1"], ids["B1"])
        assert client.personnel.get(f"/records/{rid}", headers=auth["A1"]).status_code == 404
        assert client.personnel.get(f"/records/{rid}", headers=auth["D1"]).status_code == 404

        # Events for both units: ids, units and kinds of change only.
        moved: dict[str, str] = {}
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            await tap.drain()
            moved = {
                e.data["change"]: e.data["unit_id"]
                for e, _ in tap.seen
                if e.subject == rid and e.data["change"].startswith("moved")
            }
            if len(moved) == 2:
                break
            await asyncio.sleep(0.1)
        assert moved == {"moved_out": ids["A1"], "moved_in": ids["B1"]}
        assert all("fields" not in e.data and "values" not in e.data for e, _ in tap.seen)


async def test_a_move_the_department_returns_leaves_the_record_and_a_move_in_scope_is_made_at_once(client, area):
    ids, auth = area["ids"], area["auth"]
    record = open_record(client, auth["A1"], ids["A1"], person(41))
    rid = record["record_id"]
    body = {
        "process": "mobilisation",
        "document": document(today_in_vietnam(), "78/QĐ"),
        "effective_on": today_in_vietnam().isoformat(),
        "values": {},
    }
    # A1 to A2: the district decides.
    asked = client.personnel.post(f"/records/{rid}/moves", json={**body, "to_unit_id": ids["A2"]}, headers=auth["A1"])
    assert asked.status_code == 202, asked.text
    task = eventually(lambda: next(iter(client.approvals.get("/moves", headers=auth["D1"]).json()), None))
    returned = client.approvals.post(
        f"/moves/{task['task_id']}/return", json={"reason": "Chưa đủ hồ sơ"}, headers=auth["D1"]
    )
    assert returned.status_code == 200, returned.text
    stays = eventually(
        lambda: (
            (r := client.personnel.get(f"/records/{rid}", headers=auth["A1"]).json())["moves"][0]["status"]
            == "returned"
            and r
        )
    )
    assert stays["unit_id"] == ids["A1"] and stays["pending_move"] is None
    # The reason is read from approvals by the unit that asked.
    assert client.approvals.get(f"/moves/{task['task_id']}", headers=auth["A1"]).json()["reason"] == "Chưa đủ hồ sơ"
    # The district moves it itself: both communes are in its scope.
    moved = client.personnel.post(f"/records/{rid}/moves", json={**body, "to_unit_id": ids["A2"]}, headers=auth["D1"])
    assert moved.status_code == 201, moved.text
    assert moved.json()["record"]["unit_id"] == ids["A2"]
    assert client.personnel.get(f"/records/{rid}", headers=auth["A2"]).status_code == 200


async def test_only_approvals_decides_moves_and_a_decision_never_asked_for_moves_nothing(
    platform, client, area, amqp_url
):
    from datetime import UTC, datetime

    import aiormq

    from moha_contracts import Envelope, MoveApproved
    from tests.e2e.test_trust import dead_letters
    from tests.support.events import publish_as

    ids, auth = area["ids"], area["auth"]
    record = open_record(client, auth["A1"], ids["A1"], person(50))
    forged = Envelope.wrap(
        MoveApproved(
            task_id="move-x",
            move_id="never-asked",
            record_id=record["record_id"],
            from_unit_id=ids["A1"],
            to_unit_id=ids["B1"],
            decider_unit_id=ids["P"],
            approved_by="nobody",
            approved_at=datetime.now(UTC),
        )
    )
    # Personnel's own user may publish personnel's events only (topic permissions).
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await publish_as(
            platform.broker_url("personnel"),
            forged.model_dump_json().encode(),
            forged.routing_key,
            message_id=forged.id,
        )
    # From approvals' own user, about a move the record never asked for: refused for good.
    await publish_as(
        platform.broker_url("approvals"), forged.model_dump_json().encode(), forged.routing_key, message_id=forged.id
    )
    reason = await dead_letters(amqp_url, "personnel.approvals.move.approved.v1", forged.id)
    assert "contradicts record" in reason
    assert client.personnel.get(f"/records/{record['record_id']}", headers=auth["A1"]).json()["unit_id"] == ids["A1"]


def test_the_par_index_list_is_drafted_from_the_province_s_records(client, admin, area):
    ids, auth, t = area["ids"], area["auth"], area["t"]
    department = client.new_unit(admin, ids["P"], f"nvS{t}", "Sở Nội vụ", "agency")
    director = person(60, full_name="Lương Thị Giám Đốc", birth_date="1970-01-01")
    record = open_record(client, auth["P"], department["unit_id"], director)
    assert (
        enter(
            client, auth["P"], record["record_id"], "appointment", {"position": "GD-SO"}, today_in_vietnam()
        ).status_code
        == 201
    )
    chief = open_record(client, auth["P"], department["unit_id"], person(61, full_name="Nông Văn Trưởng Phòng"))
    assert (
        enter(client, auth["P"], chief["record_id"], "appointment", {"position": "TP"}, today_in_vietnam()).status_code
        == 201
    )
    chair = open_record(client, auth["D1"], ids["D1"], person(62, full_name="Vi Văn Chủ Tịch"))
    assert (
        enter(
            client, auth["D1"], chair["record_id"], "appointment", {"position": "CT-UBND"}, today_in_vietnam()
        ).status_code
        == 201
    )
    clerk = open_record(client, auth["A1"], ids["A1"], person(63, full_name="Hà Thị Công Chức"))
    assert (
        enter(client, auth["A1"], clerk["record_id"], "appointment", {"position": "TP"}, today_in_vietnam()).status_code
        == 201
    )
    # The director is also a provincial council delegate: listed once, as a delegate.
    delegate = client.personnel.post(
        "/records",
        headers=auth["P"],
        json={
            "kind": "council_delegate",
            "unit_id": ids["P"],
            "process": "elected",
            "document": document(today_in_vietnam()),
            "effective_on": today_in_vietnam().isoformat(),
            "values": {
                "full_name": "Lương Thị Giám Đốc",
                "birth_date": "1970-01-01",
                "gender": "Nữ",
                "council_level": "Tỉnh",
                "term": "2021-2026",
                "constituency": "Đơn vị bầu cử số 1",
            },
        },
    )
    assert delegate.status_code == 201, delegate.text
    sheet = client.personnel.get(
        "/par-index/respondents", params={"area": ids["P"], "format": "csv"}, headers=auth["P"]
    )
    assert sheet.status_code == 200, sheet.text
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert rows[0] == ["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"]
    assert [(r[0], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("Lương Thị Giám Đốc", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
        ("Nông Văn Trưởng Phòng", "Lãnh đạo phòng chuyên môn thuộc sở", "Trưởng phòng", "Sở Nội vụ"),
        ("Vi Văn Chủ Tịch", "Lãnh đạo Ủy ban nhân dân cấp huyện", "Chủ tịch Ủy ban nhân dân", "Huyện Một"),
    ]
    assert (
        client.personnel.get("/par-index/respondents", params={"area": ids["P"]}, headers=auth["D1"]).status_code == 404
    )
