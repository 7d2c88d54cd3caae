"""Wires forms: settings, store, API and handlers."""

from __future__ import annotations

from chassis.runtime import Runtime
from fastapi import FastAPI

from . import handlers
from .api import router
from .exports import Export
from .settings import FormsSettings
from .store import CampaignStore, DefinitionStore, SubmissionStore


def build(settings: FormsSettings | None = None) -> tuple[FastAPI, FormsSettings]:
    settings = settings or FormsSettings()
    runtime = Runtime(settings)
    submissions = SubmissionStore(runtime.store)
    handlers.subscribe(runtime, submissions)
    definitions = DefinitionStore(runtime.store)
    runtime.startup.append(submissions.create_indexes)
    runtime.startup.append(definitions.publish_bundled)
    app = runtime.app("MOHA forms", router)
    app.state.submissions = submissions
    app.state.definitions = definitions
    app.state.campaigns = CampaignStore(runtime.store)
    app.state.export = Export(submissions, definitions, runtime.units)
    app.state.units = runtime.units
    return app, settings
