"""Personnel records as versioned data: definitions, entries and their fold, corrections, the
5-working-day rule, moves, imports and scores. No I/O."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chassis.auth import Principal
from chassis.clock import VIETNAM
from chassis.errors import Conflict, DomainError, NotFound
from moha_contracts import MoveRequested, RecordChanged
from services.personnel.domain.definitions import RecordDefinition, date_from_cell
from services.personnel.domain.imports import ImportRejected, plan_import
from services.personnel.domain.model import (
    APPLIED,
    PENDING,
    RETURNED,
    Document,
    EntryInvalid,
    MoveUnknown,
    Record,
    fold,
    manages,
)
from services.personnel.domain.scores import Figures, autumn_period, is_stale
from services.personnel.domain.search import fold as fold_name
from services.personnel.domain.search import keys

DEFINITIONS = Path(__file__).resolve().parents[2] / "services" / "personnel" / "definitions"
OFFICIAL = RecordDefinition.model_validate_json((DEFINITIONS / "official.v1.json").read_text(encoding="utf-8"))
STAFFING = RecordDefinition.model_validate_json((DEFINITIONS / "unit_staffing.v1.json").read_text(encoding="utf-8"))
VERSIONS = {1: OFFICIAL}
UNIT = Principal(account_id="acc-unit", username="dv", unit_id="U1", role="reporting_unit")


def at(day: str, hour: int = 9) -> datetime:
    """A moment of a day in Vietnam."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=VIETNAM).astimezone(UTC)


def person(**overrides: object) -> dict[str, object]:
    return {
        "full_name": "Nguyễn Văn Hùng",
        "birth_date": "1985-03-02",
        "gender": "Nam",
        "national_id": "001085000123",
        "ethnicity": "Tày",
        "hometown": "Cao Lộc, Lạng Sơn",
        "official_type": "Công chức",
        "rank": "01.003",
        "salary_step": 3,
        "salary_coefficient": 3.0,
        "education": "Đại học",
        **overrides,
    }


def doc(day: str, number: str = "12/QĐ-UBND") -> Document:
    return Document(number=number, date=day, issuer="UBND huyện Cao Lộc")


def recruited(now: str = "2026-03-02") -> Record:
    return Record.open(
        OFFICIAL,
        unit_id="U1",
        process="recruitment",
        document=doc("2026-03-02"),
        effective_on="2026-03-02",
        values=person(),
        by=UNIT,
        now=at(now),
    )


