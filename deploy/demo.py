"""Demo data: the Lạng Sơn province of the 2021 census, loaded through the public HTTP API
exactly as administrators would: the province, then its 556 units from one sheet and the 545
units' accounts from another (deploy/lang_son.py), a district supervisor for Thành phố Lạng Sơn;
and a few thousand generated officials' records (deploy/officials.py), one sheet per unit, with
changes entered on time and late."""

from __future__ import annotations

import csv
import io
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from chassis.clock import today_in_vietnam
from chassis.sheets import write_csv
from chassis.workdays import working_days_after
from deploy import officials
from deploy.lang_son import account_rows, scope, to_csv, unit_rows
from services.accounts.domain.imports import unit_id_for
from services.accounts.domain.model import new_initial_password

ADMIN_PASSWORD = "Demo-Admin-2026!"


def load_demo(
    urls: dict[str, str],
    admin_password: str = ADMIN_PASSWORD,
    credentials_path: Path | None = None,
    web_url: str | None = None,
) -> dict[str, dict[str, str]]:
    accounts = httpx.Client(base_url=urls["accounts"], timeout=600.0)
    admin_password, token = first_admin_sign_in(accounts, admin_password)
    headers = {"Authorization": f"Bearer {token}"}

    def post(path: str, **kw: Any) -> dict:
        response = accounts.post(path, headers={**headers, **kw.pop("headers", {})}, **kw)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:2000]}")
        return response.json()

    province_row, _ = scope()
    province = post(
        "/units",
        json={"code": province_row["code"], "name": province_row["name"], "level": "province", "parent_id": "root"},
    )
    units = unit_rows()
    post("/units/import", content=to_csv(units), headers={"Content-Type": "text/csv"})
    issued = post("/accounts/import", content=to_csv(account_rows(units)), headers={"Content-Type": "text/csv"})
    sheet = accounts.get(issued["credentials"], params={"format": "csv"}, headers=headers).raise_for_status()
    credentials = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))[1:]
    if credentials_path:
        credentials_path.parent.mkdir(parents=True, exist_ok=True)
        credentials_path.write_bytes(sheet.content)

    # Units imported from a sheet have ids made from their codes.
    city = accounts.get(f"/units/{unit_id_for('178')}", headers=headers).raise_for_status().json()
    logins = {
        "admin": {
            "password": admin_password,
            "role": "central_admin",
            "unit": "Bộ Nội vụ (mật khẩu đã đổi từ BOOTSTRAP_ADMIN_PASSWORD)",
        }
    }
    for username, unit, role, name in (
        ("ls.tinh.quantri", province, "province_admin", "Quản trị hệ thống tỉnh Lạng Sơn"),
        ("ls.tinh.giamsat", province, "province_supervisor", "Giám sát viên tỉnh Lạng Sơn"),
        ("ls.tp.giamsat", city, "district_supervisor", "Giám sát viên Thành phố Lạng Sơn"),
    ):
        account = post(
            "/accounts",
            json={
                "username": username,
                "unit_id": unit["unit_id"],
                "role": role,
                "display_name": name,
                "email": f"{username}@langson.gov.vn",
            },
        )
        logins[username] = {"password": account["initial_password"], "role": role, "unit": unit["name"]}
    for username, password, role, _code, name in (credentials[0], credentials[60], credentials[75]):
        logins[username] = {"password": password, "role": role, "unit": name}

    # The census of administrative establishments, open from today: the 2021 one closed long ago.
    today = date.today()
    forms = httpx.Client(base_url=urls["forms"], timeout=60.0)
    campaign = forms.post(
        "/campaigns",
        headers=headers,
        json={
            "campaign_id": "dtcshc-demo",
            "form_code": "1/HC-TB",
            "title": "Điều tra cơ sở hành chính (bản trình diễn)",
            "scope_unit_ids": [province["unit_id"]],
            "opens_on": str(today),
            "closes_on": str(today + timedelta(days=60)),
            "deadlines": {"province": str(today + timedelta(days=42)), "district": str(today + timedelta(days=50))},
        },
    )
    if campaign.status_code >= 400:
        raise RuntimeError(f"/campaigns: {campaign.status_code} {campaign.text[:2000]}")

    # The central administrator stands in for the province's focal point, whose account would first
    # have to change its issued password.
    survey, respondents = open_survey(forms, headers, province["unit_id"], today)
    personnel = load_officials(urls["personnel"], headers, units) if "personnel" in urls else None

    print(
        f"Demo data: {province['name']}: {len(units)} units from one sheet, {issued['issued']} unit accounts "
        "from another; campaign 'dtcshc-demo' (form 1/HC-TB) open for 60 days."
    )
    print(
        f"PAR Index survey '{survey}': the province's list ({respondents} respondents, one listed twice kept "
        "once) sent and dispatched; each respondent's link is in their e-mail (the mail sink's log)."
    )
    if personnel:
        print(
            f"Officials' records: {personnel['records']} in {personnel['units']} units (one sheet per unit), "
            f"{personnel['changes']} changes entered since ({personnel['late']} after the 5 working days), "
            f"staffing quotas for the {personnel['quotas']} provincial units."
        )
    if credentials_path:
        print(f"All {len(credentials)} initial passwords: {credentials_path}")
    if web_url:
        print_web_logins(web_url, logins)
    else:
        print(
            "Demo logins (admin's is already changed; the others are initial passwords: each account must "
            "change its own at first login):"
        )
        for username, info in logins.items():
            print(f"  {username:<18} {info['password']:<18} {info['role']:<20} {info['unit']}")
    return logins


