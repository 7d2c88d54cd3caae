"""Wires notifications: settings, store, mailer, API and handlers."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.runtime import Runtime
from chassis.sealing import Sealer

from . import handlers
from .api import router
from .mailer import Mailer
from .notices_api import router as notices_router
from .notifier import Notifier
from .scheduler import Scheduler
from .settings import NotificationsSettings
from .store import NotificationStore


def build(settings: NotificationsSettings | None = None) -> tuple[FastAPI, NotificationsSettings]:
    settings = settings or NotificationsSettings()
    runtime = Runtime(settings)
    store = NotificationStore(runtime.store)
    sealer = Sealer(private_key=settings.survey_open_key)
    mailer = Mailer(store, settings, sealer)
    notifier = Notifier(store, mailer, runtime.units, sealer)
    scheduler = Scheduler(store, runtime.units, notifier, settings)
    handlers.subscribe(runtime, store, notifier)
    runtime.startup.append(store.create_indexes)
    runtime.background += [mailer.run, scheduler.run]
    app = runtime.app("MOHA notifications", router, notices_router)
    app.state.notifications = store
    app.state.notifier = notifier
    app.state.scheduler = scheduler
    app.state.units = runtime.units
    app.state.sending = set()
    app.state.settings = settings
    return app, settings
