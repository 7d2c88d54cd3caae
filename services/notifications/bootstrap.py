"""Wires notifications: settings, store, mailer, use cases, API, handlers and the scheduler."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.runtime import Runtime
from chassis.sealing import Sealer

from . import handlers
from .api import router
from .mailer import Mailer
from .notices_api import router as notices_router
from .scheduler import Scheduler
from .settings import NotificationsSettings
from .store import NotificationStore, NotificationsUnitOfWork
from .usecases import Calendar, Notifications


def build(settings: NotificationsSettings | None = None) -> tuple[FastAPI, NotificationsSettings]:
    settings = settings or NotificationsSettings()
    runtime = Runtime(settings)
    store = NotificationStore(runtime.store)
    sealer = Sealer(private_key=settings.survey_open_key)

    def make_uow() -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(runtime.store)

    mailer = Mailer(store, settings, sealer, make_uow)
    svc = Notifications(runtime.store, store, runtime.units, settings, sealer, mailer, Calendar())
    handlers.subscribe(runtime, svc)
    runtime.startup.append(store.create_indexes)
    runtime.background += [mailer.run, Scheduler(svc).run]
    app = runtime.app("MOHA notifications", router, notices_router)
    app.state.notifications = svc  # the routes' one dependency
    return app, settings
