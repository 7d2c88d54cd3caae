"""Exports of submissions and their answers, as CSV or Excel, for the caller's area: one unit, a
district, a province or the whole campaign (the use case: `usecases.export`). Rows are written as
they are read, so a national export neither times out nor fills memory; the sheets themselves are
written by chassis.sheets, which neutralises formulas and characters a sheet cannot hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from .domain.definitions import FormDefinition

FIXED = ["Mã phiếu", "Mã đơn vị", "Tên đơn vị", "Trạng thái", "Lần gửi", "Phiên bản mẫu phiếu"]
STATUS_VI = {"draft": "Đang kê khai", "submitted": "Đã gửi", "returned": "Bị trả lại", "approved": "Đã duyệt"}


def cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


Row = tuple[list[Any], dict[str, Any]]  # a submission's fixed columns, and its answers


async def flat_rows(columns: list[str], rows: AsyncIterator[Row]) -> AsyncIterator[list[Any]]:
    """Each submission as one row: its fixed columns, then an answer per question."""
    async for fixed, answers in rows:
        yield [*fixed, *(cell(answers.get(c)) for c in columns)]


def header_for(columns: list[str], definition: FormDefinition | None) -> list[str]:
    labels = definition.fields if definition else {}
    return [*FIXED, *(f"{c} {labels[c].label}" if c in labels else c for c in columns)]
