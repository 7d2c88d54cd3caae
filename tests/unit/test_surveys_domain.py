"""The PAR Index survey's list rules (seed 002), each on both sides."""

from datetime import date

import pytest

from chassis.auth import Principal
from chassis.errors import Conflict, Forbidden
from moha_contracts import RespondentListSubmitted
from services.forms.survey.domain import (
    RespondentList,
    check_answer_window,
    check_list,
    kind_of,
    response_id,
    token_hash,
)

ADMIN_P = Principal("qt", "qt.tinh", "p1", "province_admin")
CENTRAL = Principal("bnv", "admin", "root", "central_admin")


def row(name, email, group, organisation="", position=""):
    return {"full_name": name, "email": email, "group": group, "organisation": organisation, "position": position}


def test_a_province_lists_its_four_groups_by_code_or_label():
    checked = check_list(
        "province",
        [
            row("Nguyễn Văn A", "a@nghean.gov.vn", "dai_bieu_hdnd"),
            row("Trần Thị B", "b@nghean.gov.vn", "Lãnh đạo cấp sở"),
            row("Lê Văn C", "c@nghean.gov.vn", "lanh_dao_phong_so"),
            row("Phạm Văn D", "d@nghean.gov.vn", "Lãnh đạo Ủy ban nhân dân cấp huyện"),
        ],
    )
    assert checked.errors == [] and [p.group for p in checked.respondents] == [
        "dai_bieu_hdnd",
        "lanh_dao_so",
        "lanh_dao_phong_so",
        "lanh_dao_ubnd_huyen",
    ]


def test_a_ministrys_group_is_refused_in_a_provinces_list_and_the_reverse():
    assert [e.field for e in check_list("province", [row("A", "a@x.vn", "lanh_dao_vu")]).errors] == ["group"]
    assert [e.field for e in check_list("ministry", [row("A", "a@x.vn", "dai_bieu_hdnd")]).errors] == ["group"]


@pytest.mark.parametrize("first, second", [("lanh_dao_so", "dai_bieu_hdnd"), ("dai_bieu_hdnd", "lanh_dao_so")])
def test_a_person_in_two_groups_is_kept_once_as_peoples_council_delegate(first, second):
    checked = check_list(
        "province", [row("Nguyễn Văn A", "A@NgheAn.gov.vn", first), row("Nguyễn  Văn A", "a@nghean.gov.vn", second)]
    )
    assert checked.errors == []
    assert [(p.email, p.group) for p in checked.respondents] == [("a@nghean.gov.vn", "dai_bieu_hdnd")]
    assert checked.merged[0]["kept_group"] == "dai_bieu_hdnd"


def test_without_the_delegate_role_the_first_listing_stands():
    checked = check_list("province", [row("A", "a@x.vn", "lanh_dao_phong_so"), row("A", "a@x.vn", "lanh_dao_so")])
    assert [p.group for p in checked.respondents] == ["lanh_dao_phong_so"] and len(checked.merged) == 1


def test_one_address_for_two_different_people_is_an_error():
    checked = check_list(
        "province", [row("Nguyễn Văn A", "a@x.vn", "lanh_dao_so"), row("Trần Văn B", "a@x.vn", "lanh_dao_so")]
    )
    assert [(e.row, e.field) for e in checked.errors] == [(3, "email")]


def test_two_reform_officials_per_ministry_unit():
    rows = [row(f"Cán bộ {i}", f"cb{i}@bo.gov.vn", "cong_chuc_cchc", "Vụ Pháp chế") for i in range(3)]
    rows.append(row("Cán bộ khác", "k@bo.gov.vn", "cong_chuc_cchc", "Văn phòng Bộ"))
    checked = check_list("ministry", rows)
    assert [(e.row, e.field) for e in checked.errors] == [(4, "group")]  # the third of Vụ Pháp chế
    assert check_list("ministry", rows[:2] + rows[3:]).errors == []


def test_at_most_five_associations():
    rows = [row(f"Chủ tịch {i}", f"hoi{i}@hoi.vn", "lanh_dao_hoi", f"Hội số {i}") for i in range(6)]
    rows.append(row("Phó chủ tịch", "pho0@hoi.vn", "lanh_dao_hoi", "Hội số 0"))  # a second leader of the first
    checked = check_list("ministry", rows)
    assert [(e.row, e.field) for e in checked.errors] == [(7, "organisation")]  # the sixth association
    assert check_list("ministry", rows[:5] + rows[6:]).errors == []


