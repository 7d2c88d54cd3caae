"""The survey's storage: its aggregates' repositories and unit of work, and the data beside them
that no aggregate owns (token entries, drafts, fingerprints, flags).

Identities and answers never share a document or a key: an invitation keeps `sha256("invitation:"
+ token)`, a response is stored under `sha256("response:" + token)`; neither leads to the other
without the token, which is stored nowhere (only the respondent's e-mail carries it).

Nor does time or order lead from one to the other (docs/decisions/0013): each response's document
is made empty at dispatch, in random order, and the answers are written into it in place, with no
time and no commit (`Responses.add_slots`, `Responses.answer`); the fingerprints that carry an
answer's time are forgotten once the burst window has passed; flags about responses carry no time.
Surveys, lists and invitations, and a response's voiding, go through the unit of work's commit."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from chassis.logging import get_logger
from chassis.store import Store
from chassis.unit_of_work import Repository, UnitOfWork

from .domain import UNANSWERED, Invitation, RespondentList, Response, Survey

SURVEYS = "surveys"
LISTS = "respondent_lists"
INVITATIONS = "survey_invitations"
TOKENS = "survey_tokens"
DRAFTS = "survey_drafts"
RESPONSES = "survey_responses"
FINGERPRINTS = "survey_fingerprints"
FLAGS = "survey_flags"
log = get_logger("forms.surveys")


async def create_indexes(store: Store) -> None:
    await store[INVITATIONS].create_index([("survey_id", 1), ("owner_unit_id", 1)])
    await store[FINGERPRINTS].create_index([("survey_id", 1), ("source", 1), ("at", 1)])


# The aggregates ----------------------------------------------------------------------------------
class Surveys(Repository[Survey]):
    collection = SURVEYS

    def to_document(self, s: Survey) -> dict[str, Any]:
        # As the API takes it (dates as ISO text), as surveys were always stored.
        return {
            "survey_id": s.id,
            "title": s.title,
            "list_deadline": s.list_deadline.isoformat(),
            "answer_deadline": s.answer_deadline.isoformat(),
            "owner_unit_ids": list(s.owner_unit_ids),
            "owners": dict(s.owners),
            "questionnaires": dict(s.questionnaires),
        }

    def from_document(self, doc: dict[str, Any]) -> Survey:
        return Survey(
            id=doc["_id"],
            title=doc["title"],
            list_deadline=date.fromisoformat(doc["list_deadline"]),
            answer_deadline=date.fromisoformat(doc["answer_deadline"]),
            owner_unit_ids=list(doc["owner_unit_ids"]),
            owners=dict(doc["owners"]),
            questionnaires=dict(doc["questionnaires"]),
            version=doc.get("version", 1),  # surveys opened before the unit of work had none
        )

    async def all(self) -> list[Survey]:
        """Every survey (a few a year), for reading."""
        return [self.from_document(d) async for d in self.store[SURVEYS].find({})]


_LIST_FIELDS = ("survey_id", "owner_unit_id", "kind", "status", "respondents", "history")


class Lists(Repository[RespondentList]):
    collection = LISTS

    def to_document(self, lst: RespondentList) -> dict[str, Any]:
        return {
            "survey_id": lst.survey_id,
            "owner_unit_id": lst.owner_unit_id,
            "kind": lst.kind,
            "status": lst.status,
            "respondents": [dict(p) for p in lst.respondents],
            "history": [dict(h) for h in lst.history],
        }

    def from_document(self, doc: dict[str, Any]) -> RespondentList:
        return RespondentList(id=doc["_id"], version=doc["version"], **{k: doc[k] for k in _LIST_FIELDS})

    async def of(self, survey: Survey, owner: str) -> RespondentList:
        """The owner's list, or a new one (stored at its first import)."""
        return await self.get(f"{survey.id}:{owner}") or self.add(survey.new_list(owner))

    async def submitted(self, survey_id: str) -> list[RespondentList]:
        cursor = self.store[LISTS].find({"survey_id": survey_id, "status": "submitted"})
        return [self.from_document(d) async for d in cursor]


