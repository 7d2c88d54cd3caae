"""Forms' own database: submissions (with their outbox) and the published form definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chassis.audit import AuditEntry
from chassis.errors import Conflict
from chassis.store import AlreadyExists, Store
from chassis.text import STORED
from moha_contracts import CampaignOpened

from .domain.campaigns import Campaign
from .domain.definitions import FormDefinition
from .domain.model import Submission

SUBMISSIONS = "submissions"
CAMPAIGNS = "campaigns"
DEFINITIONS = "definitions"
LATEST = "definitions_latest"
BUNDLED = Path(__file__).resolve().parent / "definitions"


class SubmissionStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_indexes(self) -> None:
        await self.store[SUBMISSIONS].create_index("unit_id")
        await self.store[SUBMISSIONS].create_index("campaign_id")
        await self.store["units"].create_index("code")  # the tree as a code list (A1.6)

    async def get(self, submission_id: str) -> Submission | None:
        doc = await self.store.find(SUBMISSIONS, submission_id)
        return None if doc is None else _from_doc(doc)

    async def of_units(self, campaign_id: str, unit_ids: list[str], status: str | None = None) -> list[Submission]:
        """The campaign's submissions of these units (an area's), in one query per thousand units."""
        found = []
        for start in range(0, len(unit_ids), 1000):
            query: dict[str, Any] = {"campaign_id": campaign_id, "unit_id": {"$in": unit_ids[start : start + 1000]}}
            if status:
                query["status"] = status
            found += [_from_doc(d) async for d in self.store[SUBMISSIONS].find(query)]
        return found

    async def save(self, sub: Submission, audit: AuditEntry | None = None) -> None:
        """Insert a new submission or update it at its expected version, with its events (and the
        audit entry of a supervisor's act on it), in one write."""
        sub.version = await self.store.save(SUBMISSIONS, sub.id, sub.version, _to_fields(sub), sub.events, audit=audit)
        sub.events.clear()


# Answer keys such as "A2.2.2" may not be document keys on FerretDB: store them as pairs.
def _to_fields(sub: Submission) -> dict[str, Any]:
    return {
        "campaign_id": sub.campaign_id,
        "form_code": sub.form_code,
        "unit_id": sub.unit_id,
        "status": sub.status,
        "revision": sub.revision,
        "answers": [{"field": k, "value": v} for k, v in sub.answers.items()],
        "return_reason": sub.return_reason,
        "history": sub.history,
        "definition_version": sub.definition_version,
        "coding": sub.coding,
    }


def _from_doc(doc: dict[str, Any]) -> Submission:
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


class DefinitionStore:
    """Published form definitions, one document per version, never changed once published."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], FormDefinition] = {}

    async def publish_bundled(self) -> None:
        """The definitions shipped with the service (definitions/*.json), published at first start."""
        for path in sorted(BUNDLED.glob("*.json")):
            definition = FormDefinition.model_validate_json(path.read_text(encoding="utf-8"))
            if await self.get(definition.form_code, definition.version) is None:
                try:
                    await self.publish(
                        definition,
                        AuditEntry(
                            "definition_published",
                            target_id=f"{definition.form_code}:v{definition.version}",
                            unit_lineage=["root"],
                            details={"form_code": definition.form_code, "version": definition.version, "bundled": True},
                        ),
                    )
                except Conflict:
                    pass  # another replica published it first

    async def publish(self, definition: FormDefinition, audit: AuditEntry | None = None) -> None:
        latest = await self.latest_version(definition.form_code)
        if definition.version != latest + 1:
            raise Conflict(f"Phiên bản mới của mẫu phiếu phải là {latest + 1}", code="version_sequence")
        try:
            # The version-1 commit decides: of two publishers of the same version, one wins. It
            # carries the publication's audit entry. (`version` of the document is the commit's.)
            await self.store.insert(
                DEFINITIONS,
                {
                    "_id": f"{definition.form_code}:v{definition.version}",
                    "form_code": definition.form_code,
                    "form_version": definition.version,
                    "document": definition.model_dump_json(),
                },
                audit=audit,
            )
        except AlreadyExists as exc:
            raise Conflict("Phiên bản này đã được ban hành", code="version_sequence") from exc
        await self.store[LATEST].update_one(
            {"_id": definition.form_code}, {"$max": {"version": definition.version}}, upsert=True
        )

    async def latest_version(self, form_code: str) -> int:
        doc = await self.store[LATEST].find_one({"_id": form_code})
        return doc["version"] if doc else 0

    async def get(self, form_code: str, version: int) -> FormDefinition | None:
        if (form_code, version) in self._cache:
            return self._cache[(form_code, version)]
        doc = await self.store[DEFINITIONS].find_one({"_id": f"{form_code}:v{version}"})
        if doc is None:
            return None
        definition = self._cache[(form_code, version)] = FormDefinition.model_validate_json(doc["document"])
        return definition

    async def latest(self, form_code: str) -> FormDefinition | None:
        version = await self.latest_version(form_code)
        return await self.get(form_code, version) if version else None

    async def versions(self, form_code: str | None = None) -> list[tuple[str, int]]:
        """Every published (form code, version), or one form's, in order."""
        query = {"form_code": form_code} if form_code else {}
        # `form_version` since definitions are published through the store's commit (whose own
        # `version` is the document's); older documents kept the form's version in `version`.
        found = [
            (d["form_code"], d.get("form_version", d["version"]))
            async for d in self.store[DEFINITIONS].find(query, {"document": 0})
        ]
        return sorted(found)


class CampaignStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def open(self, campaign: Campaign, audit: AuditEntry | None = None) -> None:
        event = CampaignOpened(
            campaign_id=campaign.campaign_id,
            form_code=campaign.form_code,
            title=campaign.title,
            scope_unit_ids=campaign.scope_unit_ids,
            opens_on=campaign.opens_on,
            closes_on=campaign.closes_on,
            province_deadline=campaign.deadline_for("province"),
            district_deadline=campaign.deadline_for("district"),
            review_levels=campaign.review_levels,
        )
        try:
            await self.store.insert(
                CAMPAIGNS, {"_id": campaign.campaign_id, "document": campaign.model_dump_json()}, [event], audit=audit
            )
        except AlreadyExists as exc:
            raise Conflict(f"Đợt thu thập '{campaign.campaign_id}' đã có", code="duplicate") from exc

    async def get(self, campaign_id: str) -> Campaign | None:
        doc = await self.store.find(CAMPAIGNS, campaign_id)
        return None if doc is None else Campaign.model_validate_json(doc["document"], context=STORED)

    async def all(self) -> list[Campaign]:
        """Every campaign (a few a year): callers filter by scope and window."""
        return [
            Campaign.model_validate_json(d["document"], context=STORED) async for d in self.store[CAMPAIGNS].find({})
        ]
