"""A record (hồ sơ) and its entries. Plain Python: no I/O.

A record is the list of its entries, never changed, only added to: each entry is one process (a
recruitment, an appointment, a salary raise, a reward, a transfer…) with its document (number,
date, issuer), its effective date and the values it gives. The record's current state is the fold
of its entries in the order they took effect. A correction is an entry too: it names the entry it
corrects, keeps the old and new value of each field it changes, who changed it, when and why, and
the fold reads the corrected entry. Nothing is ever lost.

A record moves to another unit with a move entry: at once when the unit asking manages both
units, otherwise once the level that must decide has approved (approvals' review chain). The
history goes with it: it is the same record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Conflict, DomainError, NotFound
from moha_contracts import Event, MoveRequested, RecordChanged

from .definitions import CORRECTION, Problem, ProcessDef, RecordDefinition, is_empty, parse_iso_date
from .timeliness import count_working_days

ACTIVE = "active"
PENDING, APPLIED, RETURNED = "pending", "applied", "returned"


class EntryInvalid(DomainError):
    code = "entry_invalid"

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        super().__init__(message or f"Có {len(problems)} chỗ cần sửa; chưa có gì được lưu")
        self.problems = problems
        self.details = {"errors": [p.model_dump() for p in problems]}


def manages(principal_unit_id: str, lineage: list[str]) -> bool:
    """Seed 003, 2.1: a unit manages its own data, a parent all of its descendants'; nobody a
    sibling's. `lineage`: the record's unit's ancestors and itself."""
    return principal_unit_id in lineage


@dataclass(frozen=True)
class Document:
    number: str
    date: str  # ISO
    issuer: str

    def as_dict(self) -> dict[str, str]:
        return {"number": self.number, "date": self.date, "issuer": self.issuer}


