"""Wires notifications: settings, store, mailer, API and handlers."""

from __future__ import annotations

from chassis.runtime import Runtime
from fastapi import FastAPI

from . import handlers
from .api import router
from .mailer import Mailer
from .settings import NotificationsSettings
from .store import NotificationStore


def build(settings: NotificationsSettings | None = None) -> tuple[FastAPI, NotificationsSettings]:
    settings = settings or NotificationsSettings()
    runtime = Runtime(settings)
    store = NotificationStore(runtime.store)
    mailer = Mailer(store, settings)
    handlers.subscribe(runtime, store, mailer)
    runtime.startup.append(store.create_indexes)
    runtime.background.append(mailer.run)
    app = runtime.app("MOHA notifications", router)
    app.state.notifications = store
    return app, settings
