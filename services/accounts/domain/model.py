"""The administrative tree and the accounts issued on it. Plain Python: no I/O."""

from __future__ import annotations

import re
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chassis.auth import Principal
from chassis.errors import Conflict, DomainError, Forbidden
from moha_contracts import AccountIssued, Event, UnitRegistered

ROOT_UNIT_ID = "root"

# Which level may hang under which: the tree is data, but a commune never holds a province.
CHILD_LEVELS = {
    "central": {"province", "agency"},
    "province": {"district", "commune", "agency"},  # communes directly under a province since 2025
    "district": {"commune", "agency"},
    "commune": {"agency"},
    "agency": {"agency"},
}

# Who may issue which roles (DESIGN §2), always inside the issuer's own subtree.
ISSUABLE = {
    "central_admin": {"central_admin", "province_admin", "province_supervisor", "district_admin",
                      "district_supervisor", "reporting_unit"},
    "province_admin": {"province_supervisor", "district_admin", "district_supervisor", "reporting_unit"},
    "district_admin": {"district_supervisor", "reporting_unit"},
}
ROLE_LEVELS = {
    "central_admin": {"central"},
    "province_admin": {"province"},
    "province_supervisor": {"province"},
    "district_admin": {"district"},
    "district_supervisor": {"district"},
    "reporting_unit": {"province", "district", "commune", "agency"},
}

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class PasswordPolicyViolated(DomainError):
    code = "weak_password"


@dataclass
class Unit:
    id: str
    code: str
    name: str
    level: str
    parent_id: str | None
    path: list[str]
    events: list[Event] = field(default_factory=list)

    @property
    def lineage(self) -> list[str]:
        return [*self.path, self.id]

    def contains(self, other: Unit) -> bool:
        return self.id in other.lineage


def register_root(code: str, name: str) -> Unit:
    unit = Unit(ROOT_UNIT_ID, code, name, "central", None, [])
    unit.events.append(_registered(unit))
    return unit


def register_unit(actor: Principal, actor_unit: Unit, parent: Unit, code: str, name: str, level: str) -> Unit:
    if not actor.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống được thêm đơn vị")
    if not actor_unit.contains(parent):
        raise Forbidden("Đơn vị cha nằm ngoài phạm vi quản trị của bạn")
    if level not in CHILD_LEVELS[parent.level]:
        raise DomainError(f"Không thể đặt đơn vị cấp '{level}' dưới đơn vị cấp '{parent.level}'", code="invalid_level")
    unit = Unit(uuid.uuid4().hex, code, name, level, parent.id, parent.lineage)
    unit.events.append(_registered(unit))
    return unit


def _registered(unit: Unit) -> UnitRegistered:
    return UnitRegistered(
        unit_id=unit.id, code=unit.code, name=unit.name, level=unit.level, parent_id=unit.parent_id, path=unit.path
    )


@dataclass
class Account:
    id: str
    username: str
    unit_id: str
    role: str
    display_name: str
    email: str | None
    password_hash: str
    status: str = "active"
    must_change_password: bool = True
    issued_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    events: list[Event] = field(default_factory=list)


def check_issuance(actor: Principal | None, actor_unit: Unit | None, unit: Unit, role: str, username: str) -> None:
    """Issuance comes from the level above, inside the issuer's subtree; None is the bootstrap."""
    # Authority first: someone without it learns nothing from the other checks.
    if actor is not None:
        if role not in ISSUABLE.get(actor.role, set()):
            raise Forbidden(f"Tài khoản của bạn không được cấp vai trò '{role}'")
        if actor_unit is None or not actor_unit.contains(unit):
            raise Forbidden("Đơn vị nằm ngoài phạm vi quản trị của bạn")
    if not USERNAME.match(username):
        raise DomainError(
            "Tên đăng nhập gồm 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch ngang, gạch dưới",
            code="invalid_username",
        )
    if unit.level not in ROLE_LEVELS[role]:
        raise DomainError(f"Vai trò '{role}' không dùng cho đơn vị cấp '{unit.level}'", code="invalid_role")


def issue_account(
    actor: Principal | None, unit: Unit, *, username: str, role: str, display_name: str, email: str | None,
    password_hash: str,
) -> Account:
    account = Account(uuid.uuid4().hex, username, unit.id, role, display_name, email, password_hash)
    account.events.append(
        AccountIssued(
            account_id=account.id, username=username, unit_id=unit.id, role=role, email=email,
            display_name=display_name, issued_by=actor.account_id if actor else None,
        )
    )
    return account


def new_initial_password(length: int = 14) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length - 2)) + secrets.choice("!@#$%&*") + secrets.choice(string.digits)
        try:
            check_password_policy(candidate)
            return candidate
        except PasswordPolicyViolated:
            continue


def check_password_policy(password: str) -> None:
    if len(password) < 10:
        raise PasswordPolicyViolated("Mật khẩu phải có ít nhất 10 ký tự")
    classes = [any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    if sum(classes) < 3:
        raise PasswordPolicyViolated("Mật khẩu phải có ít nhất 3 trong 4 loại: chữ thường, chữ hoa, chữ số, ký tự đặc biệt")


def duplicate(what: str, value: str) -> Conflict:
    return Conflict(f"{what} '{value}' đã tồn tại", code="duplicate")