@dataclass(frozen=True)
class Entry:
    entry_id: str
    seq: int
    process: str
    definition_version: int
    unit_id: str  # the unit responsible for the record when it was entered
    entered_at: datetime
    entered_by: str
    effective_on: str | None = None  # a correction that leaves the date as it was has none
    values: dict[str, Any] = field(default_factory=dict)
    document: dict[str, str] | None = None
    # The 5-working-day rule: for a change it counts (timed), the working days from its document's
    # date to the day it was entered, and whether that is within the rule.
    timed: bool = False
    working_days: int | None = None
    on_time: bool | None = None
    # A correction: the entry it corrects, why, and each change (field, old, new).
    corrects: str | None = None
    reason: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    # A move: from where to where, on whose approval.
    move_id: str | None = None
    from_unit_id: str | None = None
    to_unit_id: str | None = None
    approved_by: str | None = None
    applied_at: datetime | None = None

    def as_doc(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != [] or k in ("values",)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Entry:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


@dataclass
class State:
    """What a record holds now: its fields, its lists (rewards, disciplines, trainings), its status,
    its unit, and when it last changed."""

    fields: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: str | None = None
    unit_id: str | None = None
    last_change_at: datetime | None = None
    last_effective_on: str | None = None


def corrected(entries: list[Entry]) -> list[Entry]:
    """The entries that are not corrections, each as its corrections left it, in the order entered."""
    originals = {e.entry_id: e for e in entries if e.process != CORRECTION}
    for c in sorted((e for e in entries if e.process == CORRECTION), key=lambda e: e.seq):
        target = originals.get(c.corrects or "")
        if target is None:
            continue
        values = {**target.values}
        for k, v in c.values.items():
            if is_empty(v):
                values.pop(k, None)
            else:
                values[k] = v
        originals[target.entry_id] = replace(
            target,
            values=values,
            document=c.document or target.document,
            effective_on=c.effective_on or target.effective_on,
            working_days=c.working_days if c.working_days is not None else target.working_days,
            on_time=c.on_time if c.on_time is not None else target.on_time,
        )
    return sorted(originals.values(), key=lambda e: e.seq)


def effective_order(entries: list[Entry]) -> list[Entry]:
    """Corrected entries in the order they took effect (entered order between entries of one day)."""
    return sorted(corrected(entries), key=lambda e: (e.effective_on or "", e.seq))


def fold(entries: list[Entry], definitions: Mapping[int, RecordDefinition]) -> State:
    state = State()
    for e in effective_order(entries):
        process = definitions[e.definition_version].process(e.process)
        if process.adds_to:
            state.lists.setdefault(process.adds_to, []).append(
                {"entry_id": e.entry_id, "effective_on": e.effective_on, "document": e.document, "values": e.values}
            )
        else:
            for code in process.clears:
                state.fields.pop(code, None)
            for code, value in e.values.items():
                state.fields[code] = value
        if process.status is not None:
            state.status = process.status
        state.last_effective_on = e.effective_on
    # The unit is where the last move (in the order applied) took it.
    for e in sorted(entries, key=lambda e: e.seq):
        state.unit_id = e.to_unit_id or state.unit_id or e.unit_id
        if state.last_change_at is None or e.entered_at > state.last_change_at:
            state.last_change_at = e.entered_at
    return state


@dataclass
class Record:
    id: str
    kind: str
    unit_id: str
    entries: list[Entry] = field(default_factory=list)
    # Move requests waiting for, or decided by, the level that must decide.
    moves: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    events: list[Event] = field(default_factory=list)
    new_entries: list[Entry] = field(default_factory=list)

    # Opening -----------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        definition: RecordDefinition,
        *,
        unit_id: str,
        process: str,
        document: Document | None,
        effective_on: str | None,
        values: dict[str, Any],
        by: Principal,
        now: datetime | None = None,
        record_id: str | None = None,
        imported: bool = False,
    ) -> Record:
        spec = _process(definition, process)
        if not spec.opens:
            raise DomainError(
                f"'{spec.title}' không mở hồ sơ mới; hãy chọn quy trình tuyển dụng hoặc nhập hồ sơ",
                code="not_an_opening",
            )
        record_id = record_id or (f"{definition.kind}-{unit_id}" if definition.subject == "unit" else uuid.uuid4().hex)
        record = cls(record_id, definition.kind, unit_id)
        entry = record._entry(definition, spec, document, effective_on, values, by, now or datetime.now(UTC))
        record._add(entry, "imported" if imported else "opened")
        return record

    # Entering ----------------------------------------------------------------------------------
    def enter(
        self,
        definition: RecordDefinition,
        definitions: Mapping[int, RecordDefinition],
        *,
        process: str,
        document: Document | None,
        effective_on: str | None,
        values: dict[str, Any],
        by: Principal,
        now: datetime | None = None,
    ) -> Entry:
        spec = _process(definition, process)
        if spec.opens:
            raise Conflict("Hồ sơ đã có; quy trình này chỉ dùng để mở hồ sơ mới", code="already_open")
        if spec.moves:
            raise DomainError(
                "Điều động, thuyên chuyển, luân chuyển được đề nghị qua chức năng chuyển hồ sơ", code="use_moves"
            )
        entry = self._entry(
            definition,
            spec,
            document,
            effective_on,
            values,
            by,
            now or datetime.now(UTC),
            current=self.state(definitions).fields,
        )
        self._add(entry, "entered")
        return entry

    def _entry(
        self,
        definition: RecordDefinition,
        spec: ProcessDef,
        document: Document | None,
        effective_on: str | None,
        values: dict[str, Any],
        by: Principal,
        now: datetime,
        current: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Entry:
        values = {k: v for k, v in values.items() if not is_empty(v)}
        problems = definition.check_values(spec, values)
        problems += _check_dates(spec, document, effective_on, now)
        if not problems:
            facts = {
                **(current or {}),
                **values,
                "effective_on": effective_on,
                "document_date": document.date if document else None,
            }
            problems += definition.check_rules(spec, facts, values)
        if problems:
            raise EntryInvalid(problems)
        working_days = on_time = None
        if spec.timed and document is not None:
            working_days, on_time = count_working_days(date.fromisoformat(document.date), now)
        return Entry(
            entry_id=uuid.uuid4().hex,
            seq=len(self.entries) + 1,
            process=spec.code,
            definition_version=definition.version,
            unit_id=self.unit_id,
            entered_at=now,
            entered_by=by.account_id,
            effective_on=effective_on,
            values=values,
            document=document.as_dict() if document else None,
            timed=spec.timed,
            working_days=working_days,
            on_time=on_time,
            **extra,
        )

    def _add(self, entry: Entry, change: str, unit_id: str | None = None) -> None:
        self.entries.append(entry)
        self.new_entries.append(entry)
        self.events.append(
            RecordChanged(
                record_id=self.id,
                record_kind=self.kind,
                unit_id=unit_id or entry.unit_id,
                entry_id=entry.entry_id,
                seq=entry.seq,
                change=change,
                process=entry.process,
                changed_at=entry.entered_at,
                corrects=entry.corrects,
                timed=entry.timed,
                working_days=entry.working_days,
                on_time=entry.on_time,
            )
        )

    # Correcting --------------------------------------------------------------------------------
    def correct(
        self,
        definitions: Mapping[int, RecordDefinition],
        *,
        entry_id: str,
        values: dict[str, Any],
        document: Document | None,
        effective_on: str | None,
        reason: str,
        by: Principal,
        now: datetime | None = None,
    ) -> Entry:
        """Correct what an entry says: the old and new value of each field changed are kept, with
        who changed them, when and why. Only the fields given change (an empty value clears one)."""
        now = now or datetime.now(UTC)
        target = next((e for e in corrected(self.entries) if e.entry_id == entry_id), None)
        if target is None:
            raise NotFound("Không tìm thấy mục cần đính chính trong hồ sơ")
        if not reason.strip():
            raise EntryInvalid([Problem(field="reason", message="Phải ghi rõ lý do đính chính")])
        definition = definitions[target.definition_version]
        spec = definition.process(target.process)
        merged = {**target.values, **values}
        merged = {k: v for k, v in merged.items() if not is_empty(v)}
        new_document = document.as_dict() if document else target.document
        new_effective = effective_on or target.effective_on
        changes = [
            {"field": k, "old": target.values.get(k), "new": None if is_empty(values[k]) else values[k]}
            for k in values
            if (None if is_empty(values[k]) else values[k]) != target.values.get(k)
        ]
        if new_document != target.document:
            changes.append({"field": "document", "old": target.document, "new": new_document})
        if new_effective != target.effective_on:
            changes.append({"field": "effective_on", "old": target.effective_on, "new": new_effective})
        if not changes:
            raise EntryInvalid(
                [Problem(field="values", message="Không có thông tin nào khác với bản đã nhập")],
                "Không có gì cần đính chính",
            )
        problems = definition.check_values(spec, merged)
        problems += _check_dates(
            spec, Document(**new_document) if new_document else None, new_effective, target.entered_at
        )
        if not problems:
            before = fold([e for e in self.entries], definitions).fields
            facts = {
                **before,
                **merged,
                "effective_on": new_effective,
                "document_date": new_document["date"] if new_document else None,
            }
            problems += definition.check_rules(spec, facts, merged)
        if problems:
            raise EntryInvalid(problems)
        working_days, on_time = target.working_days, target.on_time
        if target.timed and new_document:
            # Re-counted from the corrected document's date to the day the entry was first made:
            # correcting a date never makes a late entry on time by being entered again.
            working_days, on_time = count_working_days(date.fromisoformat(new_document["date"]), target.entered_at)
        entry = Entry(
            entry_id=uuid.uuid4().hex,
            seq=len(self.entries) + 1,
            process=CORRECTION,
            definition_version=target.definition_version,
            unit_id=self.current_unit(),
            entered_at=now,
            entered_by=by.account_id,
            effective_on=new_effective if new_effective != target.effective_on else None,
            values={
                k: (None if is_empty(v) else v)
                for k, v in values.items()
                if (None if is_empty(v) else v) != target.values.get(k)
            },
            document=new_document if new_document != target.document else None,
            timed=target.timed,
            working_days=working_days,
            on_time=on_time,
            corrects=target.entry_id,
            reason=reason.strip(),
            changes=changes,
        )
        self._add(entry, "corrected")
        return entry

    # Moving ------------------------------------------------------------------------------------
    def request_move(
        self,
        definition: RecordDefinition,
        definitions: Mapping[int, RecordDefinition],
        *,
        process: str,
        to_unit_id: str,
        document: Document | None,
        effective_on: str | None,
        values: dict[str, Any],
        by: Principal,
        direct: bool,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Ask to move the record to `to_unit_id`. `direct`: the unit asking manages both units, so
        the record moves at once; otherwise the move waits for the level that must decide."""
        now = now or datetime.now(UTC)
        spec = _process(definition, process)
        if not spec.moves:
            raise DomainError(f"'{spec.title}' không phải quy trình chuyển hồ sơ", code="not_a_move")
        if to_unit_id == self.current_unit():
            raise DomainError("Hồ sơ đang ở đơn vị này", code="same_unit")
        if self.pending_move() is not None:
            raise Conflict("Hồ sơ đang chờ cấp có thẩm quyền duyệt một đề nghị chuyển khác", code="move_pending")
        current = self.state(definitions).fields
        entry = self._entry(definition, spec, document, effective_on, values, by, now, current=current)
        move = {
            "move_id": uuid.uuid4().hex,
            "process": spec.code,
            "from_unit_id": self.current_unit(),
            "to_unit_id": to_unit_id,
            "status": PENDING,
            "requested_at": now,
            "requested_by": by.account_id,
            "entry": entry.as_doc(),
        }
        self.moves.append(move)
        if direct:
            self._apply_move(move, approved_by=None, at=now)
        else:
            self.events.append(
                MoveRequested(
                    move_id=move["move_id"],
                    record_id=self.id,
                    record_kind=self.kind,
                    from_unit_id=move["from_unit_id"],
                    to_unit_id=to_unit_id,
                    process=spec.code,
                    requested_by=by.account_id,
                    requested_at=now,
                )
            )
        return move

    def complete_move(
        self, move_id: str, *, from_unit_id: str, to_unit_id: str, approved_by: str, at: datetime
    ) -> bool:
        """The level that must decide approved: the record moves, with its history. False if it
        already has (the approval seen twice)."""
        move = self._move(move_id, from_unit_id, to_unit_id)
        if move["status"] == APPLIED:
            return False
        if move["status"] != PENDING:
            raise Conflict("Đề nghị chuyển hồ sơ này đã bị trả lại", code="move_returned")
        self._apply_move(move, approved_by=approved_by, at=at)
        return True

    def return_move(self, move_id: str, *, from_unit_id: str, to_unit_id: str, returned_by: str, at: datetime) -> bool:
        move = self._move(move_id, from_unit_id, to_unit_id)
        if move["status"] == RETURNED:
            return False
        if move["status"] != PENDING:
            raise Conflict("Hồ sơ đã được chuyển theo đề nghị này", code="move_applied")
        move.update(status=RETURNED, decided_at=at, decided_by=returned_by)
        return True

    def _move(self, move_id: str, from_unit_id: str, to_unit_id: str) -> dict[str, Any]:
        move = next((m for m in self.moves if m["move_id"] == move_id), None)
        if move is None or move["from_unit_id"] != from_unit_id or move["to_unit_id"] != to_unit_id:
            raise MoveUnknown(f"record {self.id} has no move {move_id} from {from_unit_id} to {to_unit_id}")
        return move

    def _apply_move(self, move: dict[str, Any], *, approved_by: str | None, at: datetime) -> None:
        planned = Entry.from_doc(move["entry"])
        # Counted as entered when the unit asked: the time the level above took is not the unit's.
        entry = replace(
            planned,
            seq=len(self.entries) + 1,
            move_id=move["move_id"],
            from_unit_id=move["from_unit_id"],
            to_unit_id=move["to_unit_id"],
            approved_by=approved_by,
            applied_at=at,
        )
        move.update(status=APPLIED, decided_at=at, decided_by=approved_by, entry_id=entry.entry_id)
        self._add(entry, "moved_out", unit_id=move["from_unit_id"])
        self.events.append(
            RecordChanged(
                record_id=self.id,
                record_kind=self.kind,
                unit_id=move["to_unit_id"],
                entry_id=entry.entry_id,
                seq=entry.seq,
                change="moved_in",
                process=entry.process,
                changed_at=at,
                timed=False,
            )
        )
        self.unit_id = move["to_unit_id"]

    def pending_move(self) -> dict[str, Any] | None:
        return next((m for m in self.moves if m["status"] == PENDING), None)

    # Reading -----------------------------------------------------------------------------------
    def current_unit(self) -> str:
        return self.unit_id

    def state(self, definitions: Mapping[int, RecordDefinition]) -> State:
        return fold(self.entries, definitions)

    def career(self) -> list[dict[str, Any]]:
        """Every entry as it now reads, in the order it took effect, each with its corrections (old
        and new values, who, when, why): the whole career on one page."""
        corrections: dict[str, list[Entry]] = {}
        for e in self.entries:
            if e.corrects:
                corrections.setdefault(e.corrects, []).append(e)
        return [
            {
                **e.as_doc(),
                "corrections": [c.as_doc() for c in corrections.get(e.entry_id, [])],
                "original": next((o.as_doc() for o in self.entries if o.entry_id == e.entry_id), None)
                if e.entry_id in corrections
                else None,
            }
            for e in effective_order(self.entries)
        ]


class MoveUnknown(Exception):
    """A decision about a move this record never asked for: not late, wrong."""


def _process(definition: RecordDefinition, code: str) -> ProcessDef:
    try:
        return definition.process(code)
    except KeyError:
        raise EntryInvalid(
            [Problem(field="process", message=f"Hồ sơ '{definition.title}' không có quy trình '{code}'")]
        ) from None


def _check_dates(
    spec: ProcessDef, document: Document | None, effective_on: str | None, entered_at: datetime
) -> list[Problem]:
    problems = []
    if effective_on is None or parse_iso_date(effective_on) is None:
        problems.append(Problem(field="effective_on", message="Chưa nhập ngày có hiệu lực (năm-tháng-ngày)"))
    if document is None:
        if spec.document_required:
            problems.append(
                Problem(field="document", message="Chưa nhập văn bản (số, ngày ban hành, cơ quan ban hành)")
            )
        return problems
    if not document.number.strip():
        problems.append(Problem(field="document.number", message="Chưa nhập số văn bản"))
    if not document.issuer.strip():
        problems.append(Problem(field="document.issuer", message="Chưa nhập cơ quan ban hành văn bản"))
    issued = parse_iso_date(document.date)
    if issued is None:
        problems.append(Problem(field="document.date", message="Ngày ban hành văn bản không hợp lệ (năm-tháng-ngày)"))
    elif issued > today_in_vietnam(entered_at):
        problems.append(Problem(field="document.date", message="Ngày ban hành văn bản không được sau ngày nhập"))
    return problems
