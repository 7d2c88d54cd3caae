"""What a person reads: Vietnamese, with full diacritics. One template per kind of notice."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


_TEMPLATES = {
    "account_issued": (
        "Tài khoản của bạn trên Hệ thống điều tra, báo cáo của Bộ Nội vụ",
        "Kính gửi $display_name,\n\n"
        "Tài khoản của bạn đã được cấp với tên đăng nhập: $username.\n"
        "Mật khẩu ban đầu do quản trị viên cấp trên bàn giao trực tiếp; hệ thống không gửi mật khẩu qua "
        "thư điện tử. Ở lần đăng nhập đầu tiên, bạn phải đổi mật khẩu.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "password_reset": (
        "Mật khẩu tài khoản của bạn đã được đặt lại",
        "Kính gửi $display_name,\n\n"
        "Mật khẩu tài khoản $username đã được quản trị viên đặt lại. Lý do: $reason\n"
        "Mật khẩu mới do quản trị viên bàn giao; ở lần đăng nhập tới, bạn phải đổi mật khẩu. Nếu bạn "
        "không đề nghị việc này, hãy báo ngay cho quản trị viên.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "reminder_before": (
        "Nhắc hạn gửi phiếu: $when ($campaign_title)",
        "Kính gửi $display_name,\n\n"
        'Đơn vị chưa gửi phiếu của đợt "$campaign_title". Hạn gửi của đơn vị là ngày $deadline '
        "($when).\nĐề nghị đơn vị hoàn thành và gửi phiếu đúng hạn.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "reminder_overdue": (
        "Danh sách đơn vị chưa gửi phiếu quá hạn ($campaign_title)",
        "Kính gửi $display_name,\n\n"
        'Đã quá hạn $deadline của đợt "$campaign_title", $count đơn vị thuộc địa bàn chưa gửi phiếu:\n'
        "$units\n\nĐề nghị giám sát viên đôn đốc các đơn vị trên.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "survey_invitation": (
        "Phiếu khảo sát: $survey_title",
        "Kính gửi $display_name,\n\n"
        'Bộ Nội vụ trân trọng đề nghị ông/bà trả lời phiếu khảo sát "$survey_title" tại đường dẫn riêng '
        "dưới đây (không cần tài khoản; đường dẫn chỉ dành cho ông/bà và chỉ trả lời được một lần):\n"
        "$link\n\nHạn trả lời: ngày $deadline.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "survey_reminder": (
        "Nhắc trả lời phiếu khảo sát: $when ($survey_title)",
        "Kính gửi $display_name,\n\n"
        'Ông/bà chưa trả lời phiếu khảo sát "$survey_title"; hạn trả lời là ngày $deadline ($when).\n'
        "Đường dẫn riêng của ông/bà: $link\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "notice": (
        "Thông báo: $title",
        "Kính gửi $display_name,\n\n$body\n$links\nNgười gửi: $sender\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "form_approved": (
        "Phiếu của đơn vị đã được duyệt",
        "Kính gửi $display_name,\n\n"
        "Phiếu thu thập thông tin (mã phiếu $submission_id, lần gửi $revision) của đơn vị đã được "
        "duyệt và xác nhận.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "form_approved_level": (
        "Phiếu của đơn vị đã được duyệt, đang chờ cấp trên xác nhận",
        "Kính gửi $display_name,\n\n"
        "Phiếu thu thập thông tin (mã phiếu $submission_id, lần gửi $revision) của đơn vị đã được "
        "giám sát viên duyệt và chuyển lên cấp trên xác nhận.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
    "form_returned": (
        "Phiếu của đơn vị bị trả lại",
        "Kính gửi $display_name,\n\n"
        "Phiếu thu thập thông tin (mã phiếu $submission_id, lần gửi $revision) của đơn vị đã bị "
        "giám sát viên trả lại.\nLý do: $reason\n\n"
        "Đề nghị đơn vị chỉnh sửa và gửi lại phiếu.\n\nTrân trọng,\nBộ Nội vụ\n",
    ),
}


def notice_outcome(status: str, recipients: int, emailed: int) -> str:
    """What became of a notice, for its sender."""
    if status == "sending":
        return "Đang gửi thông báo."
    if recipients == 0:
        return (
            "Không ai nhận được thông báo này: các đơn vị thuộc khu vực đã chọn chưa có tài khoản nào đang hoạt động."
        )
    return (
        f"Đã gửi thông báo tới {recipients} tài khoản (trong hộp thư trên hệ thống); {emailed} tài khoản "
        f"trong số đó nhận thêm qua thư điện tử."
    )


def render(template: str, **values: object) -> Rendered:
    subject, body = _TEMPLATES[template]
    return Rendered(Template(subject).substitute(values), Template(body).substitute(values))
