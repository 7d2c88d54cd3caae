"""Events forms consumes: the tree (for scope) and the reviewers' decisions on submissions."""

from __future__ import annotations

from chassis.messaging import Retry
from chassis.runtime import Runtime
from moha_contracts import Envelope, FormApproved, FormRejected

from .store import SubmissionStore


def subscribe(runtime: Runtime, submissions: SubmissionStore) -> None:
    runtime.units.subscribe(runtime.consumers)

    @runtime.consumers.on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        sub = await submissions.get(event.submission_id)
        if sub is None:
            raise Retry(f"submission {event.submission_id} not known yet")
        if sub.approve(event.revision, final=event.final, by=event.approved_by, at=event.approved_at):
            await submissions.save(sub)

    @runtime.consumers.on(FormRejected)
    async def on_form_rejected(envelope: Envelope, event: FormRejected) -> None:
        sub = await submissions.get(event.submission_id)
        if sub is None:
            raise Retry(f"submission {event.submission_id} not known yet")
        if sub.return_to_unit(event.revision, reason=event.reason, by=event.rejected_by, at=event.rejected_at):
            await submissions.save(sub)
