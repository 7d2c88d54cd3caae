"""Record definitions as versioned data: a kind of record (an official's, a unit's organisation and
staffing, a council delegate's), its fields, its code lists, the processes that change it (each
with the fields it sets or the list it adds to, whether it counts for the 5-working-day rule, the
status it leaves), and its rules with their Vietnamese messages. A new process, or a new kind of
record, is a new version of a definition, published as data, never as code (as forms' definitions
are: services/forms/domain/definitions.py). Plain Python: no I/O.

Values travel as JSON: a date is `YYYY-MM-DD` text, an integer an integer, a choice or a code its
text. Protected fields (`protected`) are personal data the store keeps encrypted (Decree 13/2023);
`indexed` ones also get a keyed hash, for search or for uniqueness (`unique`)."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chassis.text import text_problem

FieldType = Literal["text", "date", "integer", "number", "boolean", "choice", "code"]
CODE = r"^[a-z][a-z0-9_]{0,47}$"
INT64_MAX = 2**63 - 1
# The words the processes' rules may name besides fields: the entry's own dates.
ENTRY_DATES = ("effective_on", "document_date")
CORRECTION = "correction"  # not a process of any definition: any entry may be corrected


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldDef(Strict):
    code: str = Field(pattern=CODE)
    label: str = Field(min_length=1, max_length=200)
    type: FieldType
    # A complete record has it (the completeness score counts these).
    required: bool = False
    max_length: int = Field(default=300, ge=1, le=4000)
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None
    code_list: str | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    # Personal data kept encrypted in the store; `indexed`: a keyed hash beside it (search);
    # `unique`: one record of the kind per value.
    protected: bool = False
    indexed: bool = False
    unique: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> FieldDef:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"field {self.code}: a choice needs its choices")
        if self.type == "code" and not self.code_list:
            raise ValueError(f"field {self.code}: a code needs its code list")
        if self.protected and self.type not in ("text", "date", "choice", "code"):
            raise ValueError(f"field {self.code}: only text, dates, choices and codes are kept encrypted")
        if (self.indexed or self.unique) and not self.protected:
            raise ValueError(f"field {self.code}: only protected fields are hashed (indexed, unique)")
        if self.unique and not self.indexed:
            raise ValueError(f"field {self.code}: a unique field is indexed")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:  # not a ValueError: pydantic would let it through as a 500
                raise ValueError(f"field {self.code}: pattern is not a regular expression ({exc})") from exc
        return self


class ProcessField(Strict):
    field: str
    required: bool = True


class ProcessDef(Strict):
    code: str = Field(pattern=CODE)
    title: str = Field(min_length=1, max_length=200)
    # The record fields an entry of this process sets (a value given replaces the current one).
    sets: list[ProcessField] = Field(default_factory=list)
    # Fields it empties (a dismissal from a post empties the position).
    clears: list[str] = Field(default_factory=list)
    # Or: the entry is an item of a list of the record (rewards, disciplines, trainings), with
    # fields of its own.
    adds_to: str | None = Field(default=None, pattern=CODE)
    item: list[FieldDef] = Field(default_factory=list)
    # It creates the record (recruitment, an import of records kept elsewhere until now).
    opens: bool = False
    # Counted by the 5-working-day rule (a change, biến động); an import is not.
    timed: bool = True
    # Needs its document (number, date, issuer).
    document_required: bool = True
    # The record's status after it (active, retired, left).
    status: str | None = None
    # It moves the record to another unit (mobilisation, transfer, rotation).
    moves: bool = False

    @model_validator(mode="after")
    def _list_or_sets(self) -> ProcessDef:
        if (self.adds_to is None) != (not self.item):
            raise ValueError(f"process {self.code}: a list process has item fields, and only it")
        if self.adds_to and (self.sets or self.clears):
            raise ValueError(f"process {self.code}: a list process sets no record field")
        if self.timed and not self.document_required:
            raise ValueError(f"process {self.code}: a change counted by the 5-day rule has a document")
        return self


class CodeEntry(Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=300)


class CodeList(Strict):
    title: str
    source: str | None = None
    entries: list[CodeEntry]


class NotBeforeRule(Strict):
    """`field` (a date) is not before `than` (a date field, or the entry's effective_on)."""

    kind: Literal["not_before"] = "not_before"
    processes: list[str]
    field: str
    than: str
    message: str


class MinAgeRule(Strict):
    """At the entry's effective date, the person is at least `years` old."""

    kind: Literal["min_age"] = "min_age"
    processes: list[str]
    birth_field: str
    years: int = Field(ge=0, le=100)
    message: str


class AnyOfRule(Strict):
    """At least one of the fields is given in the entry."""

    kind: Literal["any_of"] = "any_of"
    processes: list[str]
    fields: list[str] = Field(min_length=1)
    message: str


Rule = Annotated[NotBeforeRule | MinAgeRule | AnyOfRule, Field(discriminator="kind")]


class SearchKeys(Strict):
    """Which fields search reads: a person's name, date of birth, position."""

    name: str | None = None
    birth_date: str | None = None
    position: str | None = None


class Problem(Strict):
    field: str
    message: str


class RecordDefinition(Strict):
    kind: str = Field(pattern=CODE)
    version: int = Field(ge=1)
    title: str
    # A person's record (many per unit), or the unit's own (one per unit: organisation and staffing).
    subject: Literal["person", "unit"] = "person"
    fields: list[FieldDef]
    processes: list[ProcessDef]
    code_lists: dict[str, CodeList] = Field(default_factory=dict)
    statuses: dict[str, str] = Field(default_factory=lambda: {"active": "Đang công tác"})
    rules: list[Rule] = Field(default_factory=list)
    search: SearchKeys = Field(default_factory=SearchKeys)

    @model_validator(mode="after")
    def _references_exist(self) -> RecordDefinition:
        codes = [f.code for f in self.fields]
        if len(codes) != len(set(codes)):
            raise ValueError("field codes must be unique")
        process_codes = [p.code for p in self.processes]
        if len(process_codes) != len(set(process_codes)) or CORRECTION in process_codes:
            raise ValueError(f"process codes must be unique and not '{CORRECTION}'")
        if not any(p.opens for p in self.processes):
            raise ValueError("some process must open a record")
        known = set(codes)
        for p in self.processes:
            unknown = {s.field for s in p.sets} - known | set(p.clears) - known
            if unknown:
                raise ValueError(f"process {p.code} names unknown fields: {sorted(unknown)}")
            if p.status is not None and p.status not in self.statuses:
                raise ValueError(f"process {p.code}: unknown status {p.status!r}")
            if p.opens and p.status is None:
                raise ValueError(f"process {p.code} opens a record: it gives its status")
            for f in p.item:
                if f.protected:
                    raise ValueError(f"process {p.code}: list items hold no protected field")
        lists = [f.code_list for f in self.fields if f.code_list]
        lists += [f.code_list for p in self.processes for f in p.item if f.code_list]
        if missing := sorted({c for c in lists if c not in self.code_lists}):
            raise ValueError(f"unknown code lists: {missing}")
        for rule in self.rules:
            if unknown_processes := set(rule.processes) - set(process_codes):
                raise ValueError(f"a rule names unknown processes: {sorted(unknown_processes)}")
            for name in _rule_fields(rule):
                if (
                    name not in known
                    and name not in ENTRY_DATES
                    and not any(name in {f.code for f in self.process(p).item} for p in rule.processes)
                ):
                    raise ValueError(f"a rule names an unknown field: {name}")
        for key in (self.search.name, self.search.birth_date, self.search.position):
            if key is not None and key not in known:
                raise ValueError(f"search names an unknown field: {key}")
        return self

    # Reading ---------------------------------------------------------------------------------
    @property
    def by_code(self) -> dict[str, FieldDef]:
        return {f.code: f for f in self.fields}

    def process(self, code: str) -> ProcessDef:
        for p in self.processes:
            if p.code == code:
                return p
        raise KeyError(code)

    def has_process(self, code: str) -> bool:
        return any(p.code == code for p in self.processes)

    def opening(self) -> list[ProcessDef]:
        return [p for p in self.processes if p.opens]

    def protected_fields(self) -> list[FieldDef]:
        return [f for f in self.fields if f.protected]

    def required_fields(self) -> list[str]:
        return [f.code for f in self.fields if f.required]

    def label(self, field: str) -> str:
        f = self.by_code.get(field)
        return f.label if f else field

    # Checking --------------------------------------------------------------------------------
    def check_values(self, process: ProcessDef, values: dict[str, Any]) -> list[Problem]:
        """Every problem with an entry's values, each pointing at its field: fields the process does
        not take, required ones missing, values of the wrong type or outside the field's bounds."""
        fields = (
            {f.code: f for f in process.item}
            if process.adds_to
            else {s.field: self.by_code[s.field] for s in process.sets}
        )
        required = (
            [f.code for f in process.item if f.required]
            if process.adds_to
            else [s.field for s in process.sets if s.required]
        )
        problems = [Problem(field=k, message=f"{process.title} không ghi mục này") for k in values if k not in fields]
        for code in required:
            if _empty(values.get(code)):
                problems.append(Problem(field=code, message=f"Chưa nhập: {fields[code].label}"))
        for code, value in values.items():
            if code in fields and not _empty(value) and (message := self.value_problem(fields[code], value)):
                problems.append(Problem(field=code, message=message))
        return problems

    def value_problem(self, f: FieldDef, value: Any) -> str | None:
        """Why `value` cannot be `f`'s (Vietnamese), or None."""
        if f.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{f.label}: phải là số nguyên"
            if abs(value) > INT64_MAX:
                return f"{f.label}: số quá lớn"
        elif f.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return f"{f.label}: phải là số"
            if isinstance(value, int) and abs(value) > INT64_MAX:
                return f"{f.label}: số quá lớn"
        elif f.type == "boolean":
            if not isinstance(value, bool):
                return f"{f.label}: phải là Có hoặc Không"
        elif not isinstance(value, str):
            return f"{f.label}: phải là chuỗi ký tự"
        elif f.type == "date":
            if parse_iso_date(value) is None:
                return f"{f.label}: phải là ngày hợp lệ, dạng năm-tháng-ngày (YYYY-MM-DD)"
        elif f.type == "choice":
            if value not in (f.choices or []):
                return f"{f.label}: giá trị '{value}' không thuộc danh sách cho phép"
        elif f.type == "code":
            codes = self.code_lists[f.code_list or ""]
            if value not in {e.code for e in codes.entries}:
                return f"{f.label}: mã '{value}' không có trong {codes.title}"
        else:
            if len(value) > f.max_length:
                return f"{f.label}: dài quá {f.max_length} ký tự"
            if problem := text_problem(value, multiline=False):
                return f"{f.label}: {problem}"
            if f.pattern and not re.fullmatch(f.pattern, value):
                return f"{f.label}: {f.pattern_message or 'không đúng định dạng'}"
        if f.type in ("integer", "number"):
            if f.min is not None and value < f.min:
                return f"{f.label}: không được nhỏ hơn {_fmt(f.min)}"
            if f.max is not None and value > f.max:
                return f"{f.label}: không được lớn hơn {_fmt(f.max)}"
        return None

    def check_rules(self, process: ProcessDef, facts: dict[str, Any], given: dict[str, Any]) -> list[Problem]:
        """The rules of this process, on what the record holds once the entry is in (`facts`: its
        fields and the entry's dates) and on what the entry itself gives (`given`)."""
        problems = []
        for rule in self.rules:
            if process.code not in rule.processes:
                continue
            if isinstance(rule, NotBeforeRule):
                a, b = parse_iso_date(facts.get(rule.field)), parse_iso_date(facts.get(rule.than))
                if a is not None and b is not None and a < b:
                    problems.append(Problem(field=rule.field, message=rule.message))
            elif isinstance(rule, MinAgeRule):
                born, on = parse_iso_date(facts.get(rule.birth_field)), parse_iso_date(facts.get("effective_on"))
                if born is not None and on is not None and age_on(born, on) < rule.years:
                    problems.append(Problem(field=rule.birth_field, message=rule.message))
            elif all(_empty(given.get(f)) for f in rule.fields):
                problems.append(Problem(field=rule.fields[0], message=rule.message))
        return problems

    def completeness(self, fields: dict[str, Any]) -> tuple[int, int]:
        """(required fields filled, required fields) of a record's current fields."""
        required = self.required_fields()
        return sum(not _empty(fields.get(code)) for code in required), len(required)


def _rule_fields(rule: Rule) -> list[str]:
    if isinstance(rule, NotBeforeRule):
        return [rule.field, rule.than]
    if isinstance(rule, MinAgeRule):
        return [rule.birth_field]
    return list(rule.fields)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_empty(value: Any) -> bool:
    return _empty(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_iso_date(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# Reading a sheet's cells ------------------------------------------------------------------------
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
EXCEL_EPOCH = date(1899, 12, 30)


def date_from_cell(text: str) -> str | None:
    """A date as people type it in a Vietnamese sheet (31/12/1985, 31-12-1985, 1985-12-31) or as
    Excel stores it (a day number), in ISO form; None if it is not one."""
    text = text.strip()
    if (iso := parse_iso_date(text)) is not None:
        return iso.isoformat()
    if match := _DMY.match(text):
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return None
    if text.isdigit() and 1 <= int(text) <= 80_000:  # a cell Excel formatted as a date
        return (EXCEL_EPOCH + timedelta(days=int(text))).isoformat()
    return None


def value_from_cell(definition: RecordDefinition, f: FieldDef, text: str) -> tuple[Any, str | None]:
    """A sheet cell's text as `f`'s value, or the problem with it. Choices and codes may be given
    by their name as well (case aside)."""
    text = text.strip()
    if not text:
        return None, None
    if f.type == "date":
        value = date_from_cell(text)
        return (value, None) if value else (None, f"{f.label}: '{text}' không phải ngày (ngày/tháng/năm)")
    if f.type == "integer":
        try:
            return int(text), None
        except ValueError:
            return None, f"{f.label}: phải là số nguyên"
    if f.type == "number":
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            return None, f"{f.label}: phải là số"
        return (int(number) if number.is_integer() and abs(number) < 2**53 else number), None
    if f.type == "boolean":
        lowered = text.lower()
        if lowered in ("có", "x", "1", "true", "đúng"):
            return True, None
        if lowered in ("không", "0", "false", "sai"):
            return False, None
        return None, f"{f.label}: ghi Có hoặc Không"
    if f.type == "choice":
        for choice in f.choices or []:
            if choice.lower() == text.lower():
                return choice, None
    if f.type == "code":
        for entry in definition.code_lists[f.code_list or ""].entries:
            if text.lower() in (entry.code.lower(), entry.name.lower()):
                return entry.code, None
    return text, None
