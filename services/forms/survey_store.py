"""Forms' survey data: surveys, respondent lists, invitations and their tokens, drafts, responses
(apart from identities), the fingerprints bursts are counted from, and the flags raised.

Identities and answers never share a document or a key: an invitation keeps `sha256("invitation:"
+ token)`, a response is stored under `sha256("response:" + token)`; neither leads to the other
without the token, which is stored nowhere (only the respondent's e-mail carries it)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from chassis.store import AlreadyExists, StaleVersion, Store
from pymongo.errors import DuplicateKeyError

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

    async def update_invitation(self, invitation_id: str, change: dict[str, Any], events: list[Event] = (),
                                unless_status: tuple[str, ...] = ()) -> bool:
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

    async def add_response(self, doc: dict[str, Any]) -> bool:
        """False if the token already answered: the response id is the token's."""
        try:
            await self.store.insert(RESPONSES, {**doc, "version": 1})
        except AlreadyExists:
            return False
        return True

    async def response(self, response_id: str) -> dict[str, Any] | None:
        return await self.store.find(RESPONSES, response_id)

    async def void_response(self, doc: dict[str, Any], change: dict[str, Any], event: Event) -> None:
        await self.store.update(RESPONSES, doc["_id"], doc["version"], change, [event])

    async def responses(self, survey_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.store[RESPONSES].find({"survey_id": survey_id})]

    # tamper evidence ----------------------------------------------------------------------
    async def add_fingerprint(self, survey_id: str, response_id: str, source: str, at: datetime) -> None:
        try:
            await self.store[FINGERPRINTS].insert_one({"_id": f"{response_id}:{source}", "survey_id": survey_id,
                                                       "response_id": response_id, "source": source, "at": at})
        except DuplicateKeyError:
            pass

    async def recent_from(self, survey_id: str, source: str, window: timedelta) -> list[str]:
        since = datetime.now(UTC) - window
        cursor = self.store[FINGERPRINTS].find({"survey_id": survey_id, "source": source, "at": {"$gte": since}})
        return [d["response_id"] async for d in cursor]

    async def flag(self, flag_id: str, doc: dict[str, Any]) -> None:
        """One flag per id: the same pattern seen again updates what it lists."""
        await self.store[FLAGS].update_one({"_id": flag_id}, {"$set": {**doc, "at": datetime.now(UTC)}},
                                           upsert=True)

    async def flags(self, survey_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.store[FLAGS].find({"survey_id": survey_id})]
