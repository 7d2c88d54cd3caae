from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from chassis.auth import Principal
from chassis.clock import today_in_vietnam
from chassis.errors import Conflict, DomainError, Forbidden
from services.forms.domain.campaigns import Campaign, half_yearly, tier_of

CENSUS = Campaign(
    campaign_id="dtcshc-2021",
    form_code="1/HC-TB",
    title="Điều tra cơ sở hành chính 2021",
    scope_unit_ids=["20"],
    opens_on=date(2021, 3, 1),
    closes_on=date(2021, 4, 30),
    deadlines={"province": date(2021, 4, 12), "district": date(2021, 4, 20)},
)
IN_SCOPE = ["root", "20", "178", "178-01"]


def test_window_and_scope():
    CENSUS.check_accepts(IN_SCOPE, "1/HC-TB", date(2021, 3, 1))
    CENSUS.check_accepts(IN_SCOPE, "1/HC-TB", date(2021, 4, 30))
    with pytest.raises(Conflict, match="mở từ ngày 01/03/2021"):
        CENSUS.check_accepts(IN_SCOPE, "1/HC-TB", date(2021, 2, 28))
    with pytest.raises(Conflict, match="kết thúc ngày 30/04/2021"):
        CENSUS.check_accepts(IN_SCOPE, "1/HC-TB", date(2021, 5, 1))
    with pytest.raises(Forbidden):
        CENSUS.check_accepts(["root", "21", "210"], "1/HC-TB", date(2021, 3, 5))
    with pytest.raises(DomainError):
        CENSUS.check_accepts(IN_SCOPE, "BC-6T", date(2021, 3, 5))


def test_deadlines_by_where_the_unit_sits():
    assert tier_of(["central", "province"]) == "province"  # a provincial department
    assert tier_of(["central", "province", "district"]) == "district"  # a commune of a district
    assert CENSUS.deadline_for("province") == date(2021, 4, 12)
    assert CENSUS.deadline_for("district") == date(2021, 4, 20)
    with pytest.raises(ValidationError):
        Campaign(**{**CENSUS.model_dump(), "deadlines": {"district": date(2021, 5, 2)}})


def test_vietnam_date_turns_at_its_own_midnight():
    assert today_in_vietnam(datetime(2021, 4, 12, 16, 59, tzinfo=UTC)) == date(2021, 4, 12)
    assert today_in_vietnam(datetime(2021, 4, 12, 17, 0, tzinfo=UTC)) == date(2021, 4, 13)


def test_half_yearly_reports_are_due_15_june_and_15_december():
    h1, h2 = half_yearly("bc-noi-vu", "BC-6T", "Báo cáo", ["20"], 2026)
    assert (h1.campaign_id, h1.closes_on) == ("bc-noi-vu-2026-h1", date(2026, 6, 15))
    assert (h2.campaign_id, h2.opens_on, h2.closes_on) == ("bc-noi-vu-2026-h2", date(2026, 7, 1), date(2026, 12, 15))


def test_only_administrators_above_the_scope_open_campaigns():
    CENSUS.check_open_by(Principal("a", "admin", "root", "central_admin"), [["root", "20"]])
    CENSUS.check_open_by(Principal("p", "qt", "20", "province_admin"), [["root", "20"]])
    for who, lineage in (
        (Principal("q", "qt", "21", "province_admin"), ["root", "20"]),
        (Principal("s", "gsv", "20", "province_supervisor"), ["root", "20"]),
        (Principal("a", "admin", "root", "central_admin"), None),
    ):
        with pytest.raises(Forbidden):
            CENSUS.check_open_by(who, [lineage])


def test_a_scoped_campaign_or_survey_is_read_inside_its_scope_above_it_or_by_the_ministry():
    from chassis.tree import in_or_above_scope

    # root > P > D1 > {A, B}, P > D2 > C; root > Q. The scope is D1.
    scope = {"D1": ["root", "P"]}
    for lineage, reads in (
        (["root", "P", "D1", "A"], True),
        (["root", "P", "D1"], True),
        (["root", "P"], True),
        (["root"], True),
        (["root", "P", "D2", "C"], False),
        (["root", "P", "D2"], False),
        (["root", "Q"], False),
    ):
        assert in_or_above_scope(lineage, scope) is reads, lineage
    assert in_or_above_scope(["root", "Q"], {"D1": ["root", "P"], "Q": ["root"]})  # any of several