# Whom a newcomer signs in as first: one commune's form from its sign-in to the province's
# confirmation (the commune is in Thành phố Lạng Sơn, whose district supervisor is below).
WALKTHROUGH = [
    ("a reporting unit (a commune)", "dv.178-016"),
    ("its district supervisor", "ls.tp.giamsat"),
    ("the province supervisor", "ls.tinh.giamsat"),
    ("an administrator (province)", "ls.tinh.quantri"),
    ("the central administrator", "admin"),
]


def print_web_logins(web_url: str, logins: dict[str, dict[str, str]]) -> None:
    print()
    print("=" * 78)
    print(f"  The web application:  {web_url.rstrip('/')}/")
    print("  Sign in as (each account changes its issued password at its first sign-in):")
    for who, username in WALKTHROUGH:
        if username in logins:
            info = logins[username]
            print(f"    {who:<30} {username:<16} {info['password']:<18} {info['unit']}")
    others = [u for u in logins if u not in {name for _, name in WALKTHROUGH}]
    for username in others:
        info = logins[username]
        print(f"    {info['role']:<30} {username:<16} {info['password']:<18} {info['unit']}")
    print("=" * 78)
    print()


def first_admin_sign_in(accounts: httpx.Client, bootstrap_password: str) -> tuple[str, str]:
    """The bootstrap administrator's first sign-in: its password is an initial one and opens nothing
    until replaced, so the demo replaces it with a new one it prints (the password and a token)."""
    response = accounts.post("/auth/token", json={"username": "admin", "password": bootstrap_password})
    if response.status_code == 401:
        raise RuntimeError(
            "admin does not sign in with BOOTSTRAP_ADMIN_PASSWORD: its password was already changed "
            "(the demo is loaded once, into empty databases)"
        )
    body = response.raise_for_status().json()
    if not body["must_change_password"]:
        return bootstrap_password, body["access_token"]
    password = new_initial_password()
    changed = accounts.post(
        "/auth/password",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        json={"current_password": bootstrap_password, "new_password": password},
    )
    return password, changed.raise_for_status().json()["access_token"]


# The PAR Index survey: a province's respondents, one per group and a People's Council delegate
# who also leads a department (kept once, as delegate). Addresses are the demo's own.
RESPONDENTS = [
    ("Hoàng Văn Đại Biểu", "daibieu.hdnd@langson.demo", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
    ("Lương Thị Giám Đốc", "giamdoc.snv@langson.demo", "Lãnh đạo cấp sở", "Giám đốc", "Sở Nội vụ"),
    ("Lương Thị Giám Đốc", "giamdoc.snv@langson.demo", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
    (
        "Nông Văn Trưởng Phòng",
        "truongphong.snv@langson.demo",
        "Lãnh đạo phòng chuyên môn thuộc sở",
        "Trưởng phòng",
        "Sở Nội vụ",
    ),
    (
        "Vi Văn Chủ Tịch",
        "chutich.huyen@langson.demo",
        "Lãnh đạo Ủy ban nhân dân cấp huyện",
        "Chủ tịch",
        "UBND huyện Cao Lộc",
    ),
]


def open_survey(forms: httpx.Client, headers: dict[str, str], province_id: str, today: date) -> tuple[str, int]:
    survey = "par-demo"

    def call(method: str, path: str, **kw: Any) -> dict:
        response = forms.request(method, path, headers={**headers, **kw.pop("headers", {})}, **kw)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:2000]}")
        return response.json()

    call(
        "POST",
        "/surveys",
        json={
            "survey_id": survey,
            "title": "Điều tra xã hội học xác định Chỉ số cải cách hành chính (bản trình diễn)",
            "list_deadline": str(today + timedelta(days=7)),
            "answer_deadline": str(today + timedelta(days=21)),
            "owner_unit_ids": [province_id],
        },
    )
    sheet = write_csv(["Họ và tên", "Thư điện tử", "Nhóm đối tượng", "Chức vụ", "Cơ quan, đơn vị"], RESPONDENTS)
    lists = f"/surveys/{survey}/lists/{province_id}"
    imported = call("POST", f"{lists}/import", content=sheet, headers={"Content-Type": "text/csv"})
    call("POST", f"{lists}/submit")
    call("POST", f"/surveys/{survey}/dispatch")
    return survey, imported["total"]