class Invitations(Repository[Invitation]):
    collection = INVITATIONS

    def to_document(self, inv: Invitation) -> dict[str, Any]:
        return {
            "survey_id": inv.survey_id,
            "owner_unit_id": inv.owner_unit_id,
            "group": inv.group,
            "status": inv.status,
            "issued_at": inv.issued_at,
            "opened_at": inv.opened_at,
        }

    def from_document(self, doc: dict[str, Any]) -> Invitation:
        return Invitation(
            id=doc["_id"],
            survey_id=doc["survey_id"],
            owner_unit_id=doc["owner_unit_id"],
            group=doc["group"],
            status=doc["status"],
            issued_at=doc.get("issued_at"),
            opened_at=doc.get("opened_at"),
            version=doc["version"],
        )

    async def exists(self, invitation_id: str) -> bool:
        return await self.store[INVITATIONS].find_one({"_id": invitation_id}, {"_id": 1}) is not None

    async def by_token(self, token_hash: str) -> Invitation | None:
        entry = await self.store[TOKENS].find_one({"_id": token_hash})
        return None if entry is None else await self.get(entry["invitation_id"])

    async def add_token(self, token_hash: str, invitation_id: str) -> None:
        """The token's entry, before its invitation is committed: a crash in between leaves a token
        leading nowhere; the next dispatch makes a new one."""
        await self.store[TOKENS].insert_one({"_id": token_hash, "invitation_id": invitation_id})

    async def drop_token(self, token_hash: str) -> None:
        await self.store[TOKENS].delete_one({"_id": token_hash})

    async def of_survey(self, survey_id: str, owner_unit_id: str | None = None) -> list[Invitation]:
        """For counting progress: read, not tracked."""
        query: dict[str, Any] = {"survey_id": survey_id}
        if owner_unit_id:
            query["owner_unit_id"] = owner_unit_id
        return [self.from_document(d) async for d in self.store[INVITATIONS].find(query)]


class Responses(Repository[Response]):
    """Responses are written outside the commit log (no time, no order: 0013) but for a void, the
    Ministry's act, which is a versioned change with its event like any other."""

    collection = RESPONSES

    def to_document(self, r: Response) -> dict[str, Any]:
        return {
            "survey_id": r.survey_id,
            "owner_unit_id": r.owner_unit_id,
            "group": r.group,
            "form_code": r.form_code,
            "form_version": r.form_version,
            "status": r.status,
            # Answer keys such as "A2.2.2" may not be document keys on FerretDB: stored as pairs.
            "answers": [{"field": k, "value": v} for k, v in r.answers.items()],
            "void_reason": r.void_reason,
        }

    def from_document(self, doc: dict[str, Any]) -> Response:
        return Response(
            id=doc["_id"],
            survey_id=doc["survey_id"],
            owner_unit_id=doc["owner_unit_id"],
            group=doc["group"],
            form_code=doc.get("form_code", ""),
            form_version=doc.get("form_version", 0),
            status=doc["status"],
            answers={a["field"]: a["value"] for a in doc.get("answers", [])},
            void_reason=doc.get("void_reason"),
            version=doc["version"],
        )

    async def get(self, aggregate_id: Any) -> Response | None:
        """An answered response; an empty document made at dispatch is not one yet."""
        found = await super().get(aggregate_id)
        return None if found is None or found.status == UNANSWERED else found

    async def add_slots(self, slots: list[Response]) -> None:
        """The responses' documents, empty, made at dispatch in the order given (a random one): where
        an answer sits among the others then says nothing of when it came. Plain inserts, no commit:
        the commit log would keep their order and time."""
        for start in range(0, len(slots), 1000):
            batch = [{"_id": r.id, **self.to_document(r), "version": 1} for r in slots[start : start + 1000]]
            try:
                await self.store[RESPONSES].insert_many(batch, ordered=False)
            except BulkWriteError as exc:  # a document made already is the same one: fine
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    async def answer(self, response: Response) -> bool:
        """Write the answers into the response's document, in place and only once: False if the
        token already answered (the response id is the token's). No time is written, and no commit:
        nothing here can be set beside the invitation's change of the same moment."""
        fields = self.to_document(response)
        done = await self.store[RESPONSES].update_one({"_id": response.id, "status": UNANSWERED}, {"$set": fields})
        if done.matched_count:
            return True
        if await self.store[RESPONSES].find_one({"_id": response.id}, {"_id": 1}) is not None:
            return False
        # Invited before responses were made at dispatch: kept as then, still without a commit.
        try:
            await self.store[RESPONSES].insert_one({"_id": response.id, **fields, "version": 1})
        except DuplicateKeyError:
            return False
        return True

    async def of_survey(self, survey_id: str) -> list[Response]:
        """The answered responses, by id: an order that says nothing of who answered when. Read, not
        tracked."""
        found = [d async for d in self.store[RESPONSES].find({"survey_id": survey_id, "status": {"$ne": UNANSWERED}})]
        return [self.from_document(d) for d in sorted(found, key=lambda d: d["_id"])]

    async def statuses(self, ids: set[str]) -> dict[str, str]:
        cursor = self.store[RESPONSES].find({"_id": {"$in": sorted(ids)}}, {"status": 1})
        return {d["_id"]: d["status"] async for d in cursor if d["status"] != UNANSWERED}


