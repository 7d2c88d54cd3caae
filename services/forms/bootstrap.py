"""Wires forms: settings, store, API and handlers."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from chassis.runtime import Runtime
from chassis.sealing import Sealer

from . import handlers
from .api import router
from .exports import Export
from .ministry_api import router as ministry_router
from .settings import FormsSettings
from .store import CampaignStore, DefinitionStore, SubmissionStore
from .survey_api import router as survey_router
from .survey_store import SurveyStore


def build(settings: FormsSettings | None = None) -> tuple[FastAPI, FormsSettings]:
    settings = settings or FormsSettings()
    runtime = Runtime(settings)
    submissions = SubmissionStore(runtime.store)
    handlers.subscribe(runtime, submissions)
    definitions = DefinitionStore(runtime.store)
    runtime.startup.append(submissions.create_indexes)
    runtime.startup.append(definitions.publish_bundled)
    surveys = SurveyStore(runtime.store)
    runtime.startup.append(surveys.create_indexes)
    burst_window = timedelta(seconds=settings.survey_burst_window_seconds)
    runtime.background.append(lambda: surveys.keep_forgetting_fingerprints(burst_window))
    app = runtime.app("MOHA forms", router, survey_router, ministry_router)
    app.state.submissions = submissions
    app.state.definitions = definitions
    app.state.campaigns = CampaignStore(runtime.store)
    app.state.export = Export(submissions, definitions, runtime.units)
    app.state.units = runtime.units
    app.state.surveys = surveys
    app.state.sealer = Sealer(public_key=settings.survey_seal_key)
    app.state.survey_link_base = settings.survey_link_base
    app.state.settings = settings
    return app, settings
