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
from moha_contracts import (
    AccountActivated,
    AccountIssued,
    AccountRevoked,
    AccountRoleChanged,
    Event,
    PasswordChanged,
    PasswordReset,
    SupervisorAssigned,
    UnitMoved,
    UnitRegistered,
    UnitRenamed,
    UnitRetired,
)

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
    "central_admin": {
        "central_admin",
        "province_admin",
        "province_supervisor",
        "district_admin",
        "district_supervisor",
        "reporting_unit",
    },
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
    status: str = "active"
    merged_into: str | None = None
    history: list[dict] = field(default_factory=list)
    registered_at: datetime | None = field(default_factory=lambda: datetime.now(UTC))
    version: int = 0  # 0: new, not stored yet (chassis.unit_of_work)
    events: list[Event] = field(default_factory=list)

    def rename(self, by: Principal, by_unit: Unit, name: str, reason: str, now: datetime) -> None:
        self._administered_by(by, by_unit)
        if not reason.strip():
            raise DomainError("Phải ghi rõ lý do", code="reason_required")
        if name == self.name:
            raise Conflict("Đơn vị đã có tên này", code="same_name")
        self.history.append(
            {"at": now, "action": "renamed", "from": self.name, "to": name, "by": by.account_id, "reason": reason}
        )
        self.events.append(
            UnitRenamed(unit_id=self.id, name=name, previous_name=self.name, reason=reason, renamed_at=now)
        )
        self.name = name

    def retire(
        self, by: Principal, by_unit: Unit, reason: str, now: datetime, merged_into: Unit | None, active_children: int
    ) -> None:
        """Dissolved, or merged into another unit (the 2025 reorganisation); history and data stay."""
        self._administered_by(by, by_unit)
        if not reason.strip():
            raise DomainError("Phải ghi rõ lý do", code="reason_required")
        if active_children:
            raise Conflict(f"Đơn vị còn {active_children} đơn vị trực thuộc đang hoạt động", code="has_children")
        if merged_into is not None and (merged_into.id == self.id or merged_into.status != "active"):
            raise DomainError("Không thể sáp nhập vào đơn vị này", code="invalid_merge")
        self.status = "retired"
        self.merged_into = merged_into.id if merged_into else None
        self.history.append(
            {"at": now, "action": "retired", "merged_into": self.merged_into, "by": by.account_id, "reason": reason}
        )
        self.events.append(UnitRetired(unit_id=self.id, merged_into=self.merged_into, reason=reason, retired_at=now))

    def moved(self, parent_id: str, path: list[str], reason: str, by: str, now: datetime) -> None:
        previous = self.parent_id
        self.history.append(
            {"at": now, "action": "moved", "from": previous, "to": parent_id, "by": by, "reason": reason}
        )
        self.parent_id, self.path = parent_id, path
        self.events.append(
            UnitMoved(
                unit_id=self.id,
                parent_id=parent_id,
                path=path,
                previous_parent_id=previous,
                reason=reason,
                moved_at=now,
            )
        )

    def _administered_by(self, by: Principal, by_unit: Unit) -> None:
        if not by.is_admin or not by_unit.contains(self) or by_unit.id == self.id:
            raise Forbidden("Đơn vị nằm ngoài phạm vi quản trị của bạn")
        if self.status != "active":
            raise Conflict("Đơn vị đã giải thể hoặc sáp nhập", code="unit_retired")

    @property
    def lineage(self) -> list[str]:
        return [*self.path, self.id]

    def contains(self, other: Unit) -> bool:
        return self.id in other.lineage


def register_root(code: str, name: str) -> Unit:
    unit = Unit(ROOT_UNIT_ID, code, name, "central", None, [])
    unit.events.append(registered_event(unit))
    return unit


def register_unit(actor: Principal, actor_unit: Unit, parent: Unit, code: str, name: str, level: str) -> Unit:
    if not actor.is_admin:
        raise Forbidden("Chỉ quản trị hệ thống được thêm đơn vị")
    if not actor_unit.contains(parent):
        raise Forbidden("Đơn vị cha nằm ngoài phạm vi quản trị của bạn")
    if parent.status != "active":
        raise Conflict("Đơn vị cha đã giải thể hoặc sáp nhập", code="unit_retired")
    if level not in CHILD_LEVELS[parent.level]:
        raise DomainError(f"Không thể đặt đơn vị cấp '{level}' dưới đơn vị cấp '{parent.level}'", code="invalid_level")
    unit = Unit(uuid.uuid4().hex, code, name, level, parent.id, parent.lineage)
    unit.events.append(registered_event(unit))
    return unit


