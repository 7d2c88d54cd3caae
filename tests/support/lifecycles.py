"""Random but true histories of units' forms in a campaign, as the events the platform raises,
with the state each unit truly ends in: the ground truth for the progress read model."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from moha_contracts import DraftStarted, Event, FormApproved, FormRejected, FormSubmitted, ReviewTaskClaimed

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def lifecycle(rng: random.Random, campaign_id: str, unit_id: str, levels: int = 2) -> tuple[list[Event], str]:
    """One unit's events in the order they happened, and the state it ends in."""
    sid = f"{campaign_id}:{unit_id}"
    clock = START + timedelta(minutes=rng.randrange(0, 60 * 24 * 50))
    events: list[Event] = []

    def tick() -> datetime:
        nonlocal clock
        clock += timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
        return clock

    if rng.random() < 0.1:
        return events, "not_started"
    if rng.random() < 0.6:
        events.append(
            DraftStarted(
                submission_id=sid,
                campaign_id=campaign_id,
                form_code="1/HC-TB",
                unit_id=unit_id,
                started_by="dv",
                started_at=tick(),
            )
        )
        if rng.random() < 0.15:
            return events, "draft"
    revision = 0
    while True:
        revision += 1
        events.append(
            FormSubmitted(
                submission_id=sid,
                campaign_id=campaign_id,
                form_code="1/HC-TB",
                unit_id=unit_id,
                revision=revision,
                submitted_by="dv",
                submitted_at=tick(),
                answers={},
                form_version=1,
            )
        )
        state = "submitted"
        for level in range(1, levels + 1):
            task = f"{sid}:r{revision}:l{level}"
            if rng.random() < 0.5:
                events.append(
                    ReviewTaskClaimed(
                        task_id=task,
                        submission_id=sid,
                        campaign_id=campaign_id,
                        unit_id=unit_id,
                        revision=revision,
                        level=level,
                        claimed_by="gsv",
                        claimed_at=tick(),
                    )
                )
                if level == 1:
                    state = "under_review"
            if rng.random() < 0.12:
                return events, state  # still waiting for this level's decision
            if rng.random() < 0.25:
                events.append(
                    FormRejected(
                        task_id=task,
                        submission_id=sid,
                        unit_id=unit_id,
                        revision=revision,
                        level=level,
                        reason="Cần sửa",
                        rejected_by="gsv",
                        rejected_at=tick(),
                        campaign_id=campaign_id,
                    )
                )
                state = "returned"
                break
            final = level == levels
            events.append(
                FormApproved(
                    task_id=task,
                    submission_id=sid,
                    unit_id=unit_id,
                    revision=revision,
                    level=level,
                    final=final,
                    approved_by="gsv",
                    approved_at=tick(),
                    campaign_id=campaign_id,
                )
            )
            state = "confirmed" if final else "approved_level"
        if state != "returned" or rng.random() < 0.3:
            return events, state


def scrambled(rng: random.Random, events: list[Event], duplicates: float = 0.3) -> list[Event]:
    """The same events, some twice, in any order: what a broker with retries may deliver."""
    out = list(events) + [e for e in events if rng.random() < duplicates]
    rng.shuffle(out)
    return out
