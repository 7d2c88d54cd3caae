from datetime import UTC, datetime

import pytest
from chassis.errors import Conflict, NotFound
from chassis.auth import Principal
from moha_contracts import FormApproved, FormRejected, ReviewTaskOpened
from services.approvals.domain.model import APPROVED, RETURNED, ReasonRequired, ReviewTask, task_id

NOW = datetime(2026, 4, 1, tzinfo=UTC)
LINEAGE = ["root", "province", "district", "unit-1"]
SUPERVISOR = Principal("sup", "gsv", "district", "district_supervisor")


def task() -> ReviewTask:
    return ReviewTask.open(submission_id="c1:unit-1", campaign_id="c1", unit_id="unit-1", unit_lineage=LINEAGE,
                           revision=1, submitted_at=NOW)


def test_open_is_deterministic_and_announced():
    t = task()
    assert t.id == task_id("c1:unit-1", 1, 1) == task().id
    assert isinstance(t.events[0], ReviewTaskOpened)


@pytest.mark.parametrize("who", [
    Principal("u", "dv", "unit-1", "reporting_unit"),                # the unit itself
    Principal("s2", "gsv2", "district-2", "district_supervisor"),    # a sibling district's supervisor
    Principal("a", "qt", "district", "district_admin"),              # an administrator, not a reviewer
    Principal("s3", "gsv3", "unit-1", "district_supervisor"),        # a supervisor account on the unit itself
])
def test_out_of_scope_reviewers_see_nothing(who):
    t = task()
    assert not t.reviewable_by(who)
    with pytest.raises(NotFound):
        t.approve(who, 1, NOW)


def test_province_supervisor_above_may_review():
    assert task().reviewable_by(Principal("p", "gsvt", "province", "province_supervisor"))


def test_approve_raises_form_approved():
    t = task()
    t.approve(SUPERVISOR, 1, NOW)
    assert t.status == APPROVED
    event = t.events[-1]
    assert isinstance(event, FormApproved) and event.final and event.approved_by == "sup"


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


def test_an_assigned_supervisor_reviews_only_its_units():
    t = task()
    assert t.reviewable_by(SUPERVISOR, assigned=["unit-1"])
    assert not t.reviewable_by(SUPERVISOR, assigned=["unit-2"])
    assert t.reviewable_by(SUPERVISOR, assigned=[])  # no assignment: the whole area
    with pytest.raises(NotFound):
        t.approve(SUPERVISOR, 1, NOW, assigned=["unit-2"])
