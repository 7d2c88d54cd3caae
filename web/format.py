"""How the pages write dates, numbers and the platform's words: dd/mm/yyyy, 1.234,5, Vietnamese."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from chassis.clock import VIETNAM, today_in_vietnam
from chassis.workdays import effective_deadline, working_days_after

ROLES = {
    "central_admin": "Quản trị hệ thống cấp Trung ương",
    "province_admin": "Quản trị hệ thống cấp tỉnh",
    "district_admin": "Quản trị hệ thống cấp huyện",
    "province_supervisor": "Giám sát viên cấp tỉnh",
    "district_supervisor": "Giám sát viên cấp huyện",
    "reporting_unit": "Đơn vị cung cấp thông tin",
}

# A submission's status in forms, as the unit sees it, with the tag colour it gets.
SUBMISSION_STATUS = {
    None: ("Chưa bắt đầu", "govuk-tag--grey"),
    "draft": ("Đang kê khai", "govuk-tag--light-blue"),
    "submitted": ("Đã gửi, chờ duyệt", "govuk-tag--blue"),
    "returned": ("Bị trả lại", "govuk-tag--red"),
    "approved": ("Đã được xác nhận", "govuk-tag--green"),
}
TASK_STATUS = {
    "open": ("Chờ duyệt", "govuk-tag--blue"),
    "approved": ("Đã duyệt", "govuk-tag--green"),
    "returned": ("Đã trả lại", "govuk-tag--red"),
}
PROGRESS_TAGS = {
    "not_started": "govuk-tag--grey",
    "draft": "govuk-tag--light-blue",
    "submitted": "govuk-tag--blue",
    "under_review": "govuk-tag--purple",
    "returned": "govuk-tag--red",
    "approved_level": "govuk-tag--turquoise",
    "confirmed": "govuk-tag--green",
}
LEVELS = {"central": "Trung ương", "province": "Tỉnh", "district": "Huyện", "commune": "Xã", "agency": "Cơ quan"}


def as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(VIETNAM).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if len(text) > 10:
        return as_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return date.fromisoformat(text)


def vn_date(value: Any) -> str:
    day = as_date(value)
    return f"{day:%d/%m/%Y}" if day else ""


def vn_datetime(value: Any) -> str:
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo:
        moment = moment.astimezone(VIETNAM)
    return f"{moment:%H:%M} ngày {moment:%d/%m/%Y}"


def vn_number(value: Any, decimals: int | None = None) -> str:
    """1234.5 -> "1.234,5": dots between thousands, a comma before the decimals."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if not isinstance(value, int | float):
        return str(value)
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def vn_percent(value: Any) -> str:
    return "" if value is None else f"{vn_number(value, 1)}%"


def working_days_left(deadline: Any, today: date | None = None) -> int:
    """Working days from today to the deadline (moved past a day off), the deadline itself counted."""
    due = effective_deadline(as_date(deadline))  # type: ignore[arg-type]
    today = today or today_in_vietnam()
    if today > due:
        return -working_days_after(due, today)
    return working_days_after(today - timedelta(days=1), due)


def answer_text(value: Any) -> str:
    if value is None or value == "":
        return "Chưa trả lời"
    return vn_number(value) if isinstance(value, int | float | bool) else str(value)


FILTERS = {
    "vn_date": vn_date,
    "vn_datetime": vn_datetime,
    "vn_number": vn_number,
    "vn_percent": vn_percent,
    "answer_text": answer_text,
    "role_label": lambda role: ROLES.get(role, role),
    "level_label": lambda level: UNIT_LEVELS.get(level, level),
    "linkify": lambda text: linkify(text),
}


def field_id(code: str) -> str:
    """An HTML id for a form field's code ("A2.1" -> "f-A2-1"): dots would read as CSS classes."""
    return "f-" + code.replace(".", "-")


# Administrators' words (issue 15) ----------------------------------------------------------
UNIT_STATUS = {
    "active": ("Đang hoạt động", "govuk-tag--green"),
    "retired": ("Đã giải thể, sáp nhập", "govuk-tag--grey"),
}
ACCOUNT_STATUS = {"active": ("Đang hoạt động", "govuk-tag--green"), "revoked": ("Đã thu hồi", "govuk-tag--grey")}
# What the audit trail records, as people say it; an action not listed shows as recorded.
AUDIT_ACTIONS = {
    "login": "Đăng nhập",
    "password_change": "Đổi mật khẩu (không thành công)",
    "password_changed": "Đổi mật khẩu",
    "password_reset": "Cấp lại mật khẩu",
    "account_issued": "Cấp tài khoản",
    "account_revoked": "Thu hồi tài khoản",
    "account_unlocked": "Mở khóa tài khoản",
    "role_changed": "Đổi vai trò",
    "supervisor_assigned": "Giao đơn vị cho giám sát viên",
    "unit_registered": "Thêm đơn vị",
    "unit_renamed": "Đổi tên đơn vị",
    "unit_moved": "Chuyển đơn vị cấp trên",
    "unit_retired": "Giải thể, sáp nhập đơn vị",
    "units_imported": "Nhập đơn vị từ tệp",
    "accounts_imported": "Cấp tài khoản từ tệp",
    "credentials_downloaded": "Tải danh sách mật khẩu ban đầu",
    "audit_exported": "Tải nhật ký hệ thống",
}
OUTCOMES = {
    "ok": "Thành công",
    "wrong_password": "Sai mật khẩu",
    "throttled": "Bị chặn tạm thời",
    "unknown_name": "Tên đăng nhập không tồn tại",
    "inactive": "Tài khoản đã thu hồi",
}
UNIT_LEVELS: dict[str, str] = {"province": "Tỉnh", "district": "Huyện", "commune": "Xã", "agency": "Cơ quan, đơn vị"}


URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> list[tuple[str, str | None]]:
    """A line of a notice as plain parts and web addresses (the template makes the links, escaped)."""
    parts: list[tuple[str, str | None]] = []
    last = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        if match.start() > last:
            parts.append((text[last : match.start()], None))
        parts.append((url, url))
        last = match.start() + len(url)
    if last < len(text):
        parts.append((text[last:], None))
    return parts
