from datetime import UTC, datetime

import pytest

from chassis.auth import Principal
from chassis.errors import Conflict, NotFound
from moha_contracts import FormApproved, FormRejected, ReviewTaskClaimed, ReviewTaskOpened, SubmissionFinalized
from services.approvals.domain.model import (
    APPROVED,
    RETURNED,
    ReasonRequired,
    ReviewTask,
    review_chain,
    task_id,
)

NOW = datetime(2026, 4, 1, tzinfo=UTC)
LINEAGE = ["root", "province", "district", "unit-1"]
ANCESTORS = [("root", "central"), ("province", "province"), ("district", "district")]
LEVELS = ["district", "province"]
SUPERVISOR = Principal("sup", "gsv", "district", "district_supervisor")
PROVINCE_SUPERVISOR = Principal("p", "gsvt", "province", "province_supervisor")


def task(levels: list[str] = LEVELS) -> ReviewTask:
    return ReviewTask.open(
        submission_id="c1:unit-1",
        campaign_id="c1",
        unit_id="unit-1",
        unit_lineage=LINEAGE,
        revision=1,
        submitted_at=NOW,
        chain=review_chain(ANCESTORS, levels),
        review_levels=levels,
    )


@pytest.mark.parametrize(
    ("ancestors", "levels", "chain"),
    [
        (ANCESTORS, LEVELS, ["district", "province"]),  # a district's unit: two levels
        ([("root", "central"), ("province", "province")], LEVELS, ["province"]),  # a provincial department
        ([("root", "central"), ("province", "province")], ["district"], ["province"]),  # nobody at that level
        ([("root", "central"), ("p", "province"), ("c", "commune")], LEVELS, ["p"]),  # no districts: one fewer
        (ANCESTORS, ["district", "province", "central"], ["district", "province", "root"]),
        ([("root", "central")], LEVELS, ["root"]),  # a ministry's own unit
    ],
)
def test_the_chain_comes_from_the_tree_and_the_campaign(ancestors, levels, chain):
    assert review_chain(ancestors, levels) == chain


def test_open_is_deterministic_and_announced():
    t = task()
    assert t.id == task_id("c1:unit-1", 1, 1) == task().id
    assert (t.level, t.final, t.reviewer_unit_id) == (1, False, "district")
    opened = t.events[0]
    assert isinstance(opened, ReviewTaskOpened) and opened.reviewer_unit_id == "district" and opened.campaign_id


@pytest.mark.parametrize(
    "who",
    [
        Principal("u", "dv", "unit-1", "reporting_unit"),  # the unit itself
        Principal("s2", "gsv2", "district-2", "district_supervisor"),  # a sibling district's supervisor
        Principal("a", "qt", "district", "district_admin"),  # an administrator, not a reviewer
        Principal("s3", "gsv3", "unit-1", "district_supervisor"),  # a supervisor account on the unit itself
        PROVINCE_SUPERVISOR,  # the next level, before its turn
    ],
)
def test_only_this_levels_reviewers_decide(who):
    t = task()
    assert not t.reviewable_by(who)
    with pytest.raises(NotFound):
        t.approve(who, 1, NOW)


def test_first_level_approval_hands_up_then_the_province_confirms():
    first = task()
    first.approve(SUPERVISOR, 1, NOW, ip="10.0.0.5")
    assert first.status == APPROVED and first.decided_from == "10.0.0.5"
    approved = first.events[-1]
    assert isinstance(approved, FormApproved) and not approved.final and approved.level == 1
    second = first.next_level()
    assert (second.id, second.level, second.final, second.reviewer_unit_id) == (
        task_id("c1:unit-1", 1, 2),
        2,
        True,
        "province",
    )
    assert second.reviewable_by(PROVINCE_SUPERVISOR) and not second.reviewable_by(SUPERVISOR)
    second.approve(PROVINCE_SUPERVISOR, 1, NOW)
    final, finalized = second.events[-2:]
    assert isinstance(final, FormApproved) and final.final
    assert isinstance(finalized, SubmissionFinalized)
    assert [a["by"] for a in finalized.approvals] == ["sup", "p"]


def test_the_second_level_may_return_to_the_unit():
    first = task()
    first.approve(SUPERVISOR, 1, NOW)
    second = first.next_level()
    second.return_to_unit(PROVINCE_SUPERVISOR, 1, "Cần kiểm tra lại mục A3.3", NOW)
    assert isinstance(second.events[-1], FormRejected) and second.events[-1].level == 2


def test_a_final_or_undecided_task_has_no_next_level():
    t = task(["district"])
    assert t.final
    t.approve(SUPERVISOR, 1, NOW)
    with pytest.raises(ValueError):
        t.next_level()
    with pytest.raises(ValueError):
        task().next_level()


