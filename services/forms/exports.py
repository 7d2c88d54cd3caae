"""Exports of submissions and their answers, as CSV or Excel, for the caller's area: one unit, a
district, a province or the whole campaign. Rows are written as they are read, so a national
export neither times out nor fills memory; the sheets themselves are written by chassis.sheets,
which neutralises formulas and characters a sheet cannot hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from chassis.auth import Principal

from .domain.definitions import FormDefinition
from .store import SUBMISSIONS, DefinitionStore, SubmissionStore

FIXED = ["Mã phiếu", "Mã đơn vị", "Tên đơn vị", "Trạng thái", "Lần gửi", "Phiên bản mẫu phiếu"]
STATUS_VI = {"draft": "Đang kê khai", "submitted": "Đã gửi", "returned": "Bị trả lại", "approved": "Đã duyệt"}


class Export:
    def __init__(self, submissions: SubmissionStore, definitions: DefinitionStore, units: Any) -> None:
        self.submissions = submissions
        self.definitions = definitions
        self.units = units

    async def columns(self, form_code: str) -> list[str]:
        """Every question of every published version of the form, latest version's order first."""
        latest = await self.definitions.latest_version(form_code)
        versions = [d for v in range(latest, 0, -1) if (d := await self.definitions.get(form_code, v))]
        return list(dict.fromkeys(code for d in versions for code in d.fields))

    async def rows(self, principal: Principal, campaign_id: str, area: str | None) -> AsyncIterator[list[Any]]:
        # The tree once (not a lookup per row): who is under the caller, and each unit's code and name.
        tree = {u["_id"]: u async for u in self.units.units.find({})}
        root = area or principal.unit_id
        cursor = self.submissions.store[SUBMISSIONS].find({"campaign_id": campaign_id})
        async for doc in cursor:
            unit = tree.get(doc["unit_id"])
            lineage = [*unit["path"], doc["unit_id"]] if unit else [doc["unit_id"]]
            if principal.unit_id not in lineage or root not in lineage:
                continue
            if principal.role == "reporting_unit" and doc["unit_id"] != principal.unit_id:
                continue  # a unit sees its own form only, whatever hangs under it
            answers = {a["field"]: a["value"] for a in doc["answers"]}
            yield (
                [
                    doc["_id"],
                    unit["code"] if unit else "",
                    unit["name"] if unit else "",
                    STATUS_VI.get(doc["status"], doc["status"]),
                    doc["revision"],
                    doc.get("definition_version", 0),
                ],
                answers,
            )


def cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


async def flat_rows(columns: list[str], rows: AsyncIterator) -> AsyncIterator[list[Any]]:
    """Each submission as one row: its fixed columns, then an answer per question."""
    async for fixed, answers in rows:
        yield [*fixed, *(cell(answers.get(c)) for c in columns)]


def header_for(columns: list[str], definition: FormDefinition | None) -> list[str]:
    labels = definition.fields if definition else {}
    return [*FIXED, *(f"{c} {labels[c].label}" if c in labels else c for c in columns)]
