import pytest

from chassis.auth import Principal
from services.accounts.domain.imports import ImportRejected, plan_accounts, plan_units, unit_id_for
from services.accounts.domain.model import Unit

ROOT = Unit("root", "BNV", "Bộ Nội vụ", "central", None, [])
PROVINCE = Unit("p", "20", "Tỉnh Lạng Sơn", "province", "root", ["root"])
OTHER = Unit("q", "21", "Tỉnh khác", "province", "root", ["root"])
ADMIN = Principal("a", "qt", "p", "province_admin")


def rows(*specs):
    return [dict(zip(("code", "name", "level", "parent_code"), spec, strict=True)) for spec in specs]


def test_parents_come_first_whatever_the_order_of_the_sheet():
    planned = plan_units(
        ADMIN,
        PROVINCE,
        rows(("178-01", "Xã", "commune", "178"), ("178", "TP Lạng Sơn", "district", "20")),
        {"20": PROVINCE},
    )
    assert [u.code for u in planned] == ["178", "178-01"]
    assert planned[1].path == ["root", "p", unit_id_for("178")]
    assert planned[0].id == unit_id_for("178")  # the same sheet again makes the same ids


def test_every_bad_row_is_reported():
    with pytest.raises(ImportRejected) as rejected:
        plan_units(
            ADMIN,
            PROVINCE,
            rows(
                ("178", "TP", "district", "20"),
                ("178", "TP lặp", "district", "20"),
                ("x1", "Vòng", "agency", "x2"),
                ("x2", "Vòng", "agency", "x1"),
                ("y", "Ngoài", "district", "21"),
                ("z", "Cấp sai", "province", "178"),
                ("20", "Đã có", "district", "20"),
            ),
            {"20": PROVINCE, "21": OTHER},
        )
    assert sorted({e.row for e in rejected.value.errors}) == [3, 4, 5, 6, 7, 8]
    assert rejected.value.details["errors"][0]["row"] == 3


def test_a_non_administrator_may_import_nothing():
    with pytest.raises(ImportRejected):
        plan_units(
            Principal("s", "gsv", "p", "province_supervisor"),
            PROVINCE,
            rows(("178", "TP", "district", "20")),
            {"20": PROVINCE},
        )


def test_accounts_plan_checks_each_row_against_the_issuer():
    district = Unit("d", "178", "TP", "district", "p", ["root", "p"])
    sheet = [
        {"username": "dv.178", "unit_code": "178", "role": "district_supervisor", "display_name": "GSV"},
        {"username": "DV.178", "unit_code": "178", "role": "reporting_unit", "display_name": "lặp"},
    ]
    with pytest.raises(ImportRejected) as rejected:
        plan_accounts(ADMIN, PROVINCE, sheet, {"178": district}, set())
    assert [(e.row, e.field) for e in rejected.value.errors] == [(3, "username")]
    ok = plan_accounts(ADMIN, PROVINCE, sheet[:1], {"178": district}, set())
    assert ok[0].unit is district and ok[0].email is None