@pytest.mark.parametrize(
    "bad, field",
    [
        (row("", "a@x.vn", "lanh_dao_so"), "full_name"),
        (row("A", "not-an-address", "lanh_dao_so"), "email"),
        (row("A", "a@x.vn", "nhom_la"), "group"),
    ],
)
def test_malformed_rows_point_at_their_field(bad, field):
    checked = check_list("province", [row("B", "b@x.vn", "lanh_dao_so"), bad])
    assert [(e.row, e.field) for e in checked.errors] == [(3, field)]
    assert all(e.message for e in checked.errors)


def test_reform_officials_and_association_leaders_name_their_organisation():
    checked = check_list("ministry", [row("A", "a@x.vn", "cong_chuc_cchc"), row("B", "b@x.vn", "lanh_dao_hoi")])
    assert [e.field for e in checked.errors] == ["organisation", "organisation"]


def the_list():
    lst = RespondentList("s:p1", "s", "p1", "province")
    lst.replace(ADMIN_P, check_list("province", [row("A", "a@x.vn", "lanh_dao_so")]))
    return lst


def test_a_sent_list_is_locked_until_the_ministry_reopens_it():
    lst = the_list()
    lst.submit(ADMIN_P, date(2023, 2, 10), date(2023, 2, 13))
    assert isinstance(lst.events[-1], RespondentListSubmitted) and lst.events[-1].counts["lanh_dao_so"] == 1
    with pytest.raises(Conflict) as twice:
        lst.submit(ADMIN_P, date(2023, 2, 10), date(2023, 2, 13))
    assert twice.value.code == "already_submitted"
    with pytest.raises(Conflict):
        lst.replace(ADMIN_P, check_list("province", []))
    with pytest.raises(Forbidden):
        lst.reopen(ADMIN_P, "sửa")
    lst.reopen(CENTRAL, "Bổ sung đại biểu HĐND")
    # Reopened by the Ministry, it may be sent again after the deadline.
    lst.submit(ADMIN_P, date(2023, 2, 20), date(2023, 2, 13))


def test_a_list_is_not_sent_after_its_deadline():
    with pytest.raises(Conflict) as late:
        the_list().submit(ADMIN_P, date(2023, 2, 14), date(2023, 2, 13))
    assert late.value.code == "list_deadline_passed"


def test_owners_are_provinces_and_ministries():
    assert kind_of({"level": "province", "path": ["root"]}) == "province"
    assert kind_of({"level": "agency", "path": ["root"]}) == "ministry"
    assert kind_of({"level": "district", "path": ["root", "p"]}) is None


def test_the_invitation_and_the_response_keys_do_not_lead_to_each_other():
    assert token_hash("t") != response_id("t") and len(response_id("t")) == 64


def test_answers_close_after_the_deadline_day():
    check_answer_window(date(2023, 3, 3), date(2023, 3, 3))  # the day itself is still open
    with pytest.raises(Conflict) as closed:
        check_answer_window(date(2023, 3, 3), date(2023, 3, 4))
    assert closed.value.code == "survey_closed" and "03/03/2023" in closed.value.message


def test_the_counts_per_group_beside_what_the_seed_requires():
    from services.forms.survey.domain import requirements

    people = [
        {"group": "cong_chuc_cchc", "organisation": "Vụ Pháp chế"},
        {"group": "cong_chuc_cchc", "organisation": "vụ  pháp chế"},
        {"group": "cong_chuc_cchc", "organisation": "Văn phòng Bộ"},
        {"group": "lanh_dao_hoi", "organisation": "Hội Luật gia"},
        {"group": "lanh_dao_hoi", "organisation": "Hội Luật gia"},
        {"group": "lanh_dao_vu", "organisation": ""},
    ]
    found = {r["group"]: r for r in requirements("ministry", people)}
    assert list(found) == ["lanh_dao_vu", "lanh_dao_so", "lanh_dao_phong_so", "cong_chuc_cchc", "lanh_dao_hoi"]
    assert (found["lanh_dao_vu"]["count"], found["lanh_dao_vu"]["met"]) == (1, True)
    assert (found["lanh_dao_so"]["met"], found["lanh_dao_so"]["note"]) == (False, "Chưa có người nào trong nhóm")
    # Two per ministry unit: the Vụ has its two (however its name was typed), the Văn phòng one.
    assert found["cong_chuc_cchc"]["note"] == "2 đơn vị thuộc bộ; 1 đơn vị chưa đủ 2 người"
    assert not found["cong_chuc_cchc"]["met"] and found["cong_chuc_cchc"]["rule"].startswith("02 công chức")
    assert found["lanh_dao_hoi"]["note"] == "1/5 Hội/Hiệp hội" and found["lanh_dao_hoi"]["met"]
    assert [r["group"] for r in requirements("province", [])] == [
        "dai_bieu_hdnd",
        "lanh_dao_so",
        "lanh_dao_phong_so",
        "lanh_dao_ubnd_huyen",
    ]