# Definitions ----------------------------------------------------------------------------------
def test_the_bundled_definitions_are_valid_data():
    kinds = {
        RecordDefinition.model_validate_json(p.read_text(encoding="utf-8")).kind for p in DEFINITIONS.glob("*.json")
    }
    assert kinds == {"official", "unit_staffing", "council_delegate"}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["processes"][2]["sets"].append({"field": "no_such_field"}), "unknown fields"),
        (lambda d: d["processes"].append({**d["processes"][2], "code": "appointment"}), "unique"),
        (lambda d: d["fields"][3].update(protected=False), "only protected fields are hashed"),
        (
            lambda d: next(p for p in d["processes"] if p["code"] == "reward").update(sets=[{"field": "position"}]),
            "sets no record field",
        ),
        (
            lambda d: d["rules"].append(
                {"kind": "any_of", "processes": ["nowhere"], "fields": ["rank"], "message": "x"}
            ),
            "unknown processes",
        ),
        (lambda d: d["processes"][0].update(status="vanished"), "unknown status"),
        (lambda d: d["fields"][7].update(code_list="no_list"), "unknown code lists"),
        # A pattern that is no regular expression is the definition's error (400), not the server's.
        (lambda d: d["fields"][0].update(pattern="ab\\"), "pattern is not a regular expression"),
    ],
)
def test_a_definition_that_does_not_hold_together_is_refused(change, message):
    data = json.loads((DEFINITIONS / "official.v1.json").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(ValidationError, match=message):
        RecordDefinition.model_validate(data)


def test_a_new_process_is_data_not_code():
    data = json.loads((DEFINITIONS / "official.v1.json").read_text(encoding="utf-8"))
    data["version"] = 2
    data["processes"].append({"code": "secondment", "title": "Biệt phái", "sets": [{"field": "position"}]})
    v2 = RecordDefinition.model_validate(data)
    record = recruited()
    entry = record.enter(
        v2,
        {1: OFFICIAL, 2: v2},
        process="secondment",
        document=doc("2026-03-03"),
        effective_on="2026-03-03",
        values={"position": "PTP"},
        by=UNIT,
        now=at("2026-03-04"),
    )
    assert entry.definition_version == 2
    assert record.state({1: OFFICIAL, 2: v2}).fields["position"] == "PTP"


# Opening and entering -------------------------------------------------------------------------
def test_a_recruitment_opens_an_active_record_with_its_document():
    record = recruited()
    state = record.state(VERSIONS)
    assert state.status == "active" and state.fields["full_name"] == "Nguyễn Văn Hùng" and state.unit_id == "U1"
    (entry,) = record.entries
    assert entry.document == {"number": "12/QĐ-UBND", "date": "2026-03-02", "issuer": "UBND huyện Cao Lộc"}
    (event,) = record.events
    assert isinstance(event, RecordChanged) and (event.change, event.unit_id, event.process) == (
        "opened",
        "U1",
        "recruitment",
    )


def test_every_problem_of_an_entry_comes_back_in_vietnamese_pointing_at_its_field():
    with pytest.raises(EntryInvalid) as refused:
        Record.open(
            OFFICIAL,
            unit_id="U1",
            process="recruitment",
            document=doc("2026-03-02"),
            effective_on="2026-03-02",
            by=UNIT,
            now=at("2026-03-02"),
            values=person(
                national_id="12345", gender="X", salary_step=40, birth_date="2010-01-01", full_name=None, unexpected="x"
            ),
        )
    problems = {p.field: p.message for p in refused.value.problems}
    assert problems["national_id"] == (
        "Số định danh cá nhân: gồm 12 chữ số (căn cước) hoặc 9 chữ số (chứng minh nhân dân cũ)"
    )
    assert problems["gender"] == "Giới tính: giá trị 'X' không thuộc danh sách cho phép"
    assert problems["salary_step"] == "Bậc lương: không được lớn hơn 16"
    assert problems["full_name"] == "Chưa nhập: Họ và tên"
    assert problems["unexpected"] == "Tuyển dụng không ghi mục này"
    assert refused.value.code == "entry_invalid"


def test_rules_are_the_definitions_own():
    with pytest.raises(EntryInvalid) as young:
        Record.open(
            OFFICIAL,
            unit_id="U1",
            process="recruitment",
            document=doc("2026-03-02"),
            effective_on="2026-03-02",
            values=person(birth_date="2010-01-01"),
            by=UNIT,
            now=at("2026-03-02"),
        )
    assert young.value.problems[0].message == "Người được tuyển dụng phải đủ 18 tuổi vào ngày có hiệu lực"
    record = recruited()
    with pytest.raises(EntryInvalid) as term:
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="appointment",
            document=doc("2026-03-05"),
            effective_on="2026-03-05",
            values={"position": "PTP", "position_until": "2026-01-01"},
            by=UNIT,
            now=at("2026-03-06"),
        )
    assert term.value.problems[0].field == "position_until"


def test_a_document_dated_after_its_entry_or_missing_is_refused():
    record = recruited()
    with pytest.raises(EntryInvalid) as future:
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="salary_raise",
            document=doc("2026-03-10"),
            effective_on="2026-03-10",
            values={"salary_step": 4, "salary_coefficient": 3.33},
            by=UNIT,
            now=at("2026-03-09"),
        )
    assert future.value.problems[0].message == "Ngày ban hành văn bản không được sau ngày nhập"
    with pytest.raises(EntryInvalid) as missing:
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="salary_raise",
            document=None,
            effective_on="2026-03-10",
            values={"salary_step": 4, "salary_coefficient": 3.33},
            by=UNIT,
            now=at("2026-03-11"),
        )
    assert missing.value.problems[0].field == "document"


def test_opening_and_moving_processes_are_not_plain_entries():
    record = recruited()
    with pytest.raises(Conflict):
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="recruitment",
            document=doc("2026-03-02"),
            effective_on="2026-03-02",
            values=person(),
            by=UNIT,
            now=at("2026-03-03"),
        )
    with pytest.raises(DomainError, match="chuyển hồ sơ"):
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="transfer",
            document=doc("2026-03-02"),
            effective_on="2026-03-02",
            values={},
            by=UNIT,
            now=at("2026-03-03"),
        )
    with pytest.raises(EntryInvalid):
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="no_such_process",
            document=doc("2026-03-02"),
            effective_on="2026-03-02",
            values={},
            by=UNIT,
            now=at("2026-03-03"),
        )


