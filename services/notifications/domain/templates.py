"""What a person reads: Vietnamese, with full diacritics. One template per kind of notice."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


_TEMPLATES = {
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


def render(template: str, **values: object) -> Rendered:
    subject, body = _TEMPLATES[template]
    return Rendered(Template(subject).substitute(values), Template(body).substitute(values))
