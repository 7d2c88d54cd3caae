"""Wires approvals: settings, store, API and handlers."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.runtime import Runtime

from . import handlers
from .api import router
from .settings import ApprovalsSettings
from .store import CampaignDirectory, MoveReviewStore, ProgressStore, TaskStore


def build(settings: ApprovalsSettings | None = None) -> tuple[FastAPI, ApprovalsSettings]:
    settings = settings or ApprovalsSettings()
    runtime = Runtime(settings)
    tasks = TaskStore(runtime.store)
    campaigns = CampaignDirectory(runtime.store)
    progress = ProgressStore(runtime.store)
    moves = MoveReviewStore(runtime.store)
    handlers.subscribe(runtime, tasks, campaigns, progress, moves)
    runtime.startup += [tasks.create_indexes, moves.create_indexes]
    app = runtime.app("MOHA approvals", router)
    app.state.tasks = tasks
    app.state.campaigns = campaigns
    app.state.progress = progress
    app.state.moves = moves
    app.state.units = runtime.units
    return app, settings
