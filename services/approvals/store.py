"""Approvals' own database: review tasks (with their outbox), the campaigns it learnt from forms,
and the progress read model with the facts it is folded from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from chassis import readmodel
from chassis.errors import Conflict
from chassis.messaging import Retry
from chassis.store import AlreadyExists, StaleVersion, Store
from chassis.unit_of_work import Repository, UnitOfWork, run
from moha_contracts import CampaignOpened, Event

from .domain.model import OPEN, ReviewTask
from .domain.moves import MoveReview
from .domain.progress import Fact, UnitProgress, fold, progress_id

TASKS = "review_tasks"
ASSIGNMENTS = "assignments"
CAMPAIGNS = "campaigns"
FACTS = "progress_facts"
MOVES = "move_reviews"
META = "progress_meta"
_FIELDS = [f for f in ReviewTask.__dataclass_fields__ if f not in ("id", "version", "events")]


class Tasks(Repository[ReviewTask]):
    """Review tasks, one per submitted revision and level; queries track what they load."""

    collection = TASKS

    def to_document(self, aggregate: ReviewTask) -> dict[str, Any]:
        data = asdict(aggregate)
        return {k: data[k] for k in _FIELDS}

    def from_document(self, doc: dict[str, Any]) -> ReviewTask:
        fields: dict[str, Any] = {k: doc[k] for k in _FIELDS if k in doc}
        return ReviewTask(id=doc["_id"], version=doc["version"], **fields)

    async def _found(self, query: dict[str, Any], limit: int = 0) -> list[ReviewTask]:
        return [self.seen(self.from_document(d)) async for d in self.store[TASKS].find(query).limit(limit)]

    async def of_submission(self, submission_id: str) -> list[ReviewTask]:
        tasks = await self._found({"submission_id": submission_id})
        return sorted(tasks, key=lambda t: (t.revision, t.level))

    async def open_of_unit(self, unit_id: str) -> list[ReviewTask]:
        return await self._found({"unit_id": unit_id, "status": OPEN})

    async def of_reviewer(self, reviewer_unit_id: str, status: str | None = None) -> list[ReviewTask]:
        """Every task of a reviewing unit (in one state, or all), for a paged and filtered queue."""
        query: dict[str, Any] = {"reviewer_unit_id": reviewer_unit_id}
        if status:
            query["status"] = status
        return await self._found(query)

    async def queue(self, reviewer_unit_id: str, status: str = OPEN, limit: int = 200) -> list[ReviewTask]:
        return await self._found({"reviewer_unit_id": reviewer_unit_id, "status": status}, limit)


_MOVE_FIELDS = [f for f in MoveReview.__dataclass_fields__ if f not in ("id", "version", "events")]


class MoveReviews(Repository[MoveReview]):
    """Requests to move an official's record, each waiting for (or decided by) its deciding level."""

    collection = MOVES

    def to_document(self, aggregate: MoveReview) -> dict[str, Any]:
        data = asdict(aggregate)
        return {k: data[k] for k in _MOVE_FIELDS}

    def from_document(self, doc: dict[str, Any]) -> MoveReview:
        fields: dict[str, Any] = {k: doc.get(k) for k in _MOVE_FIELDS}
        return MoveReview(id=doc["_id"], version=doc["version"], **fields)

    async def of_decider(self, unit_id: str, status: str | None) -> list[MoveReview]:
        query: dict[str, Any] = {"decider_unit_id": unit_id}
        if status:
            query["status"] = status
        found = [self.seen(self.from_document(d)) async for d in self.store[MOVES].find(query)]
        return sorted(found, key=lambda r: r.requested_at)


class Assignments:
    """Which units each supervisor is assigned to (a read model of SupervisorAssigned)."""

    def __init__(self, store: Store) -> None:
        self.assignments = store[ASSIGNMENTS]

    async def of(self, supervisor_id: str) -> list[str]:
        doc = await self.assignments.find_one({"_id": supervisor_id})
        return doc["unit_ids"] if doc else []

    async def apply(self, supervisor_id: str, unit_ids: list[str], version: int) -> None:
        # Assignments may arrive out of order and at once: only a newer one replaces what is known,
        # decided by the store in one conditional write (chassis/readmodel.py).
        # Ordered by the `version` field the documents always had.
        await readmodel.apply(self.assignments, supervisor_id, "=version", version, {"unit_ids": unit_ids})


class ApprovalsUnitOfWork(UnitOfWork):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.tasks = Tasks(self)
        self.moves = MoveReviews(self)
        self.assignments = Assignments(store)


async def create_indexes(store: Store) -> None:
    await store[TASKS].create_index([("reviewer_unit_id", 1), ("status", 1)])
    await store[TASKS].create_index("submission_id")
    await store[MOVES].create_index([("decider_unit_id", 1), ("status", 1)])


class CampaignDirectory:
    """The campaigns forms opened, as approvals needs them: review levels and deadlines."""

    def __init__(self, store: Store) -> None:
        self.campaigns = store[CAMPAIGNS]
        # Kept once read (not a read per submitted form): a fact never changes, on any replica.
        self._known: dict[str, CampaignOpened] = {}

    async def add(self, event: CampaignOpened) -> None:
        # A fact: a campaign never changes once opened.
        await readmodel.insert_fact(self.campaigns, {"_id": event.campaign_id, **event.model_dump(mode="json")})

    async def get(self, campaign_id: str) -> CampaignOpened | None:
        if (known := self._known.get(campaign_id)) is not None:
            return known
        doc = await self.campaigns.find_one({"_id": campaign_id})
        if doc is None:
            return None
        doc.pop("_id")
        campaign = self._known[campaign_id] = CampaignOpened.model_validate(doc)
        return campaign

    async def require(self, campaign_id: str) -> CampaignOpened:
        campaign = await self.get(campaign_id)
        if campaign is None:
            raise Retry(f"campaign {campaign_id} not known yet")
        return campaign


