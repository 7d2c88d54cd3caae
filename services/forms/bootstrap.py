"""Wires forms: settings, store, use cases, API and handlers."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from chassis.runtime import Runtime
from chassis.sealing import Sealer

from . import handlers
from .api import router
from .ministry_api import router as ministry_router
from .settings import FormsSettings
from .store import DefinitionStore, create_indexes
from .survey import store as survey_store
from .survey.api import router as survey_router
from .survey.store import SurveyUnitOfWork
from .survey.usecases import SurveyWiring
from .usecases import Forms


def build(settings: FormsSettings | None = None) -> tuple[FastAPI, FormsSettings]:
    settings = settings or FormsSettings()
    runtime = Runtime(settings)
    definitions = DefinitionStore(runtime.store)
    forms = Forms(runtime.store, runtime.units, definitions)
    handlers.subscribe(runtime, forms)
    runtime.startup.append(lambda: create_indexes(runtime.store))
    runtime.startup.append(definitions.publish_bundled)
    survey = SurveyWiring(
        uow=lambda: SurveyUnitOfWork(runtime.store),
        tree=runtime.units,
        questionnaires=definitions,
        sealer=Sealer(public_key=settings.survey_seal_key),
        link_base=settings.survey_link_base,
        id_secret=settings.survey_id_secret,
        fingerprint_salt=settings.survey_fingerprint_salt,
        burst_threshold=settings.survey_burst_threshold,
        burst_window=timedelta(seconds=settings.survey_burst_window_seconds),
    )
    runtime.startup.append(lambda: survey_store.create_indexes(runtime.store))
    runtime.background.append(
        lambda: survey_store.keep_forgetting_fingerprints(runtime.store, survey.burst_window, survey.now)
    )
    app = runtime.app("MOHA forms", router, survey_router, ministry_router)
    app.state.forms = forms  # forms' own routes take this one object
    app.state.survey = survey  # the survey's routes take this one object
    app.state.settings = settings
    return app, settings