# The 5-working-day rule -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "document_day, entered, days, on_time",
    [
        ("2026-03-06", "2026-03-13", 5, True),  # Friday to the next Friday
        ("2026-03-06", "2026-03-16", 6, False),  # ... to the Monday after
        ("2026-04-29", "2026-05-08", 5, True),  # 30/4 and 1/5 are not working days
        ("2026-04-29", "2026-05-11", 6, False),
        ("2026-02-13", "2026-02-27", 5, True),  # Tết (16-20/2/2026)
        ("2026-03-06", "2026-03-06", 0, True),
    ],
)
def test_an_entry_is_on_time_within_5_working_days_of_its_document(document_day, entered, days, on_time):
    record = recruited()
    entry = record.enter(
        OFFICIAL,
        VERSIONS,
        process="appointment",
        document=doc(document_day),
        effective_on=document_day,
        values={"position": "TP"},
        by=UNIT,
        now=at(entered, 23),
    )
    assert (entry.timed, entry.working_days, entry.on_time) == (True, days, on_time)
    assert (record.events[-1].working_days, record.events[-1].on_time) == (days, on_time)


def test_the_day_counts_in_vietnam_not_in_utc():
    record = recruited()
    # 23:30 on Monday 16/3 in Vietnam is still 16:30 UTC on Monday; 00:30 on Tuesday 17/3 in Vietnam is Monday in UTC.
    late = record.enter(
        OFFICIAL,
        VERSIONS,
        process="appointment",
        document=doc("2026-03-06"),
        effective_on="2026-03-06",
        values={"position": "TP"},
        by=UNIT,
        now=datetime(2026, 3, 16, 17, 30, tzinfo=UTC),
    )
    assert late.working_days == 7 and late.on_time is False


# Corrections ----------------------------------------------------------------------------------
def test_a_correction_keeps_the_old_value_and_who_changed_it_and_the_fold_reads_the_new():
    record = recruited()
    raise_ = record.enter(
        OFFICIAL,
        VERSIONS,
        process="salary_raise",
        document=doc("2026-03-05"),
        effective_on="2026-03-05",
        values={"salary_step": 4, "salary_coefficient": 3.66},
        by=UNIT,
        now=at("2026-03-06"),
    )
    clerk = Principal(account_id="acc-district", username="gsv", unit_id="D1", role="district_supervisor")
    fix = record.correct(
        VERSIONS,
        entry_id=raise_.entry_id,
        values={"salary_coefficient": 3.33},
        document=None,
        effective_on=None,
        reason="Nhập nhầm hệ số",
        by=clerk,
        now=at("2026-03-09"),
    )
    assert fix.changes == [{"field": "salary_coefficient", "old": 3.66, "new": 3.33}]
    assert (fix.entered_by, fix.reason, fix.corrects) == ("acc-district", "Nhập nhầm hệ số", raise_.entry_id)
    assert record.state(VERSIONS).fields["salary_coefficient"] == 3.33
    assert [e.entry_id for e in record.entries][:2] == [record.entries[0].entry_id, raise_.entry_id]
    assert raise_.values["salary_coefficient"] == 3.66  # the entry itself is never changed
    career = record.career()
    line = next(c for c in career if c["entry_id"] == raise_.entry_id)
    assert line["values"]["salary_coefficient"] == 3.33 and line["original"]["values"]["salary_coefficient"] == 3.66
    assert [c["reason"] for c in line["corrections"]] == ["Nhập nhầm hệ số"]
    assert record.events[-1].change == "corrected" and record.events[-1].corrects == raise_.entry_id


def test_correcting_a_document_date_recounts_from_the_day_first_entered():
    record = recruited()
    entry = record.enter(
        OFFICIAL,
        VERSIONS,
        process="appointment",
        document=doc("2026-03-10"),
        effective_on="2026-03-10",
        values={"position": "TP"},
        by=UNIT,
        now=at("2026-03-13"),
    )
    assert entry.on_time is True
    fix = record.correct(
        VERSIONS,
        entry_id=entry.entry_id,
        values={},
        document=doc("2026-03-02"),
        effective_on=None,
        reason="Sai ngày văn bản",
        by=UNIT,
        now=at("2026-03-20"),
    )
    assert (fix.working_days, fix.on_time) == (9, False)  # 2/3 to 13/3, not to 20/3
    assert record.events[-1].on_time is False