class ProgressStore:
    """Each unit's progress in each campaign, one document per (campaign, unit), in the current
    generation's collection; and every fact it was folded from, kept so that a rebuild can fold
    them again into a fresh generation while the live one keeps answering."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.facts = store[FACTS]
        self.meta = store[META]

    async def generation(self) -> int:
        doc = await self.meta.find_one({"_id": "generation"})
        return doc["value"] if doc else 1

    @staticmethod
    def collection(generation: int) -> str:
        return f"progress_g{generation}"

    async def record(self, event_id: str, fact: Fact) -> None:
        """Keep the fact, then join it into the unit's progress. The fact first: a rebuild running
        meanwhile reads it again after switching generations, so nothing slips between."""
        try:
            await self.facts.insert_one({"_id": event_id, **asdict(fact)})
        except DuplicateKeyError:
            pass  # the same event again; joining it again changes nothing
        await self.merge(await self.generation(), fact)

    async def merge(self, generation: int, fact: Fact) -> bool:
        pid = progress_id(fact.campaign_id, fact.unit_id)

        async def join(uow: UnitOfWork) -> bool:
            entries = _ProgressEntries(uow, self.collection(generation))
            entry = await entries.get(pid) or entries.add(_Progress(pid, UnitProgress(fact.campaign_id, fact.unit_id)))
            if not entry.progress.merge(fact):
                return False
            try:
                await uow.commit()
            except AlreadyExists as exc:  # another event of the same unit created it: join into that
                raise StaleVersion(pid) from exc
            return True

        try:
            return await run(lambda: UnitOfWork(self.store), join)
        except StaleVersion as exc:
            raise Retry(f"progress {pid} is contended") from exc

    async def of_units(self, campaign_id: str, unit_ids: list[str]) -> dict[str, UnitProgress]:
        name = self.collection(await self.generation())
        ids = [progress_id(campaign_id, u) for u in unit_ids]
        found: dict[str, UnitProgress] = {}
        for start in range(0, len(ids), 1000):
            async for doc in self.store[name].find({"_id": {"$in": ids[start : start + 1000]}}):
                found[doc["unit_id"]] = _progress(doc)
        return found

    async def rebuild(self) -> dict[str, int]:
        """Fold every stored fact into a new generation, switch readers and writers to it, then
        join the facts once more to catch those recorded while it was being built."""
        old = await self.generation()
        new = old + 1
        await self._claim_rebuild(new)
        target = self.store[self.collection(new)]
        await target.drop()  # what a rebuild that died before switching left
        facts = [_fact(doc) async for doc in self.facts.find({})]
        states = fold(facts)
        docs = [{"_id": progress_id(*key), **asdict(p), "version": 1} for key, p in states.items()]
        for start in range(0, len(docs), 500):
            await target.insert_many(docs[start : start + 500], ordered=False)
        await self.meta.update_one({"_id": "generation"}, {"$set": {"value": new}}, upsert=True)
        caught_up = 0
        async for doc in self.facts.find({}):
            caught_up += await self.merge(new, _fact(doc))
        await self.store[self.collection(old - 1)].drop()  # keep one generation back, for a look
        return {"generation": new, "facts": len(facts), "units": len(docs), "caught_up": caught_up}

    async def _claim_rebuild(self, generation: int, stale_after: timedelta = timedelta(minutes=15)) -> None:
        """One rebuild at a time (an insert decides); one that died long ago no longer blocks."""
        claim = {"_id": f"rebuild:{generation}", "at": datetime.now(UTC)}
        try:
            await self.meta.insert_one(claim)
        except DuplicateKeyError as exc:
            held = await self.meta.find_one({"_id": claim["_id"]})
            if held is not None and held["at"] > datetime.now(UTC) - stale_after:
                raise Conflict("Số liệu tiến độ đang được dựng lại; hãy thử lại sau", code="rebuild_running") from exc
            await self.meta.delete_one({"_id": claim["_id"]})
            try:
                await self.meta.insert_one(claim)
            except DuplicateKeyError as again:
                raise Conflict("Số liệu tiến độ đang được dựng lại; hãy thử lại sau", code="rebuild_running") from again


@dataclass
class _Progress:
    """A unit's progress as the unit of work tracks it (it raises no events: a read model)."""

    id: str
    progress: UnitProgress
    version: int = 0
    events: list[Event] = field(default_factory=list)


class _ProgressEntries(Repository[_Progress]):
    def __init__(self, uow: UnitOfWork, collection: str) -> None:
        super().__init__(uow)
        self.collection = collection  # type: ignore[misc]  # one per generation

    def to_document(self, aggregate: _Progress) -> dict[str, Any]:
        return asdict(aggregate.progress)

    def from_document(self, doc: dict[str, Any]) -> _Progress:
        return _Progress(doc["_id"], _progress(doc), doc["version"])


def _progress(doc: dict[str, Any]) -> UnitProgress:
    fields: dict[str, Any] = {k: doc.get(k) for k in UnitProgress.__dataclass_fields__}
    return UnitProgress(**fields)


def _fact(doc: dict[str, Any]) -> Fact:
    fields: dict[str, Any] = {k: doc.get(k) for k in Fact.__dataclass_fields__}
    return Fact(**fields)


def deadline_of(campaign: CampaignOpened, tier: str) -> date:
    return campaign.district_deadline if tier == "district" else campaign.province_deadline
