"""Approvals' use cases over the in-memory store (no broker, no MongoDB): the review chain level by
level, who may act on which task, what a lost version race does, tasks following a moved unit, and
decisions on moving a record."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from chassis.auth import Principal
from chassis.errors import Conflict, NotFound
from chassis.messaging import Malformed, Retry
from chassis.store import StaleVersion
from chassis.tree import UnitDirectory
from moha_contracts import CampaignOpened, FormApproved, FormSubmitted, MoveRequested
from services.approvals import usecases
from services.approvals.domain.model import ReasonRequired, task_id
from services.approvals.domain.progress import fact_of
from services.approvals.store import ApprovalsUnitOfWork, CampaignDirectory, ProgressStore
from services.approvals.usecases import Approvals, Decide
from tests.support.memory_store import MemoryStore

AT = datetime(2026, 4, 1, 8, tzinfo=UTC)
# A province, two districts, a commune under the first and another under the second.
UNITS = [
    {"_id": "p", "code": "01", "name": "Tỉnh", "level": "province", "path": []},
    {"_id": "d1", "code": "0101", "name": "Huyện 1", "level": "district", "path": ["p"]},
    {"_id": "d2", "code": "0102", "name": "Huyện 2", "level": "district", "path": ["p"]},
    {"_id": "c", "code": "010101", "name": "Xã", "level": "commune", "path": ["p", "d1"]},
    {"_id": "c2", "code": "010201", "name": "Xã 2", "level": "commune", "path": ["p", "d2"]},
]


def who(account_id: str, unit_id: str, role: str) -> Principal:
    return Principal(account_id=account_id, username=account_id, unit_id=unit_id, role=role)


DISTRICT = who("sup-d1", "d1", "district_supervisor")
OTHER_DISTRICT = who("sup-d2", "d2", "district_supervisor")
PROVINCE = who("sup-p", "p", "province_supervisor")
UNIT = who("unit-c", "c", "reporting_unit")


@pytest.fixture
async def svc() -> Approvals:
    store = MemoryStore()
    for unit in UNITS:
        await store["units"].insert_one(dict(unit))
    approvals = Approvals(store, UnitDirectory(store), CampaignDirectory(store), ProgressStore(store))
    await approvals.campaigns.add(
        CampaignOpened(
            campaign_id="k",
            form_code="F1",
            title="Đợt 1",
            scope_unit_ids=["p"],
            opens_on=date(2026, 4, 1),
            closes_on=date(2026, 4, 30),
            province_deadline=date(2026, 4, 20),
            district_deadline=date(2026, 4, 15),
        )
    )
    return approvals


def submitted(unit_id: str = "c", revision: int = 1, submission_id: str = "s1") -> FormSubmitted:
    return FormSubmitted(
        submission_id=submission_id,
        campaign_id="k",
        unit_id=unit_id,
        form_code="F1",
        revision=revision,
        submitted_by="unit-c",
        submitted_at=AT,
        answers={},
    )


async def opened(svc: Approvals, event: FormSubmitted | None = None) -> str:
    task = await svc.run(usecases.open_review, event or submitted(), units=svc.units, campaigns=svc.campaigns)
    assert task is not None
    return task.id


async def routing_keys(svc: Approvals) -> list[str]:
    return [e["routing_key"] for e in await svc.store.events()]  # type: ignore[attr-defined]


async def test_a_submitted_form_opens_one_task_at_the_nearest_level_however_often_it_comes(svc):
    tid = await opened(svc)
    assert await svc.run(usecases.open_review, submitted(), units=svc.units, campaigns=svc.campaigns) is None
    task = await svc.uow().tasks.get(tid)
    assert (task.reviewer_unit_id, task.chain, task.final) == ("d1", ["d1", "p"], False)
    assert await routing_keys(svc) == ["approvals.review_task.opened.v1"]


async def test_the_chain_goes_up_level_by_level_to_the_confirmation(svc):
    tid = await opened(svc)
    first = await svc.run(usecases.approve, Decide(tid, DISTRICT, 1, ip="10.0.0.1"))
    assert (first.status, first.decided_from) == ("approved", "10.0.0.1")
    approved = FormApproved(
        task_id=tid,
        submission_id="s1",
        unit_id="c",
        revision=1,
        level=1,
        final=False,
        approved_by=DISTRICT.account_id,
        approved_at=first.decided_at,
        campaign_id="k",
    )
    upper = await svc.run(usecases.open_next_level, approved)
    assert upper is not None and (upper.reviewer_unit_id, upper.final) == ("p", True)
    assert await svc.run(usecases.open_next_level, approved) is None  # the same event again
    last = await svc.run(usecases.approve, Decide(upper.id, PROVINCE, 1))
    assert last.approvals[0]["by"] == DISTRICT.account_id
    keys = await routing_keys(svc)
    assert keys.count("approvals.review_task.opened.v1") == 2 and keys[-1] == "approvals.submission.finalized.v1"
    audit = [c["audit"]["action"] async for c in svc.store.commits.find({"audit": {"$ne": None}})]
    assert audit == ["form_approved", "form_approved"]


async def test_an_approval_that_is_not_one_of_ours_is_refused_for_good(svc):
    tid = await opened(svc)  # open, not approved
    event = FormApproved(
        task_id=tid,
        submission_id="s1",
        unit_id="c",
        revision=1,
        level=1,
        final=False,
        approved_by="x",
        approved_at=AT,
        campaign_id="k",
    )
    with pytest.raises(Malformed):
        await svc.run(usecases.open_next_level, event)


@pytest.mark.parametrize(
    "principal",
    [OTHER_DISTRICT, PROVINCE, UNIT, who("admin-d1", "d1", "district_admin")],
    ids=["another-district", "level-above", "the-unit", "an-admin"],
)
async def test_only_the_supervisors_of_the_level_act_on_a_task(svc, principal):
    tid = await opened(svc)
    for use_case in (usecases.approve, usecases.return_to_unit):
        with pytest.raises(NotFound):
            await svc.run(use_case, Decide(tid, principal, 1, "sai"))
    with pytest.raises(NotFound):
        await svc.run(usecases.claim, tid, principal)
    assert await usecases.reviewable_tasks(svc.uow(), principal, "open") == []
    assert (await svc.uow().tasks.get(tid)).status == "open"


async def test_an_assignment_narrows_a_supervisor_to_its_units(svc):
    tid = await opened(svc)
    await svc.uow().assignments.apply(DISTRICT.account_id, ["c-elsewhere"], 1)
    assert await usecases.reviewable_tasks(svc.uow(), DISTRICT, "open") == []
    with pytest.raises(NotFound):
        await svc.run(usecases.approve, Decide(tid, DISTRICT, 1))
    await svc.uow().assignments.apply(DISTRICT.account_id, ["c"], 2)
    assert [t.id for t in await usecases.reviewable_tasks(svc.uow(), DISTRICT, "open")] == [tid]


async def test_who_reads_a_task_and_its_trail(svc):
    tid = await opened(svc)
    assert (await usecases.visible_task(svc.uow(), tid, PROVINCE)).id == tid
    assert [t.id for t in await usecases.review_trail(svc.uow(), "s1", DISTRICT)] == [tid]
    for outsider in (UNIT, OTHER_DISTRICT):
        with pytest.raises(NotFound):
            await usecases.visible_task(svc.uow(), tid, outsider)
        with pytest.raises(NotFound):
            await usecases.review_trail(svc.uow(), "s1", outsider)


async def test_a_return_needs_a_reason_and_the_revision_read(svc):
    tid = await opened(svc)
    with pytest.raises(ReasonRequired):
        await svc.run(usecases.return_to_unit, Decide(tid, DISTRICT, 1, "  "))
    with pytest.raises(Conflict) as stale:
        await svc.run(usecases.return_to_unit, Decide(tid, DISTRICT, 2, "thiếu số liệu"))
    assert stale.value.code == "stale_revision"
    task = await svc.run(usecases.return_to_unit, Decide(tid, DISTRICT, 1, " thiếu số liệu "))
    assert (task.status, task.reason) == ("returned", "thiếu số liệu")
    with pytest.raises(Conflict) as decided:
        await svc.run(usecases.approve, Decide(tid, DISTRICT, 1))
    assert decided.value.code == "already_decided"


def interrupted(svc: Approvals, other: usecases.Callable) -> usecases.Callable[[], ApprovalsUnitOfWork]:
    """Units of work whose first commit finds that `other` wrote meanwhile (between its reads and
    its write): a lost version race, made to happen."""
    raced: list[int] = []

    class Interrupted(ApprovalsUnitOfWork):
        async def commit(self, audit=None) -> None:
            if not raced:
                raced.append(1)
                await other(ApprovalsUnitOfWork(svc.store))
            await super().commit(audit)

    return lambda: Interrupted(svc.store)


async def test_a_decision_that_lost_a_race_to_a_claim_is_taken_again_on_the_newer_task(svc):
    tid = await opened(svc)
    colleague = who("sup-d1b", "d1", "district_supervisor")
    make = interrupted(svc, lambda uow: usecases.claim(uow, tid, colleague))
    task = await usecases.run(make, lambda uow: usecases.approve(uow, Decide(tid, DISTRICT, 1)), pause=0)
    assert (task.status, task.claimed_by, task.version) == ("approved", colleague.account_id, 3)


async def test_a_decision_that_lost_a_race_to_another_decision_is_a_conflict(svc):
    tid = await opened(svc)
    colleague = who("sup-d1b", "d1", "district_supervisor")
    make = interrupted(svc, lambda uow: usecases.approve(uow, Decide(tid, colleague, 1)))
    with pytest.raises(Conflict) as lost:
        await usecases.run(make, lambda uow: usecases.return_to_unit(uow, Decide(tid, DISTRICT, 1, "sai")), pause=0)
    assert lost.value.code == "already_decided"
    assert (await svc.uow().tasks.get(tid)).decided_by == colleague.account_id


async def test_a_version_race_lost_every_time_ends_as_a_stale_version(svc):
    tid = await opened(svc)

    class AlwaysBehind(ApprovalsUnitOfWork):
        async def commit(self, audit=None) -> None:
            other = ApprovalsUnitOfWork(self.store)
            task = await other.tasks.get(tid)
            task.claimed_by = None if task.claimed_by else "someone"  # a change, every time
            await other.commit()
            await super().commit(audit)

    with pytest.raises(StaleVersion):
        await usecases.run(
            lambda: AlwaysBehind(svc.store),
            lambda uow: usecases.approve(uow, Decide(tid, DISTRICT, 1)),
            tries=3,
            pause=0,
        )
    assert (await svc.uow().tasks.get(tid)).status == "open"


async def test_open_tasks_follow_a_moved_unit_to_its_new_reviewers_and_decided_ones_stay(svc):
    decided = await opened(svc, submitted(submission_id="s0"))
    await svc.run(usecases.approve, Decide(decided, DISTRICT, 1))
    tid = await opened(svc)
    await svc.run(usecases.claim, tid, DISTRICT)
    await svc.store["units"].update_one({"_id": "c"}, {"$set": {"path": ["p", "d2"]}})
    assert await svc.run(usecases.follow_unit_move, "c", units=svc.units) == 1
    task = await svc.uow().tasks.get(tid)
    assert (task.reviewer_unit_id, task.unit_lineage, task.claimed_by) == ("d2", ["p", "d2", "c"], None)
    assert (await svc.uow().tasks.get(decided)).reviewer_unit_id == "d1"
    assert await svc.run(usecases.follow_unit_move, "c", units=svc.units) == 0  # the same move again
    with pytest.raises(NotFound):
        await svc.run(usecases.approve, Decide(tid, DISTRICT, 1))
    assert (await svc.run(usecases.approve, Decide(tid, OTHER_DISTRICT, 1))).status == "approved"


async def test_a_move_of_a_record_is_decided_by_the_level_above_both_units(svc):
    request = MoveRequested(
        move_id="m1",
        record_id="r1",
        record_kind="official",
        process="transfer",
        from_unit_id="c",
        to_unit_id="c2",
        requested_by="unit-c",
        requested_at=AT,
    )
    review = await svc.run(usecases.open_move_review, request, units=svc.units)
    assert review is not None and review.decider_unit_id == "p"
    assert await svc.run(usecases.open_move_review, request, units=svc.units) is None
    for outsider in (DISTRICT, UNIT):
        with pytest.raises(NotFound):
            await svc.run(usecases.approve_move, review.id, outsider)
    assert await usecases.moves_to_decide(svc.uow(), DISTRICT, "open") == []
    assert [r.id for r in await usecases.moves_to_decide(svc.uow(), PROVINCE, "open")] == [review.id]
    assert (await usecases.visible_move(svc.uow(), review.id, UNIT)).id == review.id  # the sending unit reads it
    done = await svc.run(usecases.approve_move, review.id, PROVINCE)
    assert done.status == "approved"
    assert (await routing_keys(svc))[-1] == "approvals.move.approved.v1"


async def test_progress_joins_each_fact_once(svc):
    fact = fact_of(submitted())
    await svc.progress.record("e1", fact)
    await svc.progress.record("e1", fact)  # the same event again
    got = await svc.progress.of_units("k", ["c"])
    assert got["c"].revision == 1 and got["c"].first_submitted_at is not None
    assert task_id("s1", 1, 1) == "s1:r1:l1"


async def test_ancestors_are_read_in_one_query_then_kept_and_an_unknown_one_is_retried(svc, monkeypatch):
    queries: list[dict] = []
    find = svc.units.units.find

    def counted(query, *args, **kwargs):
        queries.append(query)
        return find(query, *args, **kwargs)

    monkeypatch.setattr(svc.units.units, "find", counted)
    assert await usecases.ancestors(svc.units, ["p", "d1"]) == [("p", "province"), ("d1", "district")]
    assert queries == [{"_id": {"$in": ["p", "d1"]}}]
    # A level never changes: what was read once is not read again, only what is new.
    assert await usecases.ancestors(svc.units, ["p", "d2"]) == [("p", "province"), ("d2", "district")]
    assert queries[1:] == [{"_id": {"$in": ["d2"]}}]
    with pytest.raises(Retry, match="unit d9 not known yet"):
        await usecases.ancestors(svc.units, ["p", "d9"])
    # Known once registered: the same event handled again opens the task.
    await svc.store["units"].insert_one({"_id": "d9", "code": "0109", "name": "H9", "level": "district", "path": ["p"]})
    assert await usecases.ancestors(svc.units, ["p", "d9"]) == [("p", "province"), ("d9", "district")]


async def test_copies_of_one_submitted_form_handled_at_once_open_one_task(svc, monkeypatch):
    # No inbox serialises them now (the handler is keyed): the version-1 commit of the task decides.
    found, find = [], svc.store.find

    async def then_yield(collection, _id):
        doc = await find(collection, _id)
        found.append(doc)
        await asyncio.sleep(0)  # every copy reads before any writes, as on replicas
        return doc

    monkeypatch.setattr(svc.store, "find", then_yield)
    handled = await asyncio.gather(
        *(svc.run(usecases.open_review, submitted(), units=svc.units, campaigns=svc.campaigns) for _ in range(4))
    )
    assert found[:4] == [None] * 4  # all four found no task and tried to open it
    assert sum(task is not None for task in handled) == 1
    assert await routing_keys(svc) == ["approvals.review_task.opened.v1"]
