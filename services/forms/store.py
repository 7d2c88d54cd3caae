"""Forms' own database: submissions (with their outbox), campaigns and the published form
definitions, as repositories of a unit of work (`chassis.unit_of_work`), and the published
definitions' read side (`DefinitionStore`: cached, also read by the survey)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from chassis.store import Store
from chassis.text import STORED
from chassis.unit_of_work import Repository, UnitOfWork

from .domain.campaigns import Campaign, OpenedCampaign
from .domain.definitions import FormDefinition, PublishedDefinition
from .domain.model import Submission

SUBMISSIONS = "submissions"
CAMPAIGNS = "campaigns"
DEFINITIONS = "definitions"
LATEST = "definitions_latest"
# How long a replica keeps a form's latest version before reading the pointer again: a version
# published on another replica reaches this one's new submissions within it (decision 0018, part 4).
LATEST_TTL_SECONDS = 2.0
BUNDLED = Path(__file__).resolve().parent / "definitions"


async def create_indexes(store: Store) -> None:
    await store[SUBMISSIONS].create_index("unit_id")
    await store[SUBMISSIONS].create_index("campaign_id")
    await store["units"].create_index("code")  # the tree as a code list (A1.6)


class Submissions(Repository[Submission]):
    collection = SUBMISSIONS

    # Answer keys such as "A2.2.2" may not be document keys on FerretDB: store them as pairs.
    def to_document(self, sub: Submission) -> dict[str, Any]:
        return {
            "campaign_id": sub.campaign_id,
            "form_code": sub.form_code,
            "unit_id": sub.unit_id,
            "status": sub.status,
            "revision": sub.revision,
            "answers": [{"field": k, "value": v} for k, v in sub.answers.items()],
            "return_reason": sub.return_reason,
            "history": [dict(h) for h in sub.history],
            "definition_version": sub.definition_version,
            "coding": [dict(c) for c in sub.coding],
        }

    def from_document(self, doc: dict[str, Any]) -> Submission:
        return Submission(
            id=doc["_id"],
            campaign_id=doc["campaign_id"],
            form_code=doc["form_code"],
            unit_id=doc["unit_id"],
            status=doc["status"],
            revision=doc["revision"],
            answers={a["field"]: a["value"] for a in doc["answers"]},
            return_reason=doc.get("return_reason"),
            history=doc.get("history", []),
            version=doc["version"],
            definition_version=doc.get("definition_version", 0),
            coding=doc.get("coding", []),
        )

    async def of_units(self, campaign_id: str, unit_ids: list[str], status: str | None = None) -> list[Submission]:
        """The campaign's submissions of these units (an area's), in one query per thousand units."""
        found = []
        for start in range(0, len(unit_ids), 1000):
            query: dict[str, Any] = {"campaign_id": campaign_id, "unit_id": {"$in": unit_ids[start : start + 1000]}}
            if status:
                query["status"] = status
            found += [self.seen(self.from_document(d)) async for d in self.store[SUBMISSIONS].find(query)]
        return found

    async def of_campaign(self, campaign_id: str) -> AsyncIterator[Submission]:
        """Every submission of a campaign as it is read (an export of a whole country): not tracked,
        for reading only."""
        async for doc in self.store[SUBMISSIONS].find({"campaign_id": campaign_id}):
            yield self.from_document(doc)


class Campaigns(Repository[OpenedCampaign]):
    collection = CAMPAIGNS

    def to_document(self, c: OpenedCampaign) -> dict[str, Any]:
        return {"document": c.campaign.model_dump_json()}

    def from_document(self, doc: dict[str, Any]) -> OpenedCampaign:
        campaign = Campaign.model_validate_json(doc["document"], context=STORED)
        return OpenedCampaign(campaign, version=doc.get("version", 1))

    async def all(self) -> list[Campaign]:
        """Every campaign (a few a year), for reading: callers filter by scope and window."""
        return [self.from_document(d).campaign async for d in self.store[CAMPAIGNS].find({})]


class Definitions(Repository[PublishedDefinition]):
    """Published versions: one document each, made once, never changed."""

    collection = DEFINITIONS

    def to_document(self, d: PublishedDefinition) -> dict[str, Any]:
        # `form_version`: the document's own `version` is the store's commit counter.
        return {"form_code": d.definition.form_code, "form_version": d.definition.version, "document": d.document}

    def from_document(self, doc: dict[str, Any]) -> PublishedDefinition:
        definition = FormDefinition.model_validate_json(doc["document"])
        return PublishedDefinition(definition, document=doc["document"], version=doc.get("version", 1))


class OpenedCampaigns:
    """The opened campaigns for reading (a submission's checks), each kept once read: a campaign
    never changes once opened (`OpenedCampaign` has no change but `open`), so what one replica read
    is what every replica would read, for ever. Unknown ids are not kept: one may be opened next.
    (Should a campaign ever change after opening, this must be refreshed by that change's event.)"""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, Campaign] = {}

    async def get(self, campaign_id: str) -> Campaign | None:
        found = self._cache.get(campaign_id)
        if found is None:
            doc = await self.store.find(CAMPAIGNS, campaign_id)
            if doc is None:
                return None
            found = self._cache[campaign_id] = Campaign.model_validate_json(doc["document"], context=STORED)
        return found


class FormsUnitOfWork(UnitOfWork):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.submissions = Submissions(self)
        self.campaigns = Campaigns(self)
        self.definitions = Definitions(self)


class DefinitionStore:
    """The published definitions for reading (each version cached: it never changes), and the
    pointer to each form's latest version, advanced once a version is published."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], FormDefinition] = {}
        # form code -> (latest version, when read): `latest` reads the pointer once a TTL, not per call.
        self._latest: dict[str, tuple[int, float]] = {}
        self._clock = clock

    async def publish_bundled(self) -> None:
        """The definitions shipped with the service (definitions/*.json), published at first start."""
        from .usecases import publish_bundled  # the use case publishes; this is what startup calls

        await publish_bundled(self)

    async def advance_latest(self, form_code: str, version: int) -> None:
        await self.store[LATEST].update_one({"_id": form_code}, {"$max": {"version": version}}, upsert=True)
        self._latest.pop(form_code, None)  # this replica sees its own publication at once

    async def latest_version(self, form_code: str) -> int:
        """The pointer as stored now (a publisher numbers the next version from it)."""
        doc = await self.store[LATEST].find_one({"_id": form_code})
        return doc["version"] if doc else 0

    async def _recent_latest_version(self, form_code: str) -> int:
        """The pointer as read at most `LATEST_TTL_SECONDS` ago. It only grows ($max) and every
        version it names stays published, so a value read a moment ago is a version a submission
        racing with the publication of the next could as well have started under; none read yet
        (0) is not kept."""
        now = self._clock()
        cached = self._latest.get(form_code)
        if cached is not None and now - cached[1] < LATEST_TTL_SECONDS:
            return cached[0]
        version = await self.latest_version(form_code)
        if version:
            self._latest[form_code] = (version, now)
        return version

    async def get(self, form_code: str, version: int) -> FormDefinition | None:
        if (form_code, version) in self._cache:
            return self._cache[(form_code, version)]
        doc = await self.store[DEFINITIONS].find_one({"_id": f"{form_code}:v{version}"})
        if doc is None:
            return None
        definition = self._cache[(form_code, version)] = FormDefinition.model_validate_json(doc["document"])
        return definition

    async def latest(self, form_code: str) -> FormDefinition | None:
        version = await self._recent_latest_version(form_code)
        return await self.get(form_code, version) if version else None

    async def versions(self, form_code: str | None = None) -> list[tuple[str, int]]:
        """Every published (form code, version), or one form's, in order."""
        query = {"form_code": form_code} if form_code else {}
        # Older documents kept the form's version in `version` (see Definitions.to_document).
        found = [
            (d["form_code"], d.get("form_version", d["version"]))
            async for d in self.store[DEFINITIONS].find(query, {"document": 0})
        ]
        return sorted(found)
