"""Events forms consumes: the tree (for scope) and the reviewers' decisions on submissions."""

from __future__ import annotations

from chassis.messaging import Malformed, Retry
from chassis.runtime import Runtime
from moha_contracts import Envelope, FormApproved, FormRejected

from .domain.model import InconsistentDecision, Submission
from .store import SubmissionStore


async def _decided(submissions: SubmissionStore, event: FormApproved | FormRejected) -> Submission:
    sub = await submissions.get(event.submission_id)
    if sub is None:
        raise Retry(f"submission {event.submission_id} not known yet")
    if sub.unit_id != event.unit_id:
        raise Malformed(f"submission {sub.id} belongs to unit {sub.unit_id}, not {event.unit_id}")
    return sub


def subscribe(runtime: Runtime, submissions: SubmissionStore) -> None:
    runtime.units.subscribe(runtime.consumers)

    @runtime.consumers.on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        sub = await _decided(submissions, event)
        try:
            changed = sub.approve(event.revision, final=event.final, by=event.approved_by, at=event.approved_at)
        except InconsistentDecision as exc:
            raise Malformed(str(exc)) from exc
        if changed:
            await submissions.save(sub)

    @runtime.consumers.on(FormRejected)
    async def on_form_rejected(envelope: Envelope, event: FormRejected) -> None:
        sub = await _decided(submissions, event)
        try:
            changed = sub.return_to_unit(
                event.revision, reason=event.reason, by=event.rejected_by, at=event.rejected_at
            )
        except InconsistentDecision as exc:
            raise Malformed(str(exc)) from exc
        if changed:
            await submissions.save(sub)
