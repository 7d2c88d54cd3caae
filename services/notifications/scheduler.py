"""The reminder scheduler, inside the service: every few minutes (after the morning hour), each
open campaign's units that have not submitted get the reminder due today, and once a deadline has
passed each area's supervisors get the list of their late units.

Several replicas run it at once. A reminder is checked as sent before it is made; two replicas
passing that check together make the same notices and e-mails, whose ids come from the reminder
and the account, so each person still gets one. The sent mark comes last: a replica that dies half
way leaves the reminder to the next pass, which completes it."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable
from datetime import date, datetime, timedelta
from typing import Any

from chassis.clock import VIETNAM
from chassis.logging import get_logger
from chassis.sealing import SealError
from chassis.tree import UnitDirectory
from chassis.workdays import effective_deadline

from .domain.model import LINK_MARK
from .domain.reminders import OVERDUE, Unit, area_of, due_reminder, reminder_id
from .notifier import Notifier
from .settings import NotificationsSettings
from .store import NotificationStore

log = get_logger("notifications.scheduler")
REPORTING_LEVELS = ("commune", "agency")
SUPERVISORS = ("district_supervisor", "province_supervisor")


class Scheduler:
    def __init__(
        self, store: NotificationStore, units: UnitDirectory, notifier: Notifier, settings: NotificationsSettings
    ) -> None:
        self.store = store
        self.units = units
        self.notifier = notifier
        self.settings = settings

    async def run(self) -> None:
        while True:
            now = datetime.now(VIETNAM)
            if now.hour >= self.settings.reminder_hour:
                await self._guarded("reminders", self.run_pass(now.date()))
            await self._guarded("notices", self.resume_broadcasts())
            await asyncio.sleep(self.settings.reminder_interval_seconds)

    async def _guarded(self, part: str, work: Awaitable[Any]) -> None:
        """Each part on its own: one failing (the store away) does not stop the others; the next
        pass retries it."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("scheduler pass failed", part=part, error=str(exc))

    async def resume_broadcasts(self) -> None:
        stale = datetime.now(VIETNAM) - timedelta(seconds=60)
        for broadcast in await self.store.unfinished_broadcasts():
            if broadcast["at"] < stale:  # its sender's process died while sending it
                await self.notifier.send_broadcast(broadcast)

    async def run_pass(self, today: date, campaign_id: str | None = None) -> dict[str, int]:
        """`campaign_id`: a campaign's or a survey's reminders only."""
        sent = {
            "unit_reminders": 0,
            "overdue_lists": 0,
            "survey_reminders": await self._survey_reminders(today, campaign_id),
        }
        days_before = tuple(self.settings.reminder_days_before)
        for campaign in await self.store.campaigns():
            if campaign_id is not None and campaign["campaign_id"] != campaign_id:
                continue
            opens, closes = date.fromisoformat(campaign["opens_on"]), date.fromisoformat(campaign["closes_on"])
            if not opens <= today <= closes + timedelta(days=self.settings.overdue_window_days):
                continue
            submitted = await self.store.submitted_units(campaign["campaign_id"])
            late: dict[tuple[str, date], list[Unit]] = defaultdict(list)
            for unit in await self._reporting_units(campaign["scope_unit_ids"]):
                if unit.unit_id in submitted:
                    continue
                # As approvals counts it: a deadline on a day off ends with the next working day.
                deadline = effective_deadline(date.fromisoformat(campaign[f"{unit.tier}_deadline"]))
                kind = due_reminder(deadline, today, days_before)
                if kind == OVERDUE:
                    late[(unit.area_id, deadline)].append(unit)
                elif kind is not None and today >= opens:
                    sent["unit_reminders"] += await self._remind(
                        reminder_id(campaign["campaign_id"], unit.unit_id, kind, deadline),
                        unit.unit_id,
                        "reminder_before",
                        ("reporting_unit",),
                        when=_when((deadline - today).days),
                        deadline=f"{deadline:%d/%m/%Y}",
                        campaign_title=campaign["title"],
                    )
            for (area_id, deadline), units in sorted(late.items()):
                names = "\n".join(f"- {u.name}" for u in sorted(units, key=lambda u: u.name))
                sent["overdue_lists"] += await self._remind(
                    reminder_id(campaign["campaign_id"], area_id, OVERDUE, deadline),
                    area_id,
                    "reminder_overdue",
                    SUPERVISORS,
                    deadline=f"{deadline:%d/%m/%Y}",
                    campaign_title=campaign["title"],
                    count=len(units),
                    units=names,
                )
        self.notifier.mailer.wake()
        if any(sent.values()):
            log.info("reminders sent", as_of=today.isoformat(), **sent)
        return sent

    async def _survey_reminders(self, today: date, survey_id: str | None) -> int:
        """Respondents who have not answered, before the answer deadline (never after: the link is
        closed then)."""
        sent = 0
        days_before = tuple(self.settings.reminder_days_before)
        for invite in await self.store.open_survey_invites(survey_id):
            deadline = date.fromisoformat(invite["answer_deadline"])  # the link closes that day: no shift
            kind = due_reminder(deadline, today, days_before)
            if kind is None or kind == OVERDUE:
                continue
            rid = reminder_id(invite["survey_id"], invite["_id"], kind, deadline)
            if await self.store.reminder_sent(rid):
                continue
            try:
                person = self.notifier.sealer.open(invite["sealed"])
            except SealError as exc:  # sealed under another key: this one cannot be reminded, the rest can
                log.warning("survey invitation cannot be opened", invitation_id=invite["_id"], error=str(exc))
                continue
            await self.notifier.tell(
                rid,
                {"_id": invite["_id"], "display_name": person["full_name"], "email": person["email"]},
                "survey_reminder",
                in_app=False,
                sealed=invite["sealed"],
                survey_title=invite["survey_title"],
                link=LINK_MARK,
                deadline=f"{deadline:%d/%m/%Y}",
                when=_when((deadline - today).days),
            )
            await self.store.mark_reminder_sent(rid, 1)
            sent += 1
        return sent

    async def _remind(self, rid: str, unit_id: str, template: str, roles: tuple[str, ...], **values: Any) -> int:
        if await self.store.reminder_sent(rid):
            return 0
        told = await self.notifier.tell_unit(rid, unit_id, template, roles, **values)
        await self.store.mark_reminder_sent(rid, told)
        return 1

    async def _reporting_units(self, scope_unit_ids: list[str]) -> list[Unit]:
        found: dict[str, dict[str, Any]] = {}
        levels: dict[str, str] = {}
        for scope_id in scope_unit_ids:
            root = await self.units.get(scope_id)
            if root is None:
                continue
            for ancestor_id in root["path"]:
                if (ancestor := await self.units.get(ancestor_id)) is not None:
                    levels[ancestor_id] = ancestor["level"]
            found[scope_id] = root
            async for doc in self.units.units.find({"path": scope_id}):
                found[doc["_id"]] = doc
        levels.update({unit_id: doc["level"] for unit_id, doc in found.items()})
        units = []
        for doc in found.values():
            if doc["level"] in REPORTING_LEVELS and doc.get("status", "active") == "active":
                tier, area_id = area_of(doc["path"], levels)
                units.append(Unit(doc["_id"], doc.get("name", ""), doc["path"], tier, area_id))
        return units


def _when(days_left: int) -> str:
    return f"còn {days_left} ngày" if days_left else "hôm nay là hạn cuối"