def test_return_needs_a_reason_and_raises_form_rejected():
    t = task()
    with pytest.raises(ReasonRequired):
        t.return_to_unit(SUPERVISOR, 1, "   ", NOW)
    t.return_to_unit(SUPERVISOR, 1, " số liệu A2.4 sai ", NOW)
    assert (t.status, t.reason) == (RETURNED, "số liệu A2.4 sai")
    assert isinstance(t.events[-1], FormRejected)


def test_stale_revision_and_second_decision_refused():
    t = task()
    with pytest.raises(Conflict) as stale:
        t.approve(SUPERVISOR, 2, NOW)
    assert stale.value.code == "stale_revision"
    t.approve(SUPERVISOR, 1, NOW)
    with pytest.raises(Conflict) as twice:
        t.return_to_unit(SUPERVISOR, 1, "x", NOW)
    assert twice.value.code == "already_decided"


def test_claim_marks_under_review_once():
    t = task()
    assert t.claim(SUPERVISOR, NOW)
    assert isinstance(t.events[-1], ReviewTaskClaimed)
    assert not t.claim(SUPERVISOR, NOW)  # again by the same: nothing new
    with pytest.raises(Conflict) as other:
        t.claim(Principal("sup2", "gsv2", "district", "district_supervisor"), NOW)
    assert other.value.code == "already_claimed"


def test_an_open_task_follows_its_unit_to_the_new_reviewers():
    t = task()
    assert t.follow_move(["root", "province", "unit-1"], ["province"])
    assert (t.reviewer_unit_id, t.level, t.final) == ("province", 1, True)
    assert not t.follow_move(["root", "province", "unit-1"], ["province"])


def test_an_assigned_supervisor_reviews_only_its_units():
    t = task()
    assert t.reviewable_by(SUPERVISOR, assigned=["unit-1"])
    assert not t.reviewable_by(SUPERVISOR, assigned=["unit-2"])
    assert t.reviewable_by(SUPERVISOR, assigned=[])  # no assignment: the whole area
    with pytest.raises(NotFound):
        t.approve(SUPERVISOR, 1, NOW, assigned=["unit-2"])


# Moving an official's record -----------------------------------------------------------------
def _line(*units: str) -> list[tuple[str, str]]:
    levels = {
        "root": "central",
        "P": "province",
        "Q": "province",
        "D1": "district",
        "D2": "district",
        "S1": "agency",
        "S2": "agency",
        "A1": "commune",
        "A2": "commune",
        "B1": "commune",
    }
    return [(u, levels[u]) for u in units]


@pytest.mark.parametrize(
    "source, target, decider",
    [
        (("root", "P", "D1", "A1"), ("root", "P", "D1", "A2"), "D1"),  # within a district: the level above
        (("root", "P", "D1", "A1"), ("root", "P", "D2", "B1"), "P"),  # between districts: the department
        (("root", "P", "S1"), ("root", "P", "S2"), "P"),  # between departments: the department
        (("root", "P", "D1", "A1"), ("root", "P", "D1"), "D1"),  # up to the district itself
        (("root", "P", "D1", "A1"), ("root", "Q", "S1"), "P"),  # out of the province: the one it leaves
    ],
)
def test_the_level_that_decides_a_move_is_the_nearest_above_both_units(source, target, decider):
    from services.approvals.domain.moves import move_decider

    assert move_decider(_line(*source), _line(*target)) == decider


def test_a_move_is_decided_once_by_the_deciding_level_s_supervisors():
    from moha_contracts import MoveApproved, MoveRequested, MoveReturned
    from services.approvals.domain.model import ReasonRequired
    from services.approvals.domain.moves import MoveReview

    request = MoveRequested(
        move_id="m1",
        record_id="r1",
        record_kind="official",
        from_unit_id="A1",
        to_unit_id="B1",
        process="transfer",
        requested_by="acc",
        requested_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    review = MoveReview.open(request, _line("root", "P", "D1", "A1"), _line("root", "P", "D2", "B1"))
    province = Principal("sp", "sp", "P", "province_supervisor")
    district = Principal("sd", "sd", "D1", "district_supervisor")
    assert (
        review.decider_unit_id == "P"
        and review.visible_to(district)
        and review.visible_to(Principal("u", "u", "A1", "reporting_unit"))
    )
    assert not review.visible_to(Principal("x", "x", "A2", "reporting_unit"))
    with pytest.raises(NotFound):
        review.approve(district)
    with pytest.raises(ReasonRequired):
        review.return_to_unit(province, " ")
    review.approve(province)
    (event,) = review.events
    assert isinstance(event, MoveApproved) and (event.decider_unit_id, event.to_unit_id) == ("P", "B1")
    with pytest.raises(Conflict):
        review.return_to_unit(province, "Không đủ điều kiện")
    other = MoveReview.open(request, _line("root", "P", "D1", "A1"), _line("root", "P", "D2", "B1"))
    other.return_to_unit(province, "Không đủ điều kiện")
    assert isinstance(other.events[0], MoveReturned) and other.reason == "Không đủ điều kiện"