DEMO_OFFICIALS = 3000


def load_officials(
    url: str, headers: dict[str, str], units: list[dict[str, str]], total: int = DEMO_OFFICIALS
) -> dict[str, int]:
    """Officials' records for every unit in scope, imported one sheet per unit as each unit would;
    then changes entered with their documents, some within 5 working days and some after, and the
    provincial units' organisation and staffing records with their quotas."""
    personnel = httpx.Client(base_url=url, timeout=120.0)
    in_scope = [u for u in units if u["level"] != "district"]
    ids = {unit_id_for(u["code"]): u for u in in_scope}

    def post(path: str, **kw: Any) -> dict:
        for _ in range(100):  # a unit may still be on its way to personnel by event
            response = personnel.post(path, headers={**headers, **kw.pop("headers", {})}, **kw)
            if response.status_code != 404:
                break
            time.sleep(0.2)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:2000]}")
        return response.json()

    def import_sheet(item: tuple[str, bytes, int]) -> list[str]:
        unit_id, sheet, _ = item
        return post(f"/units/{unit_id}/records/import", content=sheet, headers={"Content-Type": "text/csv"})[
            "record_ids"
        ]

    with ThreadPoolExecutor(4) as pool:
        record_ids = [rid for ids_ in pool.map(import_sheet, officials.sheets(list(ids), total)) for rid in ids_]
    rng = random.Random(15)
    today = today_in_vietnam()
    changes = late = 0
    for record_id in rng.sample(record_ids, min(240, len(record_ids))):
        days = rng.choice([0, 1, 2, 3, 4, 5, 7, 9, 12, 20])
        issued = today
        while working_days_after(issued, today) < days:
            issued -= timedelta(days=1)
        process, values = rng.choice(
            [
                ("salary_raise", {"salary_step": rng.randrange(2, 10), "salary_coefficient": 3.0}),
                ("appointment", {"position": rng.choice(officials.POSITIONS)}),
                ("reward", {"form": "Giấy khen", "achievement": "Hoàn thành xuất sắc nhiệm vụ"}),
                ("education_update", {"education": "Thạc sĩ"}),
            ]
        )
        post(
            f"/records/{record_id}/entries",
            json={
                "process": process,
                "effective_on": issued.isoformat(),
                "values": values,
                "document": {
                    "number": f"{rng.randrange(1, 999)}/QĐ-UBND",
                    "date": issued.isoformat(),
                    "issuer": "Ủy ban nhân dân tỉnh Lạng Sơn",
                },
            },
        )
        changes += 1
        late += days > 5
    per_unit = {u: total // len(ids) for u in ids}
    quotas = 0
    for unit_id, unit in list(ids.items())[:60]:  # the provincial units
        post(
            "/records",
            json={
                "kind": "unit_staffing",
                "unit_id": unit_id,
                "process": "profile_opened",
                "effective_on": today.isoformat(),
                "values": {
                    "unit_type": "Cơ quan hành chính nhà nước",
                    "address": "Thành phố Lạng Sơn",
                    "head_name": f"Người đứng đầu {unit['name']}",
                    "operating_rules": "Quyết định 01/QĐ",
                    "phone": "0205 3812 345",
                    "staffing_quota": per_unit[unit_id] + rng.randrange(0, 4),
                },
            },
        )
        quotas += 1
    return {"records": len(record_ids), "units": len(ids), "changes": changes, "late": late, "quotas": quotas}


if __name__ == "__main__":
    # For the Compose file's one-shot `demo` service; the native way is `python -m deploy.launch --demo`.
    load_demo(
        {
            "accounts": os.environ.get("ACCOUNTS_URL", "http://127.0.0.1:8001"),
            "forms": os.environ.get("FORMS_URL", "http://127.0.0.1:8002"),
            "approvals": os.environ.get("APPROVALS_URL", "http://127.0.0.1:8003"),
            "notifications": os.environ.get("NOTIFICATIONS_URL", "http://127.0.0.1:8004"),
            "personnel": os.environ.get("PERSONNEL_URL", "http://127.0.0.1:8005"),
        },
        admin_password=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        web_url=os.environ.get("WEB_PUBLIC_URL", "http://127.0.0.1:8000"),
    )