def test_a_correction_must_change_something_say_why_and_name_an_entry():
    record = recruited()
    first = record.entries[0].entry_id
    with pytest.raises(EntryInvalid, match="Không có gì cần đính chính"):
        record.correct(
            VERSIONS, entry_id=first, values={"gender": "Nam"}, document=None, effective_on=None, reason="x", by=UNIT
        )
    with pytest.raises(EntryInvalid):
        record.correct(
            VERSIONS, entry_id=first, values={"gender": "Nữ"}, document=None, effective_on=None, reason=" ", by=UNIT
        )
    with pytest.raises(NotFound):
        record.correct(
            VERSIONS, entry_id="nope", values={"gender": "Nữ"}, document=None, effective_on=None, reason="x", by=UNIT
        )
    with pytest.raises(EntryInvalid) as wrong:
        record.correct(
            VERSIONS, entry_id=first, values={"national_id": "1"}, document=None, effective_on=None, reason="x", by=UNIT
        )
    assert wrong.value.problems[0].field == "national_id"


# The fold -------------------------------------------------------------------------------------
raises = st.lists(
    st.tuples(st.dates(date(2026, 3, 3), date(2026, 4, 30)), st.integers(1, 16)),
    min_size=1,
    max_size=12,
    unique_by=lambda t: t[0],
)


@settings(max_examples=60, deadline=None)
@given(raises, st.randoms(use_true_random=False))
def test_the_current_state_is_the_last_change_to_take_effect_whatever_order_it_was_entered_in(changes, rng):
    entered = list(changes)
    rng.shuffle(entered)
    record = recruited("2026-03-02")
    for day, step in entered:
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="salary_raise",
            document=doc(day.isoformat()),
            effective_on=day.isoformat(),
            values={"salary_step": step, "salary_coefficient": 2.0 + step / 10},
            by=UNIT,
            now=at("2026-05-04"),
        )
    latest = max(changes)[1]
    state = record.state(VERSIONS)
    assert state.fields["salary_step"] == latest
    # History is never lost: every change is still there, in the order entered.
    assert [e.values.get("salary_step") for e in record.entries[1:]] == [s for _, s in entered]
    assert len(record.career()) == len(changes) + 1


def test_lists_collect_items_and_statuses_follow_the_processes():
    record = recruited()
    for form in ("Giấy khen", "Lao động tiên tiến"):
        record.enter(
            OFFICIAL,
            VERSIONS,
            process="reward",
            document=doc("2026-03-03"),
            effective_on="2026-03-03",
            values={"form": form},
            by=UNIT,
            now=at("2026-03-04"),
        )
    record.enter(
        OFFICIAL,
        VERSIONS,
        process="appointment",
        document=doc("2026-03-03"),
        effective_on="2026-03-03",
        values={"position": "TP"},
        by=UNIT,
        now=at("2026-03-04"),
    )
    record.enter(
        OFFICIAL,
        VERSIONS,
        process="retirement",
        document=doc("2026-03-04"),
        effective_on="2026-04-01",
        values={},
        by=UNIT,
        now=at("2026-03-05"),
    )
    state = record.state(VERSIONS)
    assert [r["values"]["form"] for r in state.lists["rewards"]] == ["Giấy khen", "Lao động tiên tiến"]
    assert state.status == "retired" and "position" not in state.fields


# Moves ----------------------------------------------------------------------------------------
def test_a_move_within_the_unit_s_own_scope_is_made_at_once_with_events_for_both_units():
    record = recruited()
    move = record.request_move(
        OFFICIAL,
        VERSIONS,
        process="transfer",
        to_unit_id="U2",
        document=doc("2026-03-05"),
        effective_on="2026-03-05",
        values={"position": "PTP"},
        by=UNIT,
        direct=True,
        now=at("2026-03-06"),
    )
    assert move["status"] == APPLIED and record.unit_id == "U2"
    out, into = record.events[-2:]
    assert (out.change, out.unit_id, into.change, into.unit_id) == ("moved_out", "U1", "moved_in", "U2")
    state = record.state(VERSIONS)
    assert state.unit_id == "U2" and state.fields["position"] == "PTP"
    assert len(record.entries) == 2  # the history came along


