"""Wires accounts: its settings, store, token issuer, API and handlers. Nothing else builds infrastructure."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chassis.auth import TokenVerifier
from chassis.http import error_body
from chassis.logging import get_logger
from chassis.runtime import Runtime

from . import handlers, usecases
from .admin_api import router as admin_router
from .api import router
from .imports import Importer
from .passwords import HashQueueFull, PasswordHashing
from .settings import AccountsSettings
from .store import AccountsStore, AccountsUnitOfWork
from .throttling import SignInThrottle
from .tokens import AccountSessions, TokenIssuer, load_signing_keys

log = get_logger("accounts.bootstrap")


def build(settings: AccountsSettings | None = None) -> tuple[FastAPI, AccountsSettings]:
    settings = settings or AccountsSettings()
    runtime = Runtime(settings, verify_tokens=False)
    store = runtime.store
    accounts = AccountsStore(store, runtime.audit)
    handlers.subscribe(runtime)
    app = runtime.app("MOHA accounts", router, admin_router)
    app.state.sessions = AccountSessions(lambda: AccountsUnitOfWork(store))
    hashing = PasswordHashing(
        settings.hash_workers or os.cpu_count() or 1, settings.hash_queue_limit, settings.hash_queue_per_address
    )

    @app.exception_handler(HashQueueFull)
    async def busy(_request: Request, exc: HashQueueFull) -> JSONResponse:
        return JSONResponse(
            error_body("busy", f"Hệ thống đang bận; vui lòng thử lại sau {exc.retry_after} giây"),
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    # Read at build time: a missing key stops the process before it serves anything.
    tokens = TokenIssuer(
        load_signing_keys(settings.signing_keys_pem()),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl_seconds=settings.token_ttl_seconds,
    )
    app.state.verifier = TokenVerifier(
        None, issuer=settings.token_issuer, audience=settings.token_audience, keys=tokens.public_keys
    )
    # The one object routes get (api.Service): everything the use cases need, built here once.
    service = app.state.service = usecases.AccountsService(
        store=store,
        accounts=accounts,
        hashing=hashing,
        throttle=SignInThrottle(accounts),
        tokens=tokens,
        # A sheet's passwords wait behind every sign-in (passwords.py).
        importer=Importer(accounts, hashing.hash_bulk, lambda: AccountsUnitOfWork(store)),
    )

    async def start() -> None:
        await accounts.create_indexes()
        await accounts.adopt_legacy_audit()  # entries written before the chain, chained once
        await usecases.ensure_root_admin(
            service,
            username=settings.bootstrap_admin_username,
            password=settings.bootstrap_admin_password,
            wait_rounds=int(2 * (settings.relay_grace_seconds + 30)),
        )
        await service.importer.resume()

    runtime.startup.append(start)
    return app, settings
