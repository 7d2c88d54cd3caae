"""Form 1/HC-TB v1: every rule of the seed on both sides, the usual census checks, and properties
of the rule engine (hypothesis)."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.forms.domain.definitions import FormDefinition, SumRule
from tests.support.answers import valid_hc_tb

HC_TB = FormDefinition.model_validate_json(
    (Path(__file__).resolve().parents[2] / "services/forms/definitions/1-HC-TB.v1.json").read_text()
)


def errors(answers, complete=True):
    return {e.field: e.message for e in HC_TB.check(answers, complete=complete)}


def test_valid_answers_pass():
    assert errors(valid_hc_tb()) == {}


def test_a222_concurrent_posts_from_other_units_are_not_the_units_own_labour():
    answers = valid_hc_tb()
    answers["A2.2.2"] = 40  # any number of people from other units: the total does not include them
    assert errors(answers) == {}
    answers["A2.1"] = answers["A2.2.1"] + answers["A2.2.3"] + 3  # own staff counted again as concurrent
    assert "A2.2.2" in errors(answers)["A2.1"] and "(tổng các phần: 25)" in errors(answers)["A2.1"]


@pytest.mark.parametrize("kind", ["giao", "thuc_hien"])
def test_a24_totals_are_the_sum_of_the_years(kind):
    answers = valid_hc_tb()
    answers[f"A2.4.{kind}.tong"] = answers[f"A2.4.{kind}.2020"]  # the last year, not the period
    assert list(errors(answers)) == [f"A2.4.{kind}.tong"]
    assert "tổng các năm" in errors(answers)[f"A2.4.{kind}.tong"]


def test_a33_land_only_from_the_unit_that_carries_it_on_its_books():
    books = valid_hc_tb()
    del books["A3.3.1"]
    assert errors(books) == {"A3.3.1": "Chưa trả lời: Diện tích đất"}  # carries it: must declare
    shares = valid_hc_tb()
    shares["A1.5"] = False
    assert set(errors(shares)) == {"A3.3.1", "A3.3.2"}  # does not: must not declare...
    del shares["A3.3.1"], shares["A3.3.2"]
    assert errors(shares) == {}  # ...and still submits


def test_a42_product_code_and_value_go_together():
    answers = valid_hc_tb()
    answers["A4.2.2.ma"] = "8412"
    assert errors(answers) == {"A4.2.2.gia_tri": "Sản phẩm 2: phải ghi cả mã sản phẩm và giá trị"}
    answers["A4.2.2.gia_tri"] = 20
    assert errors(answers) == {}


def test_counts_are_whole_and_not_negative_and_parts_not_above_totals():
    for field, value, message in (
        ("A2.2.1", 2.5, "phải là số nguyên"),
        ("A3.1", -1, "không được nhỏ hơn 0"),
        ("A1.4", "có", "phải là Có hoặc Không"),
        ("A1.3", "Khác", "không thuộc danh sách"),
    ):
        answers = {**valid_hc_tb(), field: value}
        assert message in errors(answers)[field], field
    answers = {**valid_hc_tb(), "A2.1.1": 26}
    assert errors(answers) == {"A2.1.1": "Số lao động nữ không được lớn hơn tổng số lao động"}


def test_unknown_and_missing_answers_point_at_their_field():
    answers = valid_hc_tb()
    del answers["A1.1"]
    answers["A9.9"] = 1
    assert errors(answers) == {"A1.1": "Chưa trả lời: Tên cơ quan, đơn vị", "A9.9": "Phiếu không có câu hỏi này"}


def test_a_draft_is_checked_field_by_field_only():
    assert errors({"A2.1": 5}, complete=False) == {}
    assert list(errors({"A2.1": "năm"}, complete=False)) == ["A2.1"]


def test_definitions_that_name_unknown_fields_are_refused():
    doc = json.loads(HC_TB.model_dump_json())
    doc["rules"].append({"kind": "sum", "total": "A2.1", "parts": ["A7"], "message": "x"})
    with pytest.raises(ValidationError, match="unknown fields"):
        FormDefinition.model_validate(doc)


counts = st.integers(min_value=0, max_value=10_000)


@given(st.lists(counts, min_size=6, max_size=6))
def test_sum_rule_accepts_exactly_the_sum(years):
    answers = valid_hc_tb()
    for year, value in zip(range(2015, 2021), years, strict=True):
        answers[f"A2.4.giao.{year}"] = value
    answers["A2.4.giao.tong"] = sum(years)
    assert errors(answers) == {}


@given(st.lists(counts, min_size=6, max_size=6), st.integers(min_value=1, max_value=1000))
def test_sum_rule_refuses_any_other_total(years, off):
    answers = valid_hc_tb()
    for year, value in zip(range(2015, 2021), years, strict=True):
        answers[f"A2.4.thuc_hien.{year}"] = value
    answers["A2.4.thuc_hien.tong"] = sum(years) + off
    assert list(errors(answers)) == ["A2.4.thuc_hien.tong"]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(HC_TB.fields)),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5)),
    )
)
def test_the_engine_never_fails_on_any_answers(answers):
    # Whatever comes in, the result is a list of field errors, never an exception.
    for error in HC_TB.check(answers, complete=True) + HC_TB.check(answers, complete=False):
        assert error.field in HC_TB.fields and error.message


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=8))
def test_sum_rule_tolerates_float_rounding(parts):
    rule = SumRule(total="t", parts=[f"p{i}" for i in range(len(parts))], message="m")
    from services.forms.domain.definitions import _rule_error

    answers = {"t": sum(parts), **{f"p{i}": v for i, v in enumerate(parts)}}
    assert _rule_error(rule, answers) is None


# Code lists ---------------------------------------------------------------------------------
V2 = FormDefinition.model_validate_json(
    (Path(__file__).resolve().parents[2] / "services/forms/definitions/1-HC-TB.v2.json").read_text()
)


def test_vsic_2018_has_its_21_sections_and_88_divisions():
    from services.forms.domain.codelists import code_lists

    vsic = code_lists()["vsic2018"]
    levels = [e.level for e in vsic.entries.values()]
    assert (levels.count(1), levels.count(2)) == (21, 88)
    assert all(vsic.entries[e.parent].level == 1 for e in vsic.entries.values() if e.level == 2)
    assert vsic.entries["84"].parent == "O"


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("A4.1.ma", "84", True),
        ("A4.1.ma", "85", True),
        ("A4.1.ma", "04", False),
        ("A4.1.ma", "O", False),
        ("A4.2.1.ma", "8411001", True),
        ("A4.2.1.ma", "8411", False),
        ("A4.2.1.ma", "0411001", False),
        ("A4.2.1.ma", "84110x1", False),
        ("A4.2.1.ma", 8411001, False),
    ],
)
def test_code_fields_take_codes_of_their_list(field, value, ok):
    answers = {field: value}
    errors = V2.check(answers, complete=False)
    assert (errors == []) is ok, errors
    if not ok:
        assert errors[0].field == field and "mã" in errors[0].message


def test_a_code_field_must_name_a_known_list():
    document = json.loads(V2.model_dump_json())
    document["sections"][-1]["fields"][1]["code_list"] = "vsic1993"
    with pytest.raises(ValueError, match="unknown code list"):
        FormDefinition.model_validate(document)


def test_unit_codes_are_left_to_the_tree_lookup():
    assert V2.check({"A1.6": "178"}, complete=False) == []
    assert [(f.code, code) for f, code in V2.dynamic_codes({"A1.6": " 178 ", "A4.1.ma": "84"})] == [("A1.6", "178")]
    assert V2.check({"A1.6": 178}, complete=False)[0].field == "A1.6"  # a code is text


def test_the_product_list_is_exact_once_its_file_is_there(tmp_path):
    import shutil

    from services.forms.domain.codelists import FILES, load

    shutil.copy(FILES / "vsic2018.csv", tmp_path / "vsic2018.csv")
    assert load(tmp_path)["vcpa2018"].error("8411001") is None  # no file: form and division only
    (tmp_path / "vcpa2018.csv").write_text(
        "code,level,name_vi,parent\n8411001,7,Sản phẩm thử,841100\n", encoding="utf-8"
    )
    vcpa = load(tmp_path)["vcpa2018"]
    assert vcpa.error("8411001") is None
    assert "không có trong" in vcpa.error("8411002")


@pytest.mark.parametrize("field", ["A2.1", "A4.2.1.gia_tri"])  # an integer question and a number question
@pytest.mark.parametrize(
    "value",
    [10**400, 2**63, -(2**63) - 1, float("inf"), float("nan")],
    ids=["400 digits", "2^63", "-2^63-1", "inf", "nan"],
)
def test_numbers_the_store_cannot_keep_are_refused_by_their_field(field, value):
    # A 400-digit answer used to raise OverflowError (a 500, with a traceback in the log).
    found = HC_TB.check({field: value}, complete=False)
    assert [e.field for e in found] == [field]


def test_a_too_large_number_says_so():
    message = errors({"A1.5": True, "A3.3.1": 10**400, "A2.1": 2**63}, complete=False)
    assert message["A3.3.1"].startswith("Diện tích đất") and "quá lớn" in message["A3.3.1"]
    assert "quá lớn" in message["A2.1"]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(HC_TB.fields)),
        st.one_of(
            st.integers(), st.floats(), st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**400, -(10**400)])
        ),
        max_size=6,
    )
)
def test_whatever_a_draft_accepts_the_store_can_keep(answers):
    import bson

    if not HC_TB.check(answers, complete=False):
        bson.encode({"answers": answers})  # raises OverflowError for what BSON cannot hold
