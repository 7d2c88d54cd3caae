"""The Lạng Sơn scope of the 2021 census (deploy/data/lang-son-2021-scope.csv, from seed 000) as
the sheets an administrator would upload: 11 districts, 60 provincial units and 485 units in the
districts, and one reporting-unit account for each of the 545 units in scope. The seed gives the
counts, not the names below district level: those are generated."""

from __future__ import annotations

import csv
from pathlib import Path

from chassis.sheets import write_csv

SCOPE = Path(__file__).resolve().parent / "data" / "lang-son-2021-scope.csv"

PROVINCIAL = [
    "Văn phòng Ủy ban nhân dân tỉnh",
    "Sở Nội vụ",
    "Sở Tài chính",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tư pháp",
    "Sở Công Thương",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Xây dựng",
    "Sở Giao thông vận tải",
    "Sở Nông nghiệp và Phát triển nông thôn",
    "Sở Tài nguyên và Môi trường",
    "Sở Lao động – Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Sở Thông tin và Truyền thông",
    "Thanh tra tỉnh",
    "Ban Dân tộc tỉnh",
    "Sở Ngoại vụ",
]
DISTRICT_AGENCIES = [
    "Văn phòng HĐND và UBND",
    "Phòng Nội vụ",
    "Phòng Tài chính – Kế hoạch",
    "Phòng Tư pháp",
    "Phòng Giáo dục và Đào tạo",
    "Phòng Y tế",
    "Phòng Tài nguyên và Môi trường",
    "Phòng Lao động – Thương binh và Xã hội",
    "Phòng Văn hóa và Thông tin",
    "Thanh tra huyện",
]


def scope() -> tuple[dict[str, str], list[dict[str, str]]]:
    rows = list(csv.DictReader(SCOPE.open(encoding="utf-8")))
    return next(r for r in rows if r["level"] == "province"), [r for r in rows if r["level"] == "district"]


def unit_rows(province_code: str | None = None) -> list[dict[str, str]]:
    """Rows for POST /units/import, under an existing province (its code, default the seed's)."""
    province, districts = scope()
    code = province_code or province["code"]
    rows = []
    for i in range(int(province["units_in_scope"])):
        name = (
            PROVINCIAL[i] if i < len(PROVINCIAL) else f"Đơn vị sự nghiệp trực thuộc tỉnh số {i - len(PROVINCIAL) + 1}"
        )
        rows.append({"code": f"{code}-T{i + 1:02d}", "name": name, "level": "agency", "parent_code": code})
    for d in districts:
        d_code = f"{code}-{d['code']}" if province_code else d["code"]
        rows.append({"code": d_code, "name": d["name"], "level": "district", "parent_code": code})
        short = d["name"].removeprefix("Huyện ").removeprefix("Thành phố ")
        for j in range(int(d["units_in_scope"])):
            if j < len(DISTRICT_AGENCIES):
                name, level = f"{DISTRICT_AGENCIES[j]} {short}", "agency"
            else:
                name, level = f"Ủy ban nhân dân xã số {j - len(DISTRICT_AGENCIES) + 1}, {short}", "commune"
            rows.append({"code": f"{d_code}-{j + 1:03d}", "name": name, "level": level, "parent_code": d_code})
    return rows


def account_rows(units: list[dict[str, str]], domain: str = "langson.gov.vn") -> list[dict[str, str]]:
    """One reporting-unit account for every unit in scope (not for the districts themselves)."""
    return [
        {
            "username": f"dv.{u['code'].lower()}",
            "unit_code": u["code"],
            "role": "reporting_unit",
            "display_name": u["name"],
            "email": f"dv.{u['code'].lower()}@{domain}",
        }
        for u in units
        if u["level"] != "district"
    ]


def to_csv(rows: list[dict[str, str]]) -> bytes:
    return write_csv(list(rows[0]), [list(r.values()) for r in rows])
