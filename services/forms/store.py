"""Forms' own database: submissions (with their outbox)."""

from __future__ import annotations

from typing import Any

from chassis.store import AlreadyExists, StaleVersion, Store

from .domain.model import Submission

SUBMISSIONS = "submissions"


class SubmissionStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_indexes(self) -> None:
        await self.store[SUBMISSIONS].create_index("unit_id")
        await self.store[SUBMISSIONS].create_index("campaign_id")

    async def get(self, submission_id: str) -> Submission | None:
        doc = await self.store.find(SUBMISSIONS, submission_id)
        return None if doc is None else _from_doc(doc)

    async def save(self, sub: Submission) -> None:
        """Insert a new submission or update it at its expected version, with its events, in one write."""
        fields = _to_fields(sub)
        if sub.version == 0:
            try:
                await self.store.insert(SUBMISSIONS, {"_id": sub.id, **fields, "version": 1}, sub.events)
            except AlreadyExists as exc:
                raise StaleVersion(sub.id) from exc
            sub.version = 1
        else:
            sub.version = await self.store.update(SUBMISSIONS, sub.id, sub.version, fields, sub.events)
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
    }


def _from_doc(doc: dict[str, Any]) -> Submission:
    return Submission(
        id=doc["_id"], campaign_id=doc["campaign_id"], form_code=doc["form_code"], unit_id=doc["unit_id"],
        status=doc["status"], revision=doc["revision"], answers={a["field"]: a["value"] for a in doc["answers"]},
        return_reason=doc.get("return_reason"), history=doc.get("history", []), version=doc["version"],
    )