# What no aggregate owns -------------------------------------------------------------------------
class Drafts:
    """A respondent's answers so far, under `sha256("draft:" + token)`, with no time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> dict[str, Any]:
        doc = await self.store[DRAFTS].find_one({"_id": key})
        return {a["field"]: a["value"] for a in doc["answers"]} if doc else {}

    async def save(self, key: str, answers: dict[str, Any]) -> None:
        pairs = [{"field": k, "value": v} for k, v in answers.items()]
        await self.store[DRAFTS].update_one({"_id": key}, {"$set": {"answers": pairs}}, upsert=True)

    async def drop(self, key: str) -> None:
        await self.store[DRAFTS].delete_one({"_id": key})


class Evidence:
    """Tamper evidence: the fingerprints bursts are counted from, and the flags raised."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_fingerprint(self, survey_id: str, response_id: str, source: str, at: datetime) -> None:
        try:
            await self.store[FINGERPRINTS].insert_one(
                {
                    "_id": f"{response_id}:{source}",
                    "survey_id": survey_id,
                    "response_id": response_id,
                    "source": source,
                    "at": at,
                }
            )
        except DuplicateKeyError:
            pass

    async def recent_from(self, survey_id: str, source: str, since: datetime) -> list[str]:
        cursor = self.store[FINGERPRINTS].find({"survey_id": survey_id, "source": source, "at": {"$gte": since}})
        return sorted([d["response_id"] async for d in cursor])

    async def forget_fingerprints(self, before: datetime) -> int:
        """Drop the fingerprints older than the burst window: past it they count for nothing, and
        their time, beside a response id, would date that answer."""
        done = await self.store[FINGERPRINTS].delete_many({"at": {"$lt": before}})
        return done.deleted_count

    async def flag(self, flag_id: str, doc: dict[str, Any], *, at: datetime | None = None) -> None:
        """One flag per id: the same pattern seen again updates what it lists. A flag about
        responses has no time (`at` None): a time beside a response id would date the answer."""
        stamp = {"at": at} if at is not None else {}
        await self.store[FLAGS].update_one({"_id": flag_id}, {"$set": {**doc, **stamp}}, upsert=True)

    async def flagged(self, flag_id: str) -> dict[str, Any] | None:
        return await self.store[FLAGS].find_one({"_id": flag_id})

    async def flags(self, survey_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.store[FLAGS].find({"survey_id": survey_id})]


async def keep_forgetting_fingerprints(store: Store, window: timedelta, now: Any) -> None:
    """The background job: also after a survey's last answer, whose fingerprints no later answer
    would sweep away. `now`: the clock."""
    evidence = Evidence(store)
    while True:
        try:
            await evidence.forget_fingerprints(now() - window)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store away: the next round does it
            log.warning("survey fingerprints not forgotten", error=str(exc))
        await asyncio.sleep(max(window.total_seconds() / 4, 1.0))


class SurveyUnitOfWork(UnitOfWork):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.surveys = Surveys(self)
        self.lists = Lists(self)
        self.invitations = Invitations(self)
        self.responses = Responses(self)
        self.drafts = Drafts(store)
        self.evidence = Evidence(store)
