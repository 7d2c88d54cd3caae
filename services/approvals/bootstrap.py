"""Wires approvals: settings, store, use cases, API and handlers."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.runtime import Runtime

from . import handlers
from .api import router
from .settings import ApprovalsSettings
from .store import CampaignDirectory, ProgressStore, create_indexes
from .usecases import Approvals


def build(settings: ApprovalsSettings | None = None) -> tuple[FastAPI, ApprovalsSettings]:
    settings = settings or ApprovalsSettings()
    runtime = Runtime(settings)
    store = runtime.store
    approvals = Approvals(store, runtime.units, CampaignDirectory(store), ProgressStore(store))
    handlers.subscribe(runtime, approvals)
    runtime.startup.append(lambda: create_indexes(store))
    app = runtime.app("MOHA approvals", router)
    app.state.approvals = approvals  # the routes' one dependency (api.Service)
    return app, settings
