"""The progress view of an area: the units that report under it (from the tree), joined with their
progress (from the read model) and their deadline. Membership comes from the tree at read time,
so a unit moved to another district counts there at once."""

from __future__ import annotations

from datetime import date
from typing import Any

from chassis.tree import UnitDirectory
from moha_contracts import CampaignOpened

from .domain.model import AREA_LEVELS
from .domain.progress import NOT_STARTED, REPORTING_LEVELS, UnitProgress, UnitRow, summarize, timeliness
from .store import ProgressStore, deadline_of


async def area_progress(
    units: UnitDirectory,
    progress: ProgressStore,
    campaign: CampaignOpened,
    area_id: str,
    today: date,
    with_units: bool = True,
    subtree: bool = True,
) -> dict[str, Any]:
    """`subtree=False`: the area's own unit alone (a reporting unit sees only itself, never the
    units under it)."""
    area = await units.get(area_id)
    if area is None:
        return {}
    members = [area, *([doc async for doc in units.units.find({"path": area_id})] if subtree else [])]
    levels = {doc["_id"]: doc["level"] for doc in members}
    for ancestor_id in area["path"]:
        ancestor = await units.get(ancestor_id)
        levels[ancestor_id] = ancestor["level"] if ancestor else "unknown"
    scope = set(campaign.scope_unit_ids)
    reporters = [
        u
        for u in members
        if u["level"] in REPORTING_LEVELS
        and u.get("status", "active") == "active"
        and scope.intersection([*u["path"], u["_id"]])
    ]
    states = await progress.of_units(campaign.campaign_id, [u["_id"] for u in reporters])
    rows: list[tuple[list[str], UnitRow]] = []
    for unit in reporters:
        state = states.get(unit["_id"]) or UnitProgress(campaign.campaign_id, unit["_id"])
        tier = "district" if any(levels.get(a) == "district" for a in unit["path"]) else "province"
        rows.append(
            (
                [*unit["path"], unit["_id"]],
                UnitRow(
                    unit_id=unit["_id"],
                    code=unit.get("code", ""),
                    name=unit.get("name", ""),
                    state=state.state if state.state else NOT_STARTED,
                    revision=state.revision,
                    first_submitted_at=state.first_submitted_at,
                    timeliness=timeliness(deadline_of(campaign, tier), state.first_submitted_at, today),
                ),
            )
        )
    rows.sort(key=lambda r: r[1].code)
    all_rows = [row for _, row in rows]
    sub_areas = [u for u in members if u.get("parent_id") == area_id and u["level"] in AREA_LEVELS]
    result = {
        "campaign_id": campaign.campaign_id,
        "as_of": today.isoformat(),
        "area": {"unit_id": area_id, "code": area.get("code"), "name": area.get("name"), "level": area["level"]},
        "summary": summarize(all_rows),
        "areas": [
            {
                "unit_id": sub["_id"],
                "code": sub.get("code"),
                "name": sub.get("name"),
                "level": sub["level"],
                "summary": _without_late(summarize([row for lineage, row in rows if sub["_id"] in lineage])),
            }
            for sub in sorted(sub_areas, key=lambda u: u.get("code", ""))
        ],
    }
    if with_units:
        result["units"] = [row.view() for row in all_rows]
    return result


def _without_late(summary: dict[str, Any]) -> dict[str, Any]:
    # The area's own summary lists every late unit; each sub-area only counts them.
    return {k: v for k, v in summary.items() if k not in ("late_units", "labels")}
