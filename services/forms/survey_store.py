"""Forms' survey data: surveys, respondent lists, invitations and their tokens, drafts, responses
(apart from identities), the fingerprints bursts are counted from, and the flags raised.

Identities and answers never share a document or a key: an invitation keeps `sha256("invitation:"
+ token)`, a response is stored under `sha256("response:" + token)`; neither leads to the other
without the token, which is stored nowhere (only the respondent's e-mail carries it).

Nor does time or order lead from one to the other (docs/decisions/0013): each response's document
is made empty at dispatch, in random order, and the answers are written into it in place, with no
time and no commit; the fingerprints that carry an answer's time are forgotten once the burst
window has passed; flags about responses carry no time."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from chassis.audit import AuditEntry
from chassis.logging import get_logger
from chassis.store import AlreadyExists, StaleVersion, Store
from moha_contracts import Event

from .domain.surveys import RespondentList

SURVEYS = "surveys"
LISTS = "respondent_lists"
INVITATIONS = "survey_invitations"
TOKENS = "survey_tokens"
DRAFTS = "survey_drafts"
RESPONSES = "survey_responses"
FINGERPRINTS = "survey_fingerprints"
FLAGS = "survey_flags"
UNANSWERED = "unanswered"  # a response's document, made at dispatch, before its answers come
log = get_logger("forms.surveys")
_LIST_FIELDS = [f for f in RespondentList.__dataclass_fields__ if f not in ("id", "version", "events")]


class SurveyStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_indexes(self) -> None:
        await self.store[INVITATIONS].create_index([("survey_id", 1), ("owner_unit_id", 1)])
        await self.store[FINGERPRINTS].create_index([("survey_id", 1), ("source", 1), ("at", 1)])

    # surveys ------------------------------------------------------------------------------
    async def add_survey(self, doc: dict[str, Any]) -> bool:
        try:
            await self.store[SURVEYS].insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def survey(self, survey_id: str) -> dict[str, Any] | None:
        return await self.store[SURVEYS].find_one({"_id": survey_id})

    async def surveys(self) -> list[dict[str, Any]]:
        """Every survey (a few a year)."""
        return [s async for s in self.store[SURVEYS].find({})]

    # respondent lists ---------------------------------------------------------------------
    async def list_of(self, survey_id: str, owner_unit_id: str) -> RespondentList | None:
        doc = await self.store.find(LISTS, f"{survey_id}:{owner_unit_id}")
        if doc is None:
            return None
        return RespondentList(id=doc["_id"], version=doc["version"], **{k: doc[k] for k in _LIST_FIELDS})

    async def save_list(self, lst: RespondentList) -> None:
        data = asdict(lst)
        lst.version = await self.store.save(LISTS, lst.id, lst.version, {k: data[k] for k in _LIST_FIELDS}, lst.events)
        lst.events.clear()

    async def submitted_lists(self, survey_id: str) -> list[RespondentList]:
        found = []
        async for doc in self.store[LISTS].find({"survey_id": survey_id, "status": "submitted"}):
            found.append(RespondentList(id=doc["_id"], version=doc["version"], **{k: doc[k] for k in _LIST_FIELDS}))
        return found

    # invitations --------------------------------------------------------------------------
    async def invitation(self, invitation_id: str) -> dict[str, Any] | None:
        return await self.store.find(INVITATIONS, invitation_id)

    async def add_invitation(self, doc: dict[str, Any], token_hash: str, event: Event) -> bool:
        """The token's entry first, then the invitation with its event in one write. A crash in
        between leaves a token leading nowhere; the next dispatch makes a new one."""
        await self.store[TOKENS].insert_one({"_id": token_hash, "invitation_id": doc["_id"]})
        try:
            await self.store.insert(INVITATIONS, {**doc, "version": 1}, [event])
        except AlreadyExists:
            await self.store[TOKENS].delete_one({"_id": token_hash})
            return False
        return True

    async def invitation_by_token(self, token_hash: str) -> dict[str, Any] | None:
        entry = await self.store[TOKENS].find_one({"_id": token_hash})
        return None if entry is None else await self.invitation(entry["invitation_id"])

    async def update_invitation(
        self, invitation_id: str, change: dict[str, Any], events: list[Event] = (), unless_status: tuple[str, ...] = ()
    ) -> bool:
        """Change the invitation at its current version, retried if another change won meanwhile;
        False if its status is one of `unless_status` (done already)."""
        for _ in range(8):
            doc = await self.invitation(invitation_id)
            if doc is None or doc["status"] in unless_status:
                return False
            try:
                await self.store.update(INVITATIONS, invitation_id, doc["version"], change, events)
                return True
            except StaleVersion:
                continue
        raise StaleVersion(invitation_id)

    async def invitations(self, survey_id: str, owner_unit_id: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"survey_id": survey_id}
        if owner_unit_id:
            query["owner_unit_id"] = owner_unit_id
        return [d async for d in self.store[INVITATIONS].find(query)]

    # drafts and responses -----------------------------------------------------------------
    async def draft(self, token_hash: str) -> dict[str, Any]:
        doc = await self.store[DRAFTS].find_one({"_id": token_hash})
        return {a["field"]: a["value"] for a in doc["answers"]} if doc else {}

    async def save_draft(self, token_hash: str, answers: dict[str, Any]) -> None:
        pairs = [{"field": k, "value": v} for k, v in answers.items()]
        await self.store[DRAFTS].update_one({"_id": token_hash}, {"$set": {"answers": pairs}}, upsert=True)

    async def drop_draft(self, token_hash: str) -> None:
        await self.store[DRAFTS].delete_one({"_id": token_hash})

    async def add_response_slots(self, docs: list[dict[str, Any]]) -> None:
        """The responses' documents, empty, made at dispatch in the order given (a random one): where
        an answer sits among the others then says nothing of when it came. Plain inserts, no commit:
        the commit log would keep their order and time."""
        for start in range(0, len(docs), 1000):
            batch = [
                {**doc, "status": UNANSWERED, "answers": [], "void_reason": None, "version": 1}
                for doc in docs[start : start + 1000]
            ]
            try:
                await self.store[RESPONSES].insert_many(batch, ordered=False)
            except BulkWriteError as exc:  # a document made already is the same one: fine
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    async def answer_response(self, doc: dict[str, Any]) -> bool:
        """Write the answers into the response's document, in place and only once: False if the
        token already answered (the response id is the token's). No time is written, and no commit:
        nothing here can be set beside the invitation's change of the same moment."""
        fields = {k: v for k, v in doc.items() if k != "_id"}
        done = await self.store[RESPONSES].update_one({"_id": doc["_id"], "status": UNANSWERED}, {"$set": fields})
        if done.matched_count:
            return True
        if await self.store[RESPONSES].find_one({"_id": doc["_id"]}) is not None:
            return False
        # Invited before responses were made at dispatch: kept as then, still without a commit.
        try:
            await self.store[RESPONSES].insert_one({**doc, "version": 1})
        except DuplicateKeyError:
            return False
        return True

    async def response(self, response_id: str) -> dict[str, Any] | None:
        doc = await self.store.find(RESPONSES, response_id)
        return None if doc is None or doc["status"] == UNANSWERED else doc

    async def void_response(
        self, doc: dict[str, Any], change: dict[str, Any], event: Event, audit: AuditEntry | None = None
    ) -> None:
        await self.store.update(RESPONSES, doc["_id"], doc["version"], change, [event], audit=audit)

    async def responses(self, survey_id: str) -> list[dict[str, Any]]:
        """The answered responses, by id: an order that says nothing of who answered when."""
        found = [d async for d in self.store[RESPONSES].find({"survey_id": survey_id})]
        return sorted((d for d in found if d["status"] != UNANSWERED), key=lambda d: d["_id"])

    # tamper evidence ----------------------------------------------------------------------
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

    async def recent_from(self, survey_id: str, source: str, window: timedelta) -> list[str]:
        since = datetime.now(UTC) - window
        cursor = self.store[FINGERPRINTS].find({"survey_id": survey_id, "source": source, "at": {"$gte": since}})
        return sorted([d["response_id"] async for d in cursor])

    async def forget_fingerprints(self, window: timedelta) -> int:
        """Drop the fingerprints older than the burst window: past it they count for nothing, and
        their time, beside a response id, would date that answer."""
        done = await self.store[FINGERPRINTS].delete_many({"at": {"$lt": datetime.now(UTC) - window}})
        return done.deleted_count

    async def keep_forgetting_fingerprints(self, window: timedelta) -> None:
        """The background job: also after a survey's last answer, whose fingerprints no later answer
        would sweep away."""
        while True:
            try:
                await self.forget_fingerprints(window)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store away: the next round does it
                log.warning("survey fingerprints not forgotten", error=str(exc))
            await asyncio.sleep(max(window.total_seconds() / 4, 1.0))

    async def flag(self, flag_id: str, doc: dict[str, Any], *, timed: bool = True) -> None:
        """One flag per id: the same pattern seen again updates what it lists. A flag about
        responses is not `timed`: a time beside a response id would date the answer."""
        stamp = {"at": datetime.now(UTC)} if timed else {}
        await self.store[FLAGS].update_one({"_id": flag_id}, {"$set": {**doc, **stamp}}, upsert=True)

    async def flagged(self, flag_id: str) -> dict[str, Any] | None:
        return await self.store[FLAGS].find_one({"_id": flag_id})

    async def flags(self, survey_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.store[FLAGS].find({"survey_id": survey_id})]
