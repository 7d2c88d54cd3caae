"""Form definitions as versioned data: sections, fields (type, unit, bounds, required), and the
logic rules a submission must pass. The definition is a document (JSON) validated by these models,
so a new version is published as data, never as code. Plain Python: no I/O.

A submission is checked against the version it was started under; publishing a new version never
changes what was submitted under an old one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chassis.errors import Conflict
from chassis.text import text_problem

from .codelists import DYNAMIC, code_lists

FieldType = Literal["integer", "number", "text", "boolean", "choice", "code"]

# What the store keeps: BSON's signed 64-bit integers and finite doubles. Anything larger is refused
# here, by its field, rather than failing the write (an OverflowError: a 500).
INT64_MAX = 2**63 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(Strict):
    """A condition on an earlier answer."""

    field: str
    equals: str | int | float | bool


class FieldDef(Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    label: str
    type: FieldType
    unit: str | None = None
    required: bool = False
    required_when: When | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = 2000
    choices: list[str] | None = None
    # For type "code": the official list the answer is a code of (domain/codelists.py), and its level.
    code_list: str | None = None
    code_level: int | None = None

    @model_validator(mode="after")
    def _code_list_known(self) -> FieldDef:
        if self.type == "code" and self.code_list not in code_lists() and self.code_list not in DYNAMIC:
            raise ValueError(f"field {self.code}: unknown code list {self.code_list!r}")
        return self


class Section(Strict):
    code: str
    title: str
    fields: list[FieldDef]
    # A section that only some units fill (e.g. A3.3 land: only the unit that carries the premises
    # on its books); when the condition does not hold it must stay empty, and the form still submits.
    only_when: When | None = None


class SumRule(Strict):
    kind: Literal["sum"] = "sum"
    total: str
    parts: list[str]
    message: str


class BothOrNeitherRule(Strict):
    kind: Literal["both_or_neither"] = "both_or_neither"
    fields: list[str]
    message: str


class NotGreaterRule(Strict):
    kind: Literal["not_greater"] = "not_greater"
    field: str
    than: str
    message: str


Rule = Annotated[SumRule | BothOrNeitherRule | NotGreaterRule, Field(discriminator="kind")]


class FieldError(Strict):
    field: str
    message: str


class FormDefinition(Strict):
    form_code: str
    version: int = Field(ge=1)
    title: str
    sections: list[Section]
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_exist(self) -> FormDefinition:
        codes = [f.code for s in self.sections for f in s.fields]
        if len(codes) != len(set(codes)):
            raise ValueError("field codes must be unique")
        known = set(codes)
        referenced = [s.only_when.field for s in self.sections if s.only_when]
        referenced += [f.required_when.field for s in self.sections for f in s.fields if f.required_when]
        for rule in self.rules:
            if isinstance(rule, SumRule):
                referenced += [rule.total, *rule.parts]
            elif isinstance(rule, BothOrNeitherRule):
                referenced += rule.fields
            else:
                referenced += [rule.field, rule.than]
        if unknown := sorted(set(referenced) - known):
            raise ValueError(f"rules name unknown fields: {unknown}")
        return self

    @property
    def fields(self) -> dict[str, FieldDef]:
        return {f.code: f for s in self.sections for f in s.fields}

    def dynamic_codes(self, answers: dict[str, Any]) -> list[tuple[FieldDef, str]]:
        """The answers whose code list lives in a read model (the units), for the caller to look up."""
        fields = self.fields
        return [
            (fields[k], v.strip())
            for k, v in answers.items()
            if k in fields
            and fields[k].type == "code"
            and fields[k].code_list in DYNAMIC
            and isinstance(v, str)
            and v.strip()
        ]

    def check(self, answers: dict[str, Any], *, complete: bool) -> list[FieldError]:
        """Every problem with the answers, each pointing at its field. `complete` is for submitting:
        required answers and the logic rules apply; a draft is only checked field by field."""
        errors: list[FieldError] = []
        fields = self.fields
        for code in answers:
            if code not in fields:
                errors.append(FieldError(field=code, message="Phiếu không có câu hỏi này"))
        for section in self.sections:
            applies = section.only_when is None or _holds(section.only_when, answers)
            for f in section.fields:
                value = answers.get(f.code)
                if _empty(value):
                    if complete and applies and (f.required or (f.required_when and _holds(f.required_when, answers))):
                        errors.append(FieldError(field=f.code, message=f"Chưa trả lời: {f.label}"))
                    continue
                if not applies:
                    errors.append(
                        FieldError(field=f.code, message=f"Đơn vị không kê khai mục {section.code}: {section.title}")
                    )
                    continue
                if message := _type_error(f, value):
                    errors.append(FieldError(field=f.code, message=message))
        if complete and not errors:
            errors += [e for rule in self.rules if (e := _rule_error(rule, answers)) is not None]
        return errors

    def rule_results(self, answers: dict[str, Any]) -> list[tuple[Rule, FieldError | None]]:
        """Each logic rule with the problem it finds in the answers (None: the rule holds), for
        the supervisor who checks a submission."""
        return [(rule, _rule_error(rule, answers)) for rule in self.rules]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _holds(when: When, answers: dict[str, Any]) -> bool:
    return answers.get(when.field) == when.equals


def _type_error(f: FieldDef, value: Any) -> str | None:
    if f.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{f.label}: phải là số nguyên"
        if abs(value) > INT64_MAX:
            return f"{f.label}: số quá lớn (giá trị tuyệt đối tối đa {INT64_MAX:,})".replace(",", ".")
    elif f.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{f.label}: phải là số"
        if isinstance(value, int) and abs(value) > INT64_MAX:
            return f"{f.label}: số quá lớn (giá trị tuyệt đối tối đa {INT64_MAX:,})".replace(",", ".")
        if not math.isfinite(value):
            return f"{f.label}: phải là số hữu hạn"
    elif f.type == "boolean":
        if not isinstance(value, bool):
            return f"{f.label}: phải là Có hoặc Không"
    elif f.type == "choice":
        if value not in (f.choices or []):
            return f"{f.label}: giá trị không thuộc danh sách cho phép"
    elif f.type == "code":
        if not isinstance(value, str) or len(value) > 64:
            return f"{f.label}: phải là mã, viết dạng chuỗi ký tự"
        if f.code_list in DYNAMIC:
            return None  # checked against the read model by the caller (dynamic_codes)
        if error := code_lists()[f.code_list or ""].error(value.strip(), f.code_level):
            return f"{f.label}: {error}"
    elif not isinstance(value, str) or len(value) > f.max_length:
        return f"{f.label}: phải là chuỗi ký tự, tối đa {f.max_length} ký tự"
    if isinstance(value, str) and (problem := text_problem(value, multiline=f.type == "text")):
        return f"{f.label}: {problem}"
    if f.type in ("integer", "number"):
        if f.min is not None and value < f.min:
            return f"{f.label}: không được nhỏ hơn {_fmt(f.min)}"
        if f.max is not None and value > f.max:
            return f"{f.label}: không được lớn hơn {_fmt(f.max)}"
    return None


def _rule_error(rule: SumRule | BothOrNeitherRule | NotGreaterRule, answers: dict[str, Any]) -> FieldError | None:
    if isinstance(rule, SumRule):
        total: Any = answers.get(rule.total)
        parts: list[Any] = [answers.get(p) for p in rule.parts]
        if _empty(total) and all(_empty(p) for p in parts):
            return None
        expected = sum(p for p in parts if not _empty(p))
        if _empty(total) or not math.isclose(total, expected, abs_tol=1e-9):
            return FieldError(field=rule.total, message=f"{rule.message} (tổng các phần: {_fmt(expected)})")
    elif isinstance(rule, BothOrNeitherRule):
        given = [not _empty(answers.get(f)) for f in rule.fields]
        if any(given) and not all(given):
            missing = next(f for f, g in zip(rule.fields, given, strict=True) if not g)
            return FieldError(field=missing, message=rule.message)
    else:
        a: Any = answers.get(rule.field)
        b: Any = answers.get(rule.than)
        if not _empty(a) and not _empty(b) and a > b:
            return FieldError(field=rule.field, message=rule.message)
    return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass
class PublishedDefinition:
    """One published version of a form: made once (the version-1 commit decides between two
    publishers of the same version), never changed. It raises no event."""

    definition: FormDefinition
    document: str = ""  # the definition as published (JSON), kept as it was
    version: int = 0
    events: list[Any] = dc_field(default_factory=list)
    id: str = dc_field(init=False)

    def __post_init__(self) -> None:
        self.document = self.document or self.definition.model_dump_json()
        self.id = f"{self.definition.form_code}:v{self.definition.version}"

    @classmethod
    def publish(cls, definition: FormDefinition, latest: int) -> PublishedDefinition:
        """The next version of a form, after the `latest` published."""
        if definition.version != latest + 1:
            raise Conflict(f"Phiên bản mới của mẫu phiếu phải là {latest + 1}", code="version_sequence")
        return cls(definition)