def test_a_move_out_of_scope_waits_for_the_decision_and_is_applied_once():
    record = recruited()
    move = record.request_move(
        OFFICIAL,
        VERSIONS,
        process="mobilisation",
        to_unit_id="X9",
        document=doc("2026-03-05"),
        effective_on="2026-03-05",
        values={},
        by=UNIT,
        direct=False,
        now=at("2026-03-06"),
    )
    assert move["status"] == PENDING and record.unit_id == "U1"
    assert isinstance(record.events[-1], MoveRequested) and record.events[-1].to_unit_id == "X9"
    with pytest.raises(Conflict):
        record.request_move(
            OFFICIAL,
            VERSIONS,
            process="transfer",
            to_unit_id="X8",
            document=doc("2026-03-05"),
            effective_on="2026-03-05",
            values={},
            by=UNIT,
            direct=False,
        )
    with pytest.raises(MoveUnknown):
        record.complete_move(move["move_id"], from_unit_id="U1", to_unit_id="X8", approved_by="p", at=at("2026-03-20"))
    assert record.complete_move(
        move["move_id"], from_unit_id="U1", to_unit_id="X9", approved_by="p", at=at("2026-03-20")
    )
    assert not record.complete_move(
        move["move_id"], from_unit_id="U1", to_unit_id="X9", approved_by="p", at=at("2026-03-20")
    )
    entry = record.entries[-1]
    # Counted from the document to when the unit asked, not to the department's decision.
    assert (entry.on_time, entry.approved_by, entry.from_unit_id, entry.to_unit_id) == (True, "p", "U1", "X9")
    assert record.state(VERSIONS).unit_id == "X9"


def test_a_returned_move_leaves_the_record_where_it_was():
    record = recruited()
    move = record.request_move(
        OFFICIAL,
        VERSIONS,
        process="rotation",
        to_unit_id="X9",
        document=doc("2026-03-05"),
        effective_on="2026-03-05",
        values={},
        by=UNIT,
        direct=False,
        now=at("2026-03-06"),
    )
    assert record.return_move(move["move_id"], from_unit_id="U1", to_unit_id="X9", returned_by="p", at=at("2026-03-10"))
    assert move["status"] == RETURNED and record.pending_move() is None
    assert record.state(VERSIONS).unit_id == "U1" and len(record.entries) == 1


def test_scope_is_the_unit_and_those_above_it():
    assert manages("D1", ["root", "P", "D1", "U1"]) and manages("U1", ["root", "P", "D1", "U1"])
    assert not manages("U2", ["root", "P", "D1", "U1"])


# Imports --------------------------------------------------------------------------------------
def sheet_row(n: int, **cells: str) -> dict[str, str]:
    base = {
        "#row": str(n),
        "họ và tên": f"Lê Thị {n}",
        "ngày sinh": "02/03/1990",
        "giới tính": "Nữ",
        "số định danh cá nhân": f"0010900{n:05d}",
        "đối tượng": "Viên chức",
        "bậc lương": "2",
        "hệ số lương": "2,67",
        "ngạch, chức danh nghề nghiệp": "Chuyên viên",
    }
    return {**base, **cells}


def test_an_import_opens_a_record_per_row():
    planned = plan_import(
        OFFICIAL, "import", "U1", [sheet_row(2), sheet_row(3, **{"ngày sinh": "33005"})], UNIT, at("2026-03-02")
    )
    assert [n for n, _ in planned] == [2, 3]
    state = planned[0][1].state(VERSIONS)
    assert state.fields["birth_date"] == "1990-03-02" and state.fields["rank"] == "01.003"
    assert state.fields["salary_coefficient"] == 2.67
    assert planned[1][1].state(VERSIONS).fields["birth_date"] == "1990-05-12"  # an Excel day number
    assert planned[0][1].events[0].change == "imported"


def test_an_import_reports_every_bad_row_and_stores_nothing():
    rows = [
        sheet_row(2),
        sheet_row(3, **{"giới tính": "?"}),
        sheet_row(4, **{"ngày sinh": "31/02/1990"}),
        sheet_row(5, **{"số định danh cá nhân": "001090000002"}),
        sheet_row(6, **{"họ và tên": ""}),
    ]
    with pytest.raises(ImportRejected) as rejected:
        plan_import(OFFICIAL, "import", "U1", rows, UNIT, at("2026-03-02"))
    found = {(e.row, e.field) for e in rejected.value.errors}
    assert found == {(3, "gender"), (4, "birth_date"), (5, "national_id"), (6, "full_name")}
    assert rejected.value.details["total"] == 4
    assert "trùng với dòng 2" in next(e.message for e in rejected.value.errors if e.row == 5)


