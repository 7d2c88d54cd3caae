"""Demo data: the Lạng Sơn province of the 2021 census (deploy/data), a supervisor, two units.
Loaded through the public HTTP API, exactly as an administrator would."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx

DATA = Path(__file__).resolve().parent / "data" / "lang-son-2021-scope.csv"
ADMIN_PASSWORD = "Demo-Admin-2026!"


def load_demo(urls: dict[str, str]) -> dict[str, dict[str, str]]:
    accounts = httpx.Client(base_url=urls["accounts"], timeout=30.0)
    token = accounts.post("/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}).raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def post(path: str, body: dict) -> dict:
        response = accounts.post(path, json=body, headers=headers)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
        return response.json()

    rows = list(csv.DictReader(DATA.open(encoding="utf-8")))
    province_row = next(r for r in rows if r["level"] == "province")
    province = post("/units", {"code": province_row["code"], "name": province_row["name"], "level": "province",
                               "parent_id": "root"})
    districts = {
        r["code"]: post("/units", {"code": r["code"], "name": r["name"], "level": "district",
                                   "parent_id": province["unit_id"]})
        for r in rows if r["level"] == "district"
    }
    city = districts["178"]
    units = [
        post("/units", {"code": "178-01", "name": "Phòng Nội vụ Thành phố Lạng Sơn", "level": "agency",
                        "parent_id": city["unit_id"]}),
        post("/units", {"code": "178-02", "name": "Ủy ban nhân dân phường Chi Lăng", "level": "commune",
                        "parent_id": city["unit_id"]}),
    ]
    logins = {"admin": {"password": ADMIN_PASSWORD, "role": "central_admin", "unit": "Bộ Nội vụ"}}
    issued = [
        ("ls.tinh.quantri", province, "province_admin", "Quản trị hệ thống tỉnh Lạng Sơn"),
        ("ls.tp.giamsat", city, "district_supervisor", "Giám sát viên Thành phố Lạng Sơn"),
        ("ls.tp.noivu", units[0], "reporting_unit", "Phòng Nội vụ Thành phố Lạng Sơn"),
        ("ls.tp.chilang", units[1], "reporting_unit", "UBND phường Chi Lăng"),
    ]
    for username, unit, role, name in issued:
        account = post("/accounts", {"username": username, "unit_id": unit["unit_id"], "role": role,
                                     "display_name": name, "email": f"{username}@langson.gov.vn"})
        logins[username] = {"password": account["initial_password"], "role": role, "unit": unit["name"],
                            "unit_id": unit["unit_id"]}
    print(f"Demo data: {province['name']} with {len(districts)} districts, {len(units)} reporting units.")
    print("Demo logins (initial passwords are shown once):")
    for username, info in logins.items():
        print(f"  {username:<18} {info['password']:<18} {info['role']:<20} {info['unit']}")
    return logins


if __name__ == "__main__":
    # python -m deploy.demo: load the demo data into services that already run (Docker Compose's
    # "demo" profile, or any other deployment), reached at ACCOUNTS_URL, FORMS_URL, ... .
    import os

    ADMIN_PASSWORD = os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
    ports = {"accounts": 8001, "forms": 8002, "approvals": 8003, "notifications": 8004}
    load_demo({name: os.environ.get(f"{name.upper()}_URL", f"http://127.0.0.1:{port}")
               for name, port in ports.items()})
