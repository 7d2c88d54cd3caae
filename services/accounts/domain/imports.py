"""Importing units and issuing accounts from a sheet: every row is checked before anything is
stored, and one bad row rejects the sheet with a report of every bad row. Plain Python: no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from chassis.auth import Principal
from chassis.errors import DomainError, Forbidden
from chassis.sheets import row_number

from .model import CHILD_LEVELS, ROLE_LEVELS, Unit, check_administration, check_issuance

CODE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
LEVELS = ("province", "district", "commune", "agency")
MAX_REPORTED = 1000
# Ids made from the national code: importing the same sheet again, or finishing an import a crash
# interrupted, makes the same units, never a second copy.
_UNIT_NS = uuid.UUID("6f1c2a4e-8f7b-4f7e-9a55-2b1f3c0d9e11")


def unit_id_for(code: str) -> str:
    return uuid.uuid5(_UNIT_NS, code).hex


@dataclass
class RowError:
    row: int
    field: str
    message: str


class ImportRejected(DomainError):
    code = "import_rejected"

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"Tệp có {len(errors)} lỗi; chưa có dòng nào được lưu")
        self.errors = errors
        # The first thousand are enough to fix a sheet; all of a 50,000-row sheet's would be megabytes.
        self.details = {
            "errors": [{"row": e.row, "field": e.field, "message": e.message} for e in errors[:MAX_REPORTED]],
            "total": len(errors),
        }


@dataclass
class Problems:
    errors: list[RowError] = field(default_factory=list)

    def add(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(row, column, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportRejected(self.errors)


def _require(row: dict[str, str], n: int, columns: tuple[str, ...], problems: Problems) -> bool:
    missing = [c for c in columns if not row.get(c)]
    for c in missing:
        problems.add(n, c, "Thiếu thông tin bắt buộc")
    return not missing


def check_may_import(actor: Principal) -> None:
    """Before a sheet is even read: importing units and issuing accounts by the sheet is for
    administrators (the sheet's rows are then checked against each one's own scope)."""
    if not actor.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống được nhập danh sách đơn vị hay cấp tài khoản theo tệp")


def plan_units(actor: Principal, actor_unit: Unit, rows: list[dict[str, str]], existing: dict[str, Unit]) -> list[Unit]:
    """Units to create, parents before children. `existing` maps codes already in the tree (those
    the sheet names as code or parent) to their units."""
    problems = Problems()
    if not actor.is_admin:
        problems.add(0, "", "Chỉ quản trị hệ thống được nhập danh sách đơn vị")
        problems.raise_if_any()
    by_code: dict[str, tuple[int, dict[str, str]]] = {}
    for n, row in enumerate(rows, start=2):
        i = row_number(row, n)
        if not _require(row, i, ("code", "name", "level", "parent_code"), problems):
            continue
        code = row["code"]
        if not CODE.match(code):
            problems.add(i, "code", "Mã đơn vị chỉ gồm chữ, số, dấu chấm, gạch ngang, gạch dưới (tối đa 32 ký tự)")
        elif code in by_code:
            problems.add(i, "code", f"Mã '{code}' lặp lại ở dòng {by_code[code][0]}")
        elif code in existing:
            problems.add(i, "code", f"Mã '{code}' đã có trong hệ thống")
        if row["level"] not in LEVELS:
            problems.add(i, "level", f"Cấp đơn vị phải là một trong: {', '.join(LEVELS)}")
        if len(row["name"]) > 300:
            problems.add(i, "name", "Tên đơn vị dài quá 300 ký tự")
        by_code.setdefault(code, (i, row))

    planned: dict[str, Unit] = {}

    def place(code: str, trail: tuple[str, ...]) -> Unit | None:
        """The unit for `code` with its path, placing its parents first; None if it cannot be."""
        if code in planned:
            return planned[code]
        if code in existing:
            return existing[code]
        if code not in by_code:
            return None
        n, row = by_code[code]
        if code in trail:
            problems.add(n, "parent_code", "Quan hệ cấp trên tạo thành vòng: " + " → ".join([*trail, code]))
            return None
        parent = place(row["parent_code"], (*trail, code))
        if parent is None:
            if row["parent_code"] not in by_code and row["parent_code"] not in existing:
                problems.add(n, "parent_code", f"Không có đơn vị cấp trên mã '{row['parent_code']}'")
            return None
        if not actor_unit.contains(parent):
            problems.add(n, "parent_code", "Đơn vị cấp trên nằm ngoài phạm vi quản trị của bạn")
            return None
        if row["level"] in LEVELS and row["level"] not in CHILD_LEVELS[parent.level]:
            problems.add(n, "level", f"Không thể đặt đơn vị cấp '{row['level']}' dưới đơn vị cấp '{parent.level}'")
            return None
        unit = Unit(unit_id_for(code), code, row["name"], row["level"], parent.id, parent.lineage)
        planned[code] = unit
        return unit

    for code in by_code:
        place(code, ())
    problems.raise_if_any()
    return list(planned.values())


@dataclass
class AccountPlan:
    row: int
    username: str
    unit: Unit
    role: str
    display_name: str
    email: str | None


def plan_accounts(
    actor: Principal, actor_unit: Unit, rows: list[dict[str, str]], units: dict[str, Unit], taken_usernames: set[str]
) -> list[AccountPlan]:
    """Accounts to issue. `units` maps the unit codes the sheet names to existing units;
    `taken_usernames` are those of the sheet already in use."""
    problems = Problems()
    seen: dict[str, int] = {}
    plans = []
    for n, row in enumerate(rows, start=2):
        i = row_number(row, n)
        if not _require(row, i, ("username", "unit_code", "role", "display_name"), problems):
            continue
        username = row["username"].lower()
        if username in seen:
            problems.add(i, "username", f"Tên đăng nhập lặp lại ở dòng {seen[username]}")
            continue
        seen[username] = i
        if username in taken_usernames:
            problems.add(i, "username", f"Tên đăng nhập '{username}' đã có trong hệ thống")
        unit = units.get(row["unit_code"])
        if unit is None:
            problems.add(i, "unit_code", f"Không có đơn vị mã '{row['unit_code']}'")
            continue
        if row["role"] not in ROLE_LEVELS:
            problems.add(i, "role", "Vai trò không hợp lệ")
            continue
        email = row.get("email") or None
        if email:
            try:
                email = validate_email(email, check_deliverability=False).normalized
            except EmailNotValidError:
                problems.add(i, "email", f"Địa chỉ thư điện tử '{email}' không hợp lệ")
        try:
            check_administration(actor, actor_unit, unit, row["role"])
            check_issuance(actor, actor_unit, unit, row["role"], username)
        except DomainError as exc:
            column = {"invalid_username": "username", "invalid_role": "role", "role_not_allowed": "role"}.get(
                exc.code, "unit_code"
            )
            problems.add(i, column, exc.message)
            continue
        plans.append(AccountPlan(i, username, unit, row["role"], row["display_name"][:200], email))
    problems.raise_if_any()
    return plans


def account_id_for(username: str) -> str:
    return uuid.uuid5(_UNIT_NS, "account:" + username).hex