def plan_move(
    by: Principal, by_unit: Unit, unit: Unit, new_parent: Unit, descendants: list[Unit], reason: str
) -> list[tuple[str, str, list[str]]]:
    """Where the unit and each of its descendants hang after the move: (unit id, parent id, path),
    the unit first, then parents before children."""
    unit._administered_by(by, by_unit)
    if not by_unit.contains(new_parent):
        raise Forbidden("Đơn vị cấp trên mới nằm ngoài phạm vi quản trị của bạn")
    if not reason.strip():
        raise DomainError("Phải ghi rõ lý do", code="reason_required")
    if new_parent.status != "active":
        raise Conflict("Đơn vị cấp trên mới đã giải thể hoặc sáp nhập", code="unit_retired")
    if unit.contains(new_parent):
        raise DomainError("Không thể chuyển đơn vị vào dưới chính nó", code="cycle")
    if new_parent.id == unit.parent_id:
        raise Conflict("Đơn vị đã ở dưới đơn vị cấp trên này", code="same_parent")
    if unit.level not in CHILD_LEVELS[new_parent.level]:
        raise DomainError(
            f"Không thể đặt đơn vị cấp '{unit.level}' dưới đơn vị cấp '{new_parent.level}'", code="invalid_level"
        )
    paths = {unit.id: new_parent.lineage}
    plan = [(unit.id, new_parent.id, new_parent.lineage)]
    for child in sorted(descendants, key=lambda u: len(u.path)):
        assert child.parent_id is not None, "a descendant has a parent"
        parent_path = paths[child.parent_id]
        paths[child.id] = [*parent_path, child.parent_id]
        plan.append((child.id, child.parent_id, paths[child.id]))
    return plan


def registered_event(unit: Unit) -> UnitRegistered:
    return UnitRegistered(
        unit_id=unit.id, code=unit.code, name=unit.name, level=unit.level, parent_id=unit.parent_id, path=unit.path
    )


class InvalidCredentials(DomainError):
    """A wrong name or password, or an attempt refused by the throttle: one answer for all, so a
    guesser never learns which (domain/throttle.py)."""

    status = 401
    code = "invalid_credentials"


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
    issued_by: str | None = None
    tokens_valid_after: datetime | None = None
    revoked_reason: str | None = None
    assigned_units: list[str] = field(default_factory=list)
    assignment_version: int = 0
    version: int = 0
    events: list[Event] = field(default_factory=list)

    # signing in (throttled in domain/throttle.py) -----------------------------------------
    def change_password(self, new_hash: str, now: datetime) -> None:
        """The holder's own change: every token issued before it stops working, in every service
        (another device, or someone who took a token, is signed out); the caller gets a new one."""
        first = self.must_change_password
        self.password_hash = new_hash
        self.must_change_password = False
        self.tokens_valid_after = now
        if first:
            self.events.append(AccountActivated(account_id=self.id, unit_id=self.unit_id, activated_at=now))
        self.events.append(PasswordChanged(account_id=self.id, unit_id=self.unit_id, changed_at=now))

    # administration -----------------------------------------------------------------------
    def reset_password(self, by: Principal, reason: str, new_hash: str, now: datetime) -> None:
        self._require_reason(reason)
        self._require_active()
        self.password_hash = new_hash
        self.must_change_password = True
        self.tokens_valid_after = now
        self.events.append(
            PasswordReset(
                account_id=self.id, unit_id=self.unit_id, reason=reason.strip(), reset_by=by.account_id, reset_at=now
            )
        )

    def revoke(self, by: Principal, reason: str, now: datetime) -> None:
        self._require_reason(reason)
        self._require_active()
        if by.account_id == self.id:
            raise Forbidden("Không thể tự thu hồi tài khoản của mình")
        self.status = "revoked"
        self.revoked_reason = reason.strip()
        self.events.append(
            AccountRevoked(
                account_id=self.id,
                unit_id=self.unit_id,
                reason=self.revoked_reason,
                revoked_by=by.account_id,
                revoked_at=now,
            )
        )

    def assign(self, by: Principal, units: list[Unit], own_unit: Unit, now: datetime) -> None:
        """The units this supervisor reviews: inside its own unit's subtree, never its own unit."""
        self._require_active()
        if self.role not in ("district_supervisor", "province_supervisor"):
            raise DomainError("Chỉ giao đơn vị cho giám sát viên", code="not_a_supervisor")
        for unit in units:
            if not own_unit.contains(unit) or unit.id == own_unit.id:
                raise DomainError(f"Đơn vị '{unit.code}' không thuộc địa bàn của giám sát viên", code="out_of_area")
        self.assigned_units = sorted({u.id for u in units})
        self.assignment_version += 1
        self.events.append(
            SupervisorAssigned(
                supervisor_id=self.id,
                unit_ids=self.assigned_units,
                assignment_version=self.assignment_version,
                assigned_by=by.account_id,
                assigned_at=now,
            )
        )

    def change_role(self, by: Principal, role: str, unit: Unit, reason: str, now: datetime) -> None:
        self._require_reason(reason)
        self._require_active()
        if role == self.role:
            raise Conflict("Tài khoản đã có vai trò này", code="same_role")
        if unit.level not in ROLE_LEVELS[role]:
            raise DomainError(f"Vai trò '{role}' không dùng cho đơn vị cấp '{unit.level}'", code="invalid_role")
        previous, self.role = self.role, role
        self.tokens_valid_after = now  # ends the tokens that carry the old role, here as elsewhere
        if self.assigned_units and role not in ("district_supervisor", "province_supervisor"):
            # Tell the reviewers' side too, or a later supervisor role would find the old list.
            self.assigned_units = []
            self.assignment_version += 1
            self.events.append(
                SupervisorAssigned(
                    supervisor_id=self.id,
                    unit_ids=[],
                    assignment_version=self.assignment_version,
                    assigned_by=by.account_id,
                    assigned_at=now,
                )
            )
        self.events.append(
            AccountRoleChanged(
                account_id=self.id,
                unit_id=self.unit_id,
                role=role,
                previous_role=previous,
                reason=reason.strip(),
                changed_by=by.account_id,
                changed_at=now,
            )
        )

    def unlock(self, by: Principal, reason: str, new_hash: str, now: datetime) -> None:
        """Let the holder sign in again at once, with a new initial password: the old one is what
        the guesses were after, and may have been found meanwhile."""
        self.reset_password(by, reason, new_hash, now)

    def _require_active(self) -> None:
        if self.status != "active":
            raise Conflict("Tài khoản đã bị thu hồi", code="account_revoked")

    @staticmethod
    def _require_reason(reason: str) -> None:
        if not reason.strip():
            raise DomainError("Phải ghi rõ lý do", code="reason_required")


