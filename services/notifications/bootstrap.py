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
from .store import NotificationStore, NotificationsUnitOfWork
from .usecases import Notifications


def build(settings: NotificationsSettings | None = None) -> tuple[FastAPI, NotificationsSettings]:
    settings = settings or NotificationsSettings()
    runtime = Runtime(settings)
    store = NotificationStore(runtime.store)
    sealer = Sealer(private_key=settings.survey_open_key)

    def make_uow() -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(runtime.store)

    mailer = Mailer(store, settings, sealer, make_uow)
    notifier = Notifier(store, mailer, runtime.units, sealer, make_uow)
    scheduler = Scheduler(store, runtime.units, notifier, settings)
    handlers.subscribe(runtime, store, notifier)
    runtime.startup.append(store.create_indexes)
    runtime.background += [mailer.run, scheduler.run]
    app = runtime.app("MOHA notifications", router, notices_router)
    # The routes' one dependency.
    app.state.notifications = Notifications(runtime.store, store, runtime.units, settings, notifier, scheduler)
    return app, settings