def test_an_import_names_columns_it_does_not_know_and_those_it_misses():
    with pytest.raises(ImportRejected) as rejected:
        plan_import(OFFICIAL, "import", "U1", [{"#row": "2", "ho_ten": "A", "lương": "x"}], UNIT, at("2026-03-02"))
    messages = [e.message for e in rejected.value.errors]
    assert "Cột 'lương' không có trong Hồ sơ cán bộ, công chức, viên chức" in messages
    assert "Thiếu cột 'Ngày sinh'" in messages


@pytest.mark.parametrize(
    "text, expected",
    [
        ("02/03/1990", "1990-03-02"),
        ("2-3-1990", "1990-03-02"),
        ("1990-03-02", "1990-03-02"),
        ("32874", "1990-01-01"),
        ("30/02/1990", None),
        ("hôm qua", None),
    ],
)
def test_dates_are_read_as_vietnamese_sheets_write_them(text, expected):
    assert date_from_cell(text) == expected


# Scores ---------------------------------------------------------------------------------------
def test_figures_give_rates_and_an_even_score():
    figures = Figures()
    figures.add_record(filled=10, required=10, stale=False)
    figures.add_record(filled=5, required=10, stale=True)
    for on_time in (True, True, True, False):
        figures.add_change(on_time)
    view = figures.view()
    assert (view["on_time_rate"], view["completeness"], view["stale_rate"]) == (75.0, 75.0, 50.0)
    assert view["score"] == round((75 + 75 + 50) / 3, 1) and view["late"] == 1 and view["complete_records"] == 1
    assert Figures().view()["score"] is None


def test_a_record_not_updated_in_a_year_is_stale_and_the_autumn_review_covers_october_to_september():
    assert is_stale(at("2025-03-01"), date(2026, 3, 2)) and not is_stale(at("2025-03-02"), date(2026, 3, 2))
    assert autumn_period(2026) == (date(2025, 10, 1), date(2026, 9, 30))


def test_names_are_found_without_their_diacritics():
    assert fold_name("  Nguyễn Văn ĐỨC ") == "nguyen van duc"
    found = keys(OFFICIAL, person())
    assert found["words"] == ["hung", "nguyen", "van"] and found["birth_date"] == "1985-03-02"
    assert {"h", "hu", "hun", "hung", "ng", "nguyen", "va", "van"} <= set(found["prefixes"])
    assert "position" not in found


def test_a_unit_has_one_organisation_record():
    record = Record.open(
        STAFFING,
        unit_id="U1",
        process="profile_opened",
        document=None,
        effective_on="2026-03-02",
        values={"unit_type": "Đơn vị sự nghiệp công lập", "staffing_quota": 12},
        by=UNIT,
        now=at("2026-03-02"),
    )
    assert record.id == "unit_staffing-U1"
    record.enter(
        STAFFING,
        {1: STAFFING},
        process="staffing_assigned",
        document=doc("2026-03-03"),
        effective_on="2026-03-03",
        values={"staffing_quota": 15},
        by=UNIT,
        now=at("2026-03-04"),
    )
    assert fold(record.entries, {1: STAFFING}).fields["staffing_quota"] == 15


def test_random_histories_fold_the_same_after_a_round_trip_through_documents():
    from services.personnel.domain.model import Entry

    rng = random.Random(7)
    record = recruited()
    for _ in range(20):
        day = (date(2026, 3, 3) + timedelta(days=rng.randrange(60))).isoformat()
        process = rng.choice(["salary_raise", "appointment", "reward"])
        values = {
            "salary_raise": {"salary_step": rng.randrange(1, 17), "salary_coefficient": 2.5},
            "appointment": {"position": rng.choice(["TP", "PTP"])},
            "reward": {"form": "Giấy khen"},
        }[process]
        record.enter(
            OFFICIAL,
            VERSIONS,
            process=process,
            document=doc(day),
            effective_on=day,
            values=values,
            by=UNIT,
            now=at("2026-05-04"),
        )
    record.correct(
        VERSIONS,
        entry_id=record.entries[3].entry_id,
        values={},
        document=doc("2026-03-03", "9/QĐ"),
        effective_on=None,
        reason="Sai số văn bản",
        by=UNIT,
        now=at("2026-05-05"),
    )
    again = [Entry.from_doc(e.as_doc()) for e in record.entries]
    assert again == record.entries
    assert fold(again, VERSIONS) == record.state(VERSIONS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 16)), min_size=1, max_size=8))