def check_administration(actor: Principal, actor_unit: Unit, unit: Unit, role: str) -> None:
    """Issuing, resetting, revoking and unlocking are for the level above, inside its own subtree."""
    if role not in ISSUABLE.get(actor.role, set()):
        raise Forbidden(f"Tài khoản của bạn không quản lý tài khoản vai trò '{role}'", code="role_not_allowed")
    if not actor_unit.contains(unit):
        raise Forbidden("Đơn vị nằm ngoài phạm vi quản trị của bạn", code="out_of_scope")


def check_issuance(actor: Principal | None, actor_unit: Unit | None, unit: Unit, role: str, username: str) -> None:
    """Issuance comes from the level above, inside the issuer's subtree; None is the bootstrap."""
    # Authority first: someone without it learns nothing from the other checks.
    if actor is not None:
        if actor_unit is None:
            raise Forbidden("Đơn vị nằm ngoài phạm vi quản trị của bạn")
        check_administration(actor, actor_unit, unit, role)
    if not USERNAME.match(username):
        raise DomainError(
            "Tên đăng nhập gồm 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch ngang, gạch dưới",
            code="invalid_username",
        )
    if unit.level not in ROLE_LEVELS[role]:
        raise DomainError(f"Vai trò '{role}' không dùng cho đơn vị cấp '{unit.level}'", code="invalid_role")


def issue_account(
    actor: Principal | None,
    unit: Unit,
    *,
    username: str,
    role: str,
    display_name: str,
    email: str | None,
    password_hash: str,
    account_id: str | None = None,
) -> Account:
    account = Account(
        account_id or uuid.uuid4().hex,
        username,
        unit.id,
        role,
        display_name,
        email,
        password_hash,
        issued_by=actor.account_id if actor else None,
    )
    account.events.append(
        AccountIssued(
            account_id=account.id,
            username=username,
            unit_id=unit.id,
            role=role,
            email=email,
            display_name=display_name,
            issued_by=actor.account_id if actor else None,
        )
    )
    return account


def new_initial_password(length: int = 14) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = (
            "".join(secrets.choice(alphabet) for _ in range(length - 2))
            + secrets.choice("!@#$%&*")
            + secrets.choice(string.digits)
        )
        try:
            check_password_policy(candidate)
            return candidate
        except PasswordPolicyViolated:
            continue


def check_password_policy(password: str) -> None:
    if len(password) < 10:
        raise PasswordPolicyViolated("Mật khẩu phải có ít nhất 10 ký tự")
    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if sum(classes) < 3:
        raise PasswordPolicyViolated(
            "Mật khẩu phải có ít nhất 3 trong 4 loại: chữ thường, chữ hoa, chữ số, ký tự đặc biệt"
        )


def duplicate(what: str, value: str) -> Conflict:
    return Conflict(f"{what} '{value}' đã tồn tại", code="duplicate")
