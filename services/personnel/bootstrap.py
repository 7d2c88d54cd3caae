"""Wires personnel: settings, the personal data keys, store, use cases, API and handlers."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.personal_data import FieldCipher
from chassis.runtime import Runtime

from . import handlers
from .api import router
from .settings import PersonnelSettings
from .store import DefinitionStore, PersonnelUnitOfWork, RecordStore
from .usecases import Records


def build(settings: PersonnelSettings | None = None) -> tuple[FastAPI, PersonnelSettings]:
    settings = settings or PersonnelSettings()
    # Read at build time: without its keys the service stops before it serves anything.
    cipher = FieldCipher.from_settings(settings.encryption_keys(), settings.personal_data_index_key)
    runtime = Runtime(settings)
    definitions = DefinitionStore(runtime.store)
    store = RecordStore(runtime.store, definitions, runtime.units, cipher)

    def make_uow() -> PersonnelUnitOfWork:
        return PersonnelUnitOfWork(runtime.store, store)

    records = Records(store, definitions, runtime.units, make_uow)
    handlers.subscribe(runtime, store, records)
    runtime.startup += [store.create_indexes, definitions.publish_bundled, records.resume]
    app = runtime.app("MOHA personnel", router)
    app.state.records_store = store
    app.state.records = records
    app.state.definitions = definitions
    app.state.units = runtime.units
    return app, settings
