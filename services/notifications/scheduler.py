"""The reminder scheduler, inside the service: every few minutes (after the morning hour) the day's
reminder pass, and the notices whose sender's process died while sending them sent on. Both are
use cases (usecases.reminder_pass, usecases.resume_broadcasts); this is only their clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from chassis.clock import VIETNAM
from chassis.logging import get_logger

from . import usecases
from .usecases import Notifications

log = get_logger("notifications.scheduler")


class Scheduler:
    def __init__(self, svc: Notifications) -> None:
        self.svc = svc

    async def run(self) -> None:
        settings = self.svc.settings
        while True:
            now = datetime.now(VIETNAM)
            if now.hour >= settings.reminder_hour:
                await self._guarded("reminders", usecases.reminder_pass(self.svc, now.date()))
            await self._guarded("notices", usecases.resume_broadcasts(self.svc))
            await asyncio.sleep(settings.reminder_interval_seconds)

    async def _guarded(self, part: str, work: Awaitable[Any]) -> None:
        """Each part on its own: one failing (the store away) does not stop the others; the next
        pass retries it."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("scheduler pass failed", part=part, error=str(exc))
