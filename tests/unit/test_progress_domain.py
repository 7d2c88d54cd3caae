"""The progress read model's join: events seen twice or in any order give the true state."""

import random
from collections import Counter
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.workdays import effective_deadline, is_working_day, working_days_after
from services.approvals.domain.progress import (
    LATE,
    NOT_STARTED,
    ON_TIME,
    PENDING,
    STATES,
    UnitRow,
    fact_of,
    fold,
    summarize,
    timeliness,
)
from tests.support.lifecycles import lifecycle, scrambled


def progress_of(events):
    facts = [f for e in events if (f := fact_of(e)) is not None]
    return fold(facts)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), levels=st.sampled_from([1, 2, 3]))
def test_any_order_with_duplicates_ends_in_the_true_state(seed, levels):
    rng = random.Random(seed)
    events, truth = lifecycle(rng, "c1", "u1", levels)
    for _ in range(3):
        states = progress_of(scrambled(rng, events))
        assert (states[("c1", "u1")].state if states else NOT_STARTED) == truth


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_campaigns_counts_equal_the_true_counts(seed):
    rng = random.Random(seed)
    truth, everything = Counter(), []
    for i in range(40):
        events, state = lifecycle(rng, "c1", f"u{i}")
        truth[state] += 1
        everything += events
    states = progress_of(scrambled(rng, everything))
    counted = Counter(s.state for s in states.values())
    counted[NOT_STARTED] += 40 - len(states)
    assert +counted == +truth


def test_first_submission_is_kept_whatever_the_order():
    rng = random.Random(7)
    events, _ = lifecycle(rng, "c1", "u1")
    while not [e for e in events if e.__class__.__name__ == "FormSubmitted"]:
        events, _ = lifecycle(rng, "c1", "u1")
    first = min(e.submitted_at for e in events if e.__class__.__name__ == "FormSubmitted")
    assert progress_of(list(reversed(events)))[("c1", "u1")].first_submitted_at == first


def test_working_days_skip_weekends_and_vietnamese_holidays():
    assert not is_working_day(date(2026, 4, 30))  # Reunification Day
    assert not is_working_day(date(2026, 4, 27))  # Hùng Kings, observed on the Monday
    assert not is_working_day(date(2026, 2, 17))  # Tết
    assert is_working_day(date(2026, 4, 28))
    # A deadline on a Sunday ends with the next working day; on 30/4/2026 (Thu) it moves past
    # 1/5 (Fri) and the weekend to Monday 4/5.
    assert effective_deadline(date(2026, 4, 12)) == date(2026, 4, 13)
    assert effective_deadline(date(2026, 4, 30)) == date(2026, 5, 4)
    assert working_days_after(date(2026, 4, 24), date(2026, 5, 4)) == 3  # 28, 29/4 and 4/5
    assert working_days_after(date(2026, 4, 24), date(2026, 4, 24)) == 0


def test_timeliness_against_the_deadline():
    deadline = date(2026, 4, 20)  # a Monday
    sent = datetime(2026, 4, 20, 16, 59, tzinfo=UTC)  # 23:59 in Vietnam: still the 20th
    assert timeliness(deadline, sent, date(2026, 5, 1)).status == ON_TIME
    late = timeliness(deadline, datetime(2026, 4, 20, 17, 0, tzinfo=UTC), date(2026, 5, 1))
    assert (late.status, late.working_days_late) == (LATE, 1)
    assert timeliness(deadline, None, date(2026, 4, 20)).status == PENDING
    unsent = timeliness(deadline, None, date(2026, 4, 24))
    assert (unsent.status, unsent.working_days_late) == (LATE, 4)


def test_summary_counts_percentages_and_late_units():
    def row(i, state, status):
        return UnitRow(f"u{i}", f"{i:03d}", f"Xã {i}", state, 1, None, timeliness_of(status))

    def timeliness_of(status):
        return timeliness(
            date(2026, 4, 20),
            {ON_TIME: datetime(2026, 4, 1, tzinfo=UTC), LATE: datetime(2026, 4, 28, tzinfo=UTC), PENDING: None}[status],
            date(2026, 4, 10),
        )

    rows = [
        row(1, "confirmed", ON_TIME),
        row(2, "returned", LATE),
        row(3, NOT_STARTED, PENDING),
        row(4, "submitted", ON_TIME),
    ]
    summary = summarize(rows)
    assert summary["units"] == 4 and set(summary["counts"]) == set(STATES)
    assert summary["counts"]["confirmed"] == 1 and summary["percent"]["confirmed"] == 25.0
    assert summary["timeliness"] == {ON_TIME: 2, LATE: 1, PENDING: 1, "score": 50.0}
    assert [u["unit_id"] for u in summary["late_units"]] == ["u2"]
    # 21–24/4 and 28/4: 27/4/2026 is the Hùng Kings holiday, observed.
    assert summary["late_units"][0]["working_days_late"] == 5
