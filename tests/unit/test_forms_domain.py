from datetime import UTC, datetime

import pytest

from chassis.auth import Principal
from chassis.errors import Conflict, Forbidden
from moha_contracts import FormSubmitted
from services.forms.domain.model import APPROVED, RETURNED, SUBMITTED, Submission

UNIT = Principal("acc-1", "dv", "unit-1", "reporting_unit")
NOW = datetime(2026, 4, 1, tzinfo=UTC)


def submitted() -> Submission:
    sub = Submission.start("c1", "1/HC-TB", "unit-1")
    sub.submit(UNIT, {"A1": 1}, NOW)
    return sub


def test_submit_raises_form_submitted_with_revision():
    sub = submitted()
    assert (sub.status, sub.revision) == (SUBMITTED, 1)
    [event] = sub.events
    assert isinstance(event, FormSubmitted)
    assert (event.revision, event.unit_id, event.answers) == (1, "unit-1", {"A1": 1})


@pytest.mark.parametrize(
    "who",
    [
        Principal("acc-2", "other", "unit-2", "reporting_unit"),
        Principal("acc-3", "sup", "unit-1", "district_supervisor"),
        Principal("acc-4", "adm", "unit-1", "district_admin"),
    ],
)
def test_only_the_unit_itself_submits(who):
    with pytest.raises(Forbidden):
        Submission.start("c1", "1/HC-TB", "unit-1").submit(who, {}, NOW)


def test_no_second_submit_while_waiting_or_after_approval():
    sub = submitted()
    with pytest.raises(Conflict):
        sub.submit(UNIT, {}, NOW)
    assert sub.approve(1, final=True, by="sup", at=NOW)
    assert sub.status == APPROVED
    with pytest.raises(Conflict):
        sub.submit(UNIT, {}, NOW)


def test_return_then_resubmit_keeps_history():
    sub = submitted()
    assert sub.return_to_unit(1, reason="thiếu A2.4", by="sup", at=NOW)
    assert (sub.status, sub.return_reason) == (RETURNED, "thiếu A2.4")
    sub.submit(UNIT, {"A1": 2}, NOW)
    assert (sub.status, sub.revision, sub.return_reason) == (SUBMITTED, 2, None)
    assert [h["action"] for h in sub.history] == ["submitted", "returned", "submitted"]


def test_decisions_about_another_revision_change_nothing():
    sub = submitted()
    sub.return_to_unit(1, reason="x", by="sup", at=NOW)
    sub.submit(UNIT, {}, NOW)
    assert not sub.approve(1, final=True, by="sup", at=NOW)  # late decision on revision 1
    assert not sub.return_to_unit(1, reason="y", by="sup", at=NOW)
    assert sub.status == SUBMITTED and sub.revision == 2
    assert sub.approve(2, final=True, by="sup", at=NOW)
    assert not sub.approve(2, final=True, by="sup", at=NOW)  # repeated: no second history entry
    assert [h["action"] for h in sub.history].count("approved") == 1
