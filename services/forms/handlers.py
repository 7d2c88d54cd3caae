"""Events forms consumes: the tree (for scope, chassis/tree.py) and the reviewers' decisions on
submissions, adapters over `usecases.record_decision`."""

from __future__ import annotations

from chassis.runtime import Runtime
from moha_contracts import Envelope, FormApproved, FormRejected

from . import usecases
from .usecases import Forms


def subscribe(runtime: Runtime, forms: Forms) -> None:
    runtime.units.subscribe(runtime.consumers)

    @runtime.consumers.on(FormApproved)
    async def on_form_approved(envelope: Envelope, event: FormApproved) -> None:
        await forms.run(usecases.record_decision, event)

    @runtime.consumers.on(FormRejected)
    async def on_form_rejected(envelope: Envelope, event: FormRejected) -> None:
        await forms.run(usecases.record_decision, event)
