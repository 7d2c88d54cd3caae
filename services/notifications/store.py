"""Notifications' own database: recipients (read model of accounts), notices, e-mail deliveries."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chassis import readmodel
from chassis.messaging import Retry
from chassis.store import Store
from chassis.unit_of_work import Repository, UnitOfWork

from .domain.model import Broadcast, Delivery

RECIPIENTS = "recipients"
UNIT_RECIPIENTS = "unit_recipients"
NOTICES = "notices"
DELIVERIES = "deliveries"
# The e-mails still to send, by delivery id: as small as the backlog, so the mailer never scans the
# whole delivery history (FerretDB pushes only `_id` equality down to SQLite).
MAIL_QUEUE = "mail_queue"
CAMPAIGNS = "campaigns"
SUBMITTED = "submitted"
REMINDERS = "reminders"
BAD_ADDRESSES = "bad_addresses"
BROADCASTS = "broadcasts"
SURVEY_INVITES = "survey_invites"
# What readers never need: the orders of a read model's parts.
HIDDEN = {readmodel.ORDERS: 0}
_DELIVERY_FIELDS = [f for f in Delivery.__dataclass_fields__ if f not in ("id", "version", "events")]


class NotificationStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_indexes(self) -> None:
        await self.store[NOTICES].create_index([("account_id", 1), ("created_at", -1)])
        await self.store[NOTICES].create_index("cause_id")  # who was told of a notice, and who read it
        await self.store[BROADCASTS].create_index([("sender_id", 1), ("at", -1)])

    # recipients ---------------------------------------------------------------------------
    # Accounts as notifications knows them: what AccountIssued says, then the role and the status
    # that later events change, each part set only by a newer event (chassis/readmodel.py).
    async def upsert_recipient(
        self, order: readmodel.Order, account_id: str, unit_id: str, *, role: str, **fields: Any
    ) -> None:
        await readmodel.apply_parts(
            self.store[RECIPIENTS],
            account_id,
            order,
            {"account": {"unit_id": unit_id, **fields}, "role": {"role": role}},
        )
        # Each unit's accounts are listed in one document, so telling a unit is two _id lookups, not a
        # scan of every account; a set that only grows, so two accounts of one unit lose nothing.
        await readmodel.add_to_set(self.store[UNIT_RECIPIENTS], unit_id, "accounts", account_id)

    async def recipient(self, account_id: str) -> dict[str, Any] | None:
        return await self.store[RECIPIENTS].find_one({"_id": account_id}, HIDDEN)

    async def update_recipient(self, order: readmodel.Order, account_id: str, part: str, **fields: Any) -> None:
        # An account is known from its AccountIssued on (its unit, its address): one seen since, and
        # never forgotten, so looking first and writing after loses nothing.
        if await self.store[RECIPIENTS].find_one({"_id": account_id}, {"_id": 1}) is None:
            raise Retry(f"account {account_id} not known yet")  # its AccountIssued is still on the way
        await readmodel.apply(self.store[RECIPIENTS], account_id, part, order, fields, upsert=False)

    async def recipients_of_unit(self, unit_id: str, *roles: str) -> list[dict[str, Any]]:
        """The unit's active accounts with one of `roles` (any role if none given)."""
        doc = await self.store[UNIT_RECIPIENTS].find_one({"_id": unit_id})
        if doc is None:
            return []
        found = await asyncio.gather(*(self.store[RECIPIENTS].find_one({"_id": a}, HIDDEN) for a in doc["accounts"]))
        return [
            r for r in found if r is not None and (not roles or r["role"] in roles) and r.get("status") != "revoked"
        ]

    # what reminders need: campaigns, who submitted, what was sent ------------------------
    async def add_campaign(self, doc: dict[str, Any]) -> None:
        await readmodel.insert_fact(self.store[CAMPAIGNS], doc)  # a campaign never changes once opened

    async def campaigns(self) -> list[dict[str, Any]]:
        return [c async for c in self.store[CAMPAIGNS].find({})]

    async def mark_submitted(self, campaign_id: str, unit_id: str) -> None:
        await readmodel.insert_fact(
            self.store[SUBMITTED], {"_id": f"{campaign_id}:{unit_id}", "campaign_id": campaign_id, "unit_id": unit_id}
        )

    async def submitted_units(self, campaign_id: str) -> set[str]:
        return {d["unit_id"] async for d in self.store[SUBMITTED].find({"campaign_id": campaign_id})}

    async def reminder_sent(self, reminder_id: str) -> bool:
        return await self.store[REMINDERS].find_one({"_id": reminder_id}) is not None

    async def mark_reminder_sent(self, reminder_id: str, recipients: int) -> None:
        try:
            await self.store[REMINDERS].insert_one(
                {"_id": reminder_id, "recipients": recipients, "at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            pass  # another replica finished the same reminder: its e-mails had the same ids

    # survey invitations (sealed: address, name, link), for the invitation and its reminders ---
    async def add_survey_invite(self, doc: dict[str, Any]) -> None:
        await readmodel.insert_fact(self.store[SURVEY_INVITES], {**doc, "answered": False})

    async def survey_answered(self, invitation_id: str, received_at: datetime) -> None:
        if await self.store[SURVEY_INVITES].find_one({"_id": invitation_id}, {"_id": 1}) is None:
            raise Retry(f"invitation {invitation_id} not known yet")
        # For good: the first answer stops the reminders (chassis/readmodel.py).
        await readmodel.apply(
            self.store[SURVEY_INVITES], invitation_id, "=answered_at", received_at, {"answered": True}, upsert=False
        )

    async def open_survey_invites(self, survey_id: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"answered": False}
        if survey_id:
            query["survey_id"] = survey_id
        return [d async for d in self.store[SURVEY_INVITES].find(query)]

    # addresses the mail server refused for good -------------------------------------------
    async def mark_bad_address(self, address: str, error: str, days: int = 30) -> None:
        # For a while, not for ever: a mailbox may be created after all, or the refusal was a mistake.
        now = datetime.now(UTC)
        await self.store[BAD_ADDRESSES].update_one(
            {"_id": address.lower()},
            {"$set": {"error": error, "at": now, "until": now + timedelta(days=days)}},
            upsert=True,
        )

    async def bad_address(self, address: str) -> dict[str, Any] | None:
        found = await self.store[BAD_ADDRESSES].find_one({"_id": address.lower()})
        return found if found is not None and found["until"] > datetime.now(UTC) else None

    # notices an administrator sends to its subtree ----------------------------------------
    async def broadcast(self, broadcast_id: str) -> dict[str, Any] | None:
        return await self.store[BROADCASTS].find_one({"_id": broadcast_id})

    # notices (in-app inbox) ---------------------------------------------------------------
    async def add_notice(
        self, notice_id: str, account_id: str, title: str, body: str, kind: str, cause_id: str | None = None
    ) -> None:
        try:  # never versioned: the insert alone is enough
            await self.store[NOTICES].insert_one(
                {
                    "_id": notice_id,
                    "account_id": account_id,
                    "title": title,
                    "body": body,
                    "kind": kind,
                    "read": False,
                    "created_at": datetime.now(UTC),
                    "cause_id": cause_id,
                }
            )
        except DuplicateKeyError:
            pass

    async def inbox(self, account_id: str, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        coll = self.store[NOTICES]
        items = [n async for n in coll.find({"account_id": account_id}).sort("created_at", DESCENDING).limit(limit)]
        unread = await coll.count_documents({"account_id": account_id, "read": False})
        return items, unread

    async def unread(self, account_id: str) -> int:
        return await self.store[NOTICES].count_documents({"account_id": account_id, "read": False})

    async def mark_read(self, notice_id: str, account_id: str) -> bool:
        notices = self.store[NOTICES]
        notice = await notices.find_one({"_id": notice_id})  # by _id alone: FerretDB pushes only that down
        if notice is None or notice["account_id"] != account_id:
            return False
        if not notice["read"]:  # the first reading is the one its sender wants to know of
            await notices.update_one(
                {"_id": notice_id, "read": False}, {"$set": {"read": True, "read_at": datetime.now(UTC)}}
            )
        return True

    # what a sender sees of its notices: to whom each was delivered, and who read it ------
    async def broadcasts_sent(self, sender_id: str | None, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The notices an administrator sent (every one, for None), newest first."""
        query = {"sender_id": sender_id} if sender_id else {}
        found = [b async for b in self.store[BROADCASTS].find(query).sort("at", DESCENDING).skip(skip).limit(limit)]
        return found, await self.store[BROADCASTS].count_documents(query)

    async def broadcast_reads(self, broadcast_id: str) -> int:
        return await self.store[NOTICES].count_documents({"cause_id": broadcast_id, "read": True})

    async def broadcast_notices(
        self, broadcast_id: str, read: bool | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query: dict[str, Any] = {"cause_id": broadcast_id}
        if read is not None:
            query["read"] = read
        found = [n async for n in self.store[NOTICES].find(query, {"body": 0}).sort("_id", 1).skip(skip).limit(limit)]
        return found, await self.store[NOTICES].count_documents(query)

    async def deliveries_of(self, delivery_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            d["_id"]: d
            async for d in self.store[DELIVERIES].find(
                {"_id": {"$in": delivery_ids}}, {"status": 1, "attempts": 1, "last_error": 1}
            )
        }

    async def recipients_by_id(self, account_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {r["_id"]: r async for r in self.store[RECIPIENTS].find({"_id": {"$in": account_ids}}, HIDDEN)}

    # deliveries ---------------------------------------------------------------------------
    async def mail_queue_depth(self) -> int:
        """E-mails waiting to be sent (or tried again)."""
        return await self.store[MAIL_QUEUE].count_documents({})


def _fields(delivery: Delivery) -> dict[str, Any]:
    data = asdict(delivery)
    return {k: data[k] for k in _DELIVERY_FIELDS}


class Deliveries(Repository[Delivery]):
    """The mail outbox: one e-mail to one account, with the queue of those still to send beside it
    (an index by due time, not versioned: the delivery decides, the queue only points at it)."""

    collection = DELIVERIES

    def to_document(self, aggregate: Delivery) -> dict[str, Any]:
        return _fields(aggregate)

    def from_document(self, doc: dict[str, Any]) -> Delivery:
        return Delivery(id=doc["_id"], version=doc["version"], **{k: doc[k] for k in _DELIVERY_FIELDS if k in doc})

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        return [e async for e in self.store[MAIL_QUEUE].find({"due_at": {"$lte": now}}).limit(limit)]

    async def enqueue(self, delivery_id: str, due_at: datetime) -> None:
        try:
            await self.store[MAIL_QUEUE].insert_one({"_id": delivery_id, "due_at": due_at})
        except DuplicateKeyError:
            pass  # told again: it is queued already

    async def reschedule(self, delivery_id: str, due_at: datetime) -> None:
        await self.store[MAIL_QUEUE].update_one({"_id": delivery_id}, {"$set": {"due_at": due_at}})

    async def unqueue(self, delivery_id: str) -> None:
        await self.store[MAIL_QUEUE].delete_one({"_id": delivery_id})


_BROADCAST_FIELDS = [f for f in Broadcast.__dataclass_fields__ if f not in ("id", "version", "events")]


class Broadcasts(Repository[Broadcast]):
    """Notices administrators send (readers that page through them read the collection directly)."""

    collection = BROADCASTS

    def to_document(self, aggregate: Broadcast) -> dict[str, Any]:
        data = asdict(aggregate)
        return {k: data[k] for k in _BROADCAST_FIELDS}

    def from_document(self, doc: dict[str, Any]) -> Broadcast:
        return Broadcast(id=doc["_id"], version=doc["version"], **{k: doc[k] for k in _BROADCAST_FIELDS if k in doc})

    async def unfinished(self) -> list[Broadcast]:
        """Notices still being sent (or whose sender's process died while sending them)."""
        return [self.seen(self.from_document(d)) async for d in self.store[BROADCASTS].find({"status": "sending"})]


class NotificationsUnitOfWork(UnitOfWork):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.deliveries = Deliveries(self)
        self.broadcasts = Broadcasts(self)
        # What is not versioned, written and read through its own methods: recipients and what the
        # reminders read (read models, chassis/readmodel.py), inbox notices, reminder marks.
        self.documents = NotificationStore(store)