def test_a_corrected_record_reads_as_if_entered_right_and_keeps_every_old_value(corrections):
    """Whatever the corrections, the fold reads each entry as last corrected, as a record entered
    right the first time would; and every value ever entered is still in the record."""
    days = [f"2026-03-{d:02d}" for d in range(3, 9)]
    steps = [3, 4, 5, 6, 7, 8]
    wrong = recruited()
    for day, step in zip(days, steps, strict=True):
        wrong.enter(
            OFFICIAL,
            VERSIONS,
            process="salary_raise",
            document=doc(day),
            effective_on=day,
            values={"salary_step": step, "salary_coefficient": 3.0},
            by=UNIT,
            now=at("2026-03-10"),
        )
    final = dict(enumerate(steps))
    for index, step in corrections:
        target = wrong.entries[1 + index]
        if final[index] == step:
            continue
        wrong.correct(
            VERSIONS,
            entry_id=target.entry_id,
            values={"salary_step": step},
            document=None,
            effective_on=None,
            reason="Đính chính",
            by=UNIT,
            now=at("2026-03-11"),
        )
        final[index] = step
    right = recruited()
    for i, day in enumerate(days):
        right.enter(
            OFFICIAL,
            VERSIONS,
            process="salary_raise",
            document=doc(day),
            effective_on=day,
            values={"salary_step": final[i], "salary_coefficient": 3.0},
            by=UNIT,
            now=at("2026-03-10"),
        )
    assert wrong.state(VERSIONS).fields == right.state(VERSIONS).fields
    entered = (
        {s for s in steps}
        | {c["old"] for e in wrong.entries for c in e.changes}
        | {c["new"] for e in wrong.entries for c in e.changes}
    )
    kept = {e.values.get("salary_step") for e in wrong.entries} | {c["old"] for e in wrong.entries for c in e.changes}
    assert entered <= kept | {None}


def test_the_par_index_list_is_drafted_from_the_records_groups():
    from services.personnel.domain import par_lists

    province = {"level": "province"}
    department = {"level": "agency", "name": "Sở Nội vụ"}
    district = {"level": "district", "name": "Huyện Cao Lộc"}
    commune = {"level": "commune"}
    assert par_lists.group_of("official", {"position": "GD-SO"}, department, province) == "Lãnh đạo cấp sở"
    assert (
        par_lists.group_of("official", {"position": "TP"}, department, province) == "Lãnh đạo phòng chuyên môn thuộc sở"
    )
    assert (
        par_lists.group_of("official", {"position": "PCT-UBND"}, district, province)
        == "Lãnh đạo Ủy ban nhân dân cấp huyện"
    )
    assert par_lists.group_of("official", {"position": "TP"}, commune, district) is None
    assert (
        par_lists.group_of("council_delegate", {"council_level": "Tỉnh"}, province, None)
        == "Đại biểu Hội đồng nhân dân cấp tỉnh"
    )
    assert par_lists.group_of("council_delegate", {"council_level": "Huyện"}, district, province) is None
    rows = par_lists.draft(
        [
            ("Lương Thị Giám Đốc", "1970-01-01", "Lãnh đạo cấp sở", "Giám đốc sở", "Sở Nội vụ"),
            ("Lương Thị Giám Đốc", "1970-01-01", "Đại biểu Hội đồng nhân dân cấp tỉnh", "Đại biểu", ""),
            ("Lương Thị Giám Đốc", "1981-05-05", "Lãnh đạo phòng chuyên môn thuộc sở", "Trưởng phòng", "Sở Y tế"),
        ]
    )
    assert [(r[0], r[2]) for r in rows] == [
        ("Lương Thị Giám Đốc", "Đại biểu Hội đồng nhân dân cấp tỉnh"),
        ("Lương Thị Giám Đốc", "Lãnh đạo phòng chuyên môn thuộc sở"),
    ]
    assert rows[0][1] == ""  # the e-mail, for the province to fill
