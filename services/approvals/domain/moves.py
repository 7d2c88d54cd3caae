"""Moving an official's record to another unit, through the level that must decide (seed 003, 2.1):
a record leaving its unit goes through the level above; between a province's departments and
districts, or out of the province, through the province's Department of Home Affairs (the
province's supervisors here, as in the census chain). Personnel asks; the decision is taken here
and sent back as an event. Plain Python: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from chassis.auth import Principal
from chassis.errors import Conflict, NotFound
from moha_contracts import Event, MoveApproved, MoveRequested, MoveReturned

from .model import APPROVED, OPEN, RETURNED, ReasonRequired


def move_decider(source: list[tuple[str, str]], target: list[tuple[str, str]]) -> str:
    """The unit whose supervisors decide. `source`, `target`: (unit id, level) from the root down
    to each unit itself. The nearest unit above both decides (the sending unit's parent when the
    receiving unit is under it too; the province between its departments and districts); a record
    leaving its province goes through the province it leaves."""
    common = [a for a, b in zip(source, target, strict=False) if a == b]
    province = next((unit for unit, level in source if level == "province"), None)
    if not common or (common[-1][1] == "central" and province is not None):
        return province or source[0][0]
    return common[-1][0]


def move_task_id(move_id: str) -> str:
    return f"move-{move_id}"


@dataclass
class MoveReview:
    id: str
    move_id: str
    record_id: str
    record_kind: str
    process: str
    from_unit_id: str
    to_unit_id: str
    from_lineage: list[str]
    to_lineage: list[str]
    decider_unit_id: str
    requested_by: str
    requested_at: datetime
    status: str = OPEN
    decided_by: str | None = None
    decided_at: datetime | None = None
    decided_from: str | None = None
    reason: str | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def open(cls, request: MoveRequested, source: list[tuple[str, str]], target: list[tuple[str, str]]) -> MoveReview:
        return cls(
            id=move_task_id(request.move_id),
            move_id=request.move_id,
            record_id=request.record_id,
            record_kind=request.record_kind,
            process=request.process,
            from_unit_id=request.from_unit_id,
            to_unit_id=request.to_unit_id,
            from_lineage=[u for u, _ in source],
            to_lineage=[u for u, _ in target],
            decider_unit_id=move_decider(source, target),
            requested_by=request.requested_by,
            requested_at=request.requested_at,
        )

    def decidable_by(self, who: Principal) -> bool:
        return who.is_supervisor and who.unit_id == self.decider_unit_id

    def visible_to(self, who: Principal) -> bool:
        """The deciding level, those above it, and the two units and those above them (the sending
        unit reads why a move was returned)."""
        return who.role == "central_admin" or who.unit_id in self.from_lineage or who.unit_id in self.to_lineage

    def approve(self, by: Principal, now: datetime | None = None, ip: str | None = None) -> None:
        self._decide(APPROVED, by, now, ip)
        self.events.append(
            MoveApproved(
                task_id=self.id,
                move_id=self.move_id,
                record_id=self.record_id,
                from_unit_id=self.from_unit_id,
                to_unit_id=self.to_unit_id,
                decider_unit_id=self.decider_unit_id,
                approved_by=by.account_id,
                approved_at=self.decided_at,
            )
        )

    def return_to_unit(self, by: Principal, reason: str, now: datetime | None = None, ip: str | None = None) -> None:
        if not reason.strip():
            raise ReasonRequired("Phải ghi rõ lý do trả lại đề nghị chuyển hồ sơ")
        self._decide(RETURNED, by, now, ip)
        self.reason = reason.strip()
        self.events.append(
            MoveReturned(
                task_id=self.id,
                move_id=self.move_id,
                record_id=self.record_id,
                from_unit_id=self.from_unit_id,
                to_unit_id=self.to_unit_id,
                decider_unit_id=self.decider_unit_id,
                returned_by=by.account_id,
                returned_at=self.decided_at,
            )
        )

    def _decide(self, status: str, by: Principal, now: datetime | None, ip: str | None) -> None:
        if not self.decidable_by(by):
            raise NotFound("Không tìm thấy đề nghị chuyển hồ sơ")
        if self.status != OPEN:
            raise Conflict("Đề nghị chuyển hồ sơ này đã có quyết định", code="already_decided")
        self.status, self.decided_by, self.decided_at, self.decided_from = (
            status,
            by.account_id,
            now or datetime.now(UTC),
            ip,
        )
